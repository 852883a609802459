"""Security drills: attack checks grouped by OWASP API Security Top 10 (2023) area.

Each check (``checks_*.py``, one module per area) has an id, a title, the OWASP item or
domain rule it covers, what it sends, an exact pass criterion, and the ``--vulnerable``
weakness of a mock that it must catch. :func:`run_suite` runs them against an
allowlisted :class:`SecurityTarget` and returns the scorecard the journal stores.

Public API::

    from drills.security import SecurityTarget, SecurityLimits, select_checks, run_suite
    scorecard = run_suite(target, select_checks(["auth.lockout"]))
"""

from drills.security.registry import SecurityCheck, all_checks, owasp_coverage, select_checks
from drills.security.runner import console_line, run_check, run_suite
from drills.security.spec import OWASP_API_TOP10, Area, CheckSpec, IncidentPhase, Outcome, PlantedWeakness
from drills.security.target import SecurityLimits, SecurityTarget, target_from_file

__all__ = [
    "Area",
    "CheckSpec",
    "IncidentPhase",
    "OWASP_API_TOP10",
    "Outcome",
    "PlantedWeakness",
    "SecurityCheck",
    "SecurityLimits",
    "SecurityTarget",
    "all_checks",
    "owasp_coverage",
    "console_line",
    "run_check",
    "run_suite",
    "select_checks",
    "target_from_file",
]
