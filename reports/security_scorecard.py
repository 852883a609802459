"""The security section of ``journal.json``: one verdict and its evidence per security check.

Written by :mod:`drills.security` into :attr:`reports.journal.Journal.security`; read by
the HTML report and the readiness matrix.
"""

from __future__ import annotations

from pydantic import Field

from reports._record import Record as _Record
from reports._record import Verdict

__all__ = ["EvidenceExcerpt", "SecurityCheckResult", "SecurityScorecard"]


class EvidenceExcerpt(_Record):
    """A request/response pair that shows a verdict, with secrets already redacted."""

    request: str
    response: str
    note: str | None = None


class SecurityCheckResult(_Record):
    """One security check: verdict plus the evidence a security team can act on."""

    id: str
    title: str
    owasp: str  # e.g. "API2:2023 Broken Authentication" or a domain rule
    verdict: Verdict
    summary: str = ""  # one-line evidence for the console and the scorecard
    evidence: list[EvidenceExcerpt] = Field(default_factory=list)
    detected_after_s: float | None = None  # when the target started refusing/alerting
    phase: str | None = None  # incident-handling phase (Circular 20/2017), when simulated


class SecurityScorecard(_Record):
    """All security checks of a run."""

    checks: list[SecurityCheckResult] = Field(default_factory=list)
