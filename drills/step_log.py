"""The drill's own journal entries: steps and fault events recorded before the run's
journal exists (the load writes it only when it ends), re-based onto it at the end.
"""

from __future__ import annotations

import datetime as dt

from kernel.provenance import build_provenance
from reports.journal import EventKind, Journal, JournalEvent

__all__ = ["StepLog"]




class StepLog:
    """Journal steps recorded before the run's journal exists; re-based onto it at the end."""

    def __init__(self, started_at: dt.datetime):
        self.scratch = Journal(provenance=build_provenance(run_id="scratch", profile="scratch", seed=0,
                                                           target_kind="embedded", started_at=started_at))

    @property
    def events(self) -> list[JournalEvent]:
        """Everything recorded so far."""
        return self.scratch.events

    def step(self, name: str, **detail: str | int | float | bool | None):  # noqa: ANN201 - Journal.step's context manager
        """A drill step (start, end in finally, status, output, error)."""
        return self.scratch.step(name, kind="drill_step", **detail)

    def event(self, kind: EventKind, name: str, t: dt.datetime | None = None, status: str | None = None,
              **detail: str | int | float | bool | None) -> JournalEvent:
        """A point event (fault_start, fault_stop, note)."""
        return self.scratch.add_event(kind, name, status=status, t=t, **detail)

    def into(self, journal: Journal) -> None:
        """Append every event to ``journal`` with offsets from its start."""
        start = journal.provenance.started_at
        for event in self.events:
            journal.events.append(event.model_copy(update={"offset_s": round((event.t - start).total_seconds(), 6)}))
        journal.events.sort(key=lambda e: e.t)
