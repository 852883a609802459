"""What a security check is: its registry entry (:class:`CheckSpec`) and its result (:class:`Outcome`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from reports.security_scorecard import EvidenceExcerpt

__all__ = ["Area", "CheckSpec", "Outcome", "PlantedWeakness", "IncidentPhase", "OWASP_API_TOP10", "owasp_items"]

#: The OWASP API Security Top 10 (2023), by item number.
OWASP_API_TOP10 = {
    1: "Broken Object Level Authorization",
    2: "Broken Authentication",
    3: "Broken Object Property Level Authorization",
    4: "Unrestricted Resource Consumption",
    5: "Broken Function Level Authorization",
    6: "Unrestricted Access to Sensitive Business Flows",
    7: "Server Side Request Forgery",
    8: "Security Misconfiguration",
    9: "Improper Inventory Management",
    10: "Unsafe Consumption of APIs",
}
_OWASP_ITEM = re.compile(r"\bAPI(10|[1-9]):2023\b")


def owasp_items(owasp: str) -> set[int]:
    """The Top 10 item numbers a check's ``owasp`` text names (``"… / API8:2023"`` → ``{8}``)."""
    return {int(n) for n in _OWASP_ITEM.findall(owasp)}


class Area(StrEnum):
    """The OWASP-style area a check belongs to (one module of checks each)."""

    AUTH = "authentication and session"
    AUTHZ = "authorization"
    EXPOSURE = "data exposure"
    INPUT = "bad input and injection"
    ABUSE = "abuse and rate limits"
    INTEGRITY = "integrity of signed documents"
    SPOOFING = "spoofing"
    SSRF = "server-side request forgery"
    CONSUMPTION = "unsafe consumption of APIs"


class IncidentPhase(StrEnum):
    """Incident-handling phases of Circular 20/2017 (``../shared/DOMAIN.md``)."""

    TRIAGE = "receive and triage"
    CONTAIN = "contain"
    RECOVER = "eradicate and recover"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class PlantedWeakness:
    """A ``--vulnerable`` weakness of one mock service that this check must catch."""

    service: str  # portal | population | axis
    name: str  # one of mocks.core.settings.KNOWN_WEAKNESSES


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One registry entry: what is checked, what is sent, and exactly when it passes."""

    id: str
    title: str
    area: Area
    owasp: str  # OWASP API Security Top 10 (2023) item or domain rule
    sends: str
    passes_when: str
    weaknesses: tuple[PlantedWeakness, ...] = ()
    simulates_incident: bool = False  # record detection time and incident phase

    @property
    def weakness_names(self) -> str:
        """``service:name`` of each weakness this check can plant, or ``—``."""
        return ", ".join(f"{w.service}:{w.name}" for w in self.weaknesses) or "—"


@dataclass
class Outcome:
    """The verdict of one check run: failures found, evidence, detection time."""

    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: list[EvidenceExcerpt] = field(default_factory=list)
    detected_after_s: float | None = None
    phase: IncidentPhase | None = None

    @property
    def passed(self) -> bool:
        """True when no failure was recorded."""
        return not self.failures

    def fail(self, message: str, excerpt: EvidenceExcerpt | None = None) -> None:
        """Record one failed expectation (with its evidence)."""
        self.failures.append(message)
        if excerpt is not None and len(self.evidence) < 6:
            self.evidence.append(excerpt)

    def expect(self, ok: bool, message: str, excerpt: EvidenceExcerpt | None) -> bool:
        """Fail with ``message`` unless ``ok``; returns ``ok``."""
        if not ok:
            self.fail(message, excerpt)
        return ok

    def note(self, message: str, excerpt: EvidenceExcerpt | None = None) -> None:
        """Record what held (kept as evidence for a PASS, up to a few excerpts)."""
        self.notes.append(message)
        if excerpt is not None and len(self.evidence) < 3:
            self.evidence.append(excerpt)

    def summary(self) -> str:
        """One line: the first failure, else the notes."""
        if self.failures:
            more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            return self.failures[0] + more
        return "; ".join(self.notes)[:300] or "held"
