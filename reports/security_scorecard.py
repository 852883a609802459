"""The security section of ``journal.json``: one verdict and its evidence per security check.

Written by :mod:`drills.security` into :attr:`reports.journal.Journal.security`; read by
the HTML report and the readiness matrix.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from reports._record import Record as _Record
from reports._record import Verdict

__all__ = ["EvidenceExcerpt", "SecurityCheckResult", "SecurityScorecard", "TargetLimits"]


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


class TargetLimits(_Record):
    """The abuse limits the target stated about itself (``GET /admin/limits``) when the checks ran.

    ``None`` is unknown: the target does not expose it (``sources`` says why, per service).
    A rate or threshold of 0 is a limit that is off.
    """

    throttle_rate_per_s: float | None = None  # population, per client system
    throttle_burst: int | None = None
    lockout_threshold: int | None = None  # portal: failed sign-ins before an account locks
    lockout_s: int | None = None
    token_ttl_s: dict[str, int | None] = Field(default_factory=dict)  # per service
    sources: dict[str, str] = Field(default_factory=dict)  # per service: where they were read, or why unknown

    def describe(self) -> str:
        """One line for the console and the report."""
        throttle = _limit(self.throttle_rate_per_s,
                          lambda: f"{self.throttle_rate_per_s:g}/s per client, burst {self.throttle_burst}")
        lockout = _limit(self.lockout_threshold,
                         lambda: f"after {self.lockout_threshold} failed sign-ins, for {self.lockout_s} s")
        ttl = ", ".join(f"{name} {'unknown' if s is None else f'{s} s'}" for name, s in self.token_ttl_s.items())
        return f"population throttle {throttle}; portal lockout {lockout}; token lifetime {ttl or 'unknown'}"



def _limit(value: float | None, stated: Callable[[], str]) -> str:
    """A limit as the scorecard says it: ``unknown`` (not read), ``off`` (0), or as ``stated``."""
    return "unknown" if value is None else "off" if value == 0 else stated()


class SecurityScorecard(_Record):
    """All security checks of a run, and the limits the target stated when they ran."""

    checks: list[SecurityCheckResult] = Field(default_factory=list)
    target_limits: TargetLimits | None = None  # None: a scorecard written before targets stated them
