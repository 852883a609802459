"""The drill section of ``journal.json``: what a fault drill injected, what held, what was lost.

Written by :mod:`drills` into :attr:`reports.journal.Journal.drill`; read by the HTML
report, the readiness matrix and the verdict.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reports._record import Count, DetailValue, Offset, Verdict
from reports._record import Record as _Record

__all__ = ["HypothesisCheck", "FaultWindow", "ReconciliationRow", "DrillResult"]


class HypothesisCheck(_Record):
    """One steady-state probe evaluation (before, during or after the faults)."""

    phase: Literal["before", "during", "after"]
    probe: str  # e.g. "portal p95 < 800 ms"
    offset_s: Offset | None = None
    expected: str
    measured: str
    ok: bool


class FaultWindow(_Record):
    """A fault that was active on the load timeline (offsets since run start)."""

    name: str
    kind: str  # latency | error | reset | hang | outage | kill | pause | toxic name ...
    target: str  # service, route, province ...
    start_offset_s: Offset
    end_offset_s: Offset | None = None  # None: never removed (the report flags it)
    detail: dict[str, DetailValue] = Field(default_factory=dict)


class ReconciliationRow(_Record):
    """Ledger comparison of one item kind (Jepsen queue-checker vocabulary)."""

    item_kind: str  # dossiers | documents | receipts | payments ...
    ok: Count
    lost: Count
    duplicated: Count
    unexpected: Count
    recovered: Count
    # Every lost, duplicated and unexpected item named by its key, so each can be audited. The
    # lists are bounded (drills.reconcile.MAX_LISTED_IDS, first in key order); the counts above
    # are always exact, so a list shorter than its count was cut.
    lost_ids: list[str] = Field(default_factory=list)
    # One entry per duplicate: "ID2 (key K, also ID1)" or "ID (held 3×: copy 2)".
    duplicated_ids: list[str] = Field(default_factory=list)
    unexpected_ids: list[str] = Field(default_factory=list)  # held by the target, never acknowledged

    def named(self, limit: int) -> list[str]:
        """One line each for the lost, duplicated and unexpected items, at most ``limit`` items
        a line, saying "first N of M" when there are more (for the report and the console)."""
        out = []
        for label, count, ids in (("lost", self.lost, self.lost_ids), ("duplicated", self.duplicated, self.duplicated_ids),
                                  ("unexpected", self.unexpected, self.unexpected_ids)):
            shown = ids[:limit]
            if not shown:
                continue
            cut = len(shown) < count
            head = f"{label} {count:,}" + (f" (first {len(shown)} of {count:,})" if cut else "")
            out.append(f"{head}: {', '.join(shown)}" + (" …" if cut else ""))
        return out


class DrillResult(_Record):
    """Outcome of a fault drill: what was injected, what held, what was lost."""

    name: str
    title: str
    verdict: Verdict
    hypothesis: list[HypothesisCheck] = Field(default_factory=list)
    faults: list[FaultWindow] = Field(default_factory=list)
    reconciliation: list[ReconciliationRow] = Field(default_factory=list)
    recovery_time_s: float | None = None
    expectations: list[str] = Field(default_factory=list)  # one line per broken expectation
    error: str | None = None
