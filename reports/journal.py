"""The records of ``journal.json`` — what happened in a run, as the single source of truth.

Scenarios and drills *write* these records; reports, the gate and the CLI *read* them.
Every record is a pydantic model, so a file written by one part is validated by the
next. JSON → model → JSON round-trips exactly (``model_dump_json`` of a loaded file
equals the dump of the model that wrote it).

Journal (``JOURNAL_VERSION`` = 1)::

    Journal
     ├── version: 1
     ├── provenance: Provenance     dientap version, run_id, profile, seed, scale, target
     │                              (kind + service names and base URLs, never secrets),
     │                              hosts, workers, started_at, ended_at, command line
     ├── events: [JournalEvent]     t (ISO time), offset_s from start, kind
     │                              (phase | fault_start | fault_stop | abort | drill_step |
     │                              security_check | note | generator_lag), name, status,
     │                              detail {str: str|int|float|bool|None};
     │                              drill_step also: end_t, output, error
     │                              (helpers: Journal.add_event, Journal.step)
     ├── timeseries: Timeseries     bucket_s + one LatencySeries per (service, endpoint):
     │                              samples [LatencySample: offset_s, count, failures,
     │                              p50/p95/p99 ms, intended p95/p99 ms]
     ├── drill: DrillResult | None  hypothesis checks, faults, reconciliation rows,
     │                              recovery_time_s, verdict (:mod:`reports.drill_result`)
     └── security: SecurityScorecard | None   checks {id, title, owasp, verdict, evidence,
                                    detected_after_s} (:mod:`reports.security_scorecard`)

The journal holds *aggregates* (per-bucket percentiles), never one row per request, so
a run of millions of requests still renders in seconds.

The other records of a run directory live beside this module: the whole-run figures of
``summary.json`` in :mod:`reports.summary`; reading and writing the files (atomically)
in :mod:`reports.run_files`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import Field

from kernel.provenance import Provenance, TargetInfo, TargetKind, TargetService
from reports._record import MAX_OFFSET_S, Count, DetailValue, Millis, Offset, Verdict
from reports._record import Record as _Record
from reports.drill_result import DrillResult
from reports.security_scorecard import SecurityScorecard

__all__ = [
    "JOURNAL_VERSION",
    "DetailValue",
    "EventKind",
    "Verdict",
    "TargetKind",
    "TargetService",
    "TargetInfo",
    "Provenance",
    "JournalEvent",
    "LatencySample",
    "LatencySeries",
    "Timeseries",
    "Journal",
]

JOURNAL_VERSION: Final = 1

EventKind = Literal[
    "phase", "fault_start", "fault_stop", "abort", "drill_step", "security_check", "note", "generator_lag",
    "interrupted",
]


# --------------------------------------------------------------------------- provenance


# TargetService, TargetInfo and Provenance are declared in kernel.provenance (built once,
# by build_provenance) and are part of this record's format.


# --------------------------------------------------------------------------- timeline


class JournalEvent(_Record):
    """One point (or step) on the run's timeline.

    ``t`` is the wall-clock start, ``offset_s`` the seconds since ``provenance.started_at``.
    Drill steps (Chaos-Toolkit style) also carry ``end_t``, ``output`` and ``error``; the
    writer sets ``end_t`` in a ``finally:`` so a failed step still has an end.
    Conventional ``status`` values: ``started``, ``ok``, ``failed``, ``error``, ``skipped``.
    """

    t: datetime
    offset_s: Offset
    kind: EventKind
    name: str
    status: str | None = None
    detail: dict[str, DetailValue] = Field(default_factory=dict)
    end_t: datetime | None = None
    output: str | None = None
    error: str | None = None


class LatencySample(_Record):
    """Aggregates of one time bucket for one (service, endpoint).

    ``offset_s`` is the bucket start since the run start. Percentiles are ``None`` in
    a bucket without responses. ``intended_*`` measure from the intended start time
    (coordinated omission corrected); ``None`` when the generator did not record it.
    """

    offset_s: Offset
    count: Count
    failures: Count
    p50_ms: Millis | None = None
    p95_ms: Millis | None = None
    p99_ms: Millis | None = None
    intended_p95_ms: Millis | None = None
    intended_p99_ms: Millis | None = None


class LatencySeries(_Record):
    """The per-bucket samples of one endpoint, ordered by ``offset_s``."""

    service: str
    endpoint: str
    samples: list[LatencySample] = Field(default_factory=list)


class Timeseries(_Record):
    """All latency series of a run; every bucket is ``bucket_s`` seconds wide."""

    # From a millisecond (the recorder writes 1 s): the charts divide the run's length by it.
    bucket_s: float = Field(default=1.0, ge=0.001, le=MAX_OFFSET_S)
    series: list[LatencySeries] = Field(default_factory=list)


# --------------------------------------------------------------------------- journal


class Journal(_Record):
    """Everything that happened in a run, in aggregated form (see the module docstring)."""

    version: Literal[1] = JOURNAL_VERSION
    provenance: Provenance
    events: list[JournalEvent] = Field(default_factory=list)
    timeseries: Timeseries = Field(default_factory=Timeseries)
    drill: DrillResult | None = None
    security: SecurityScorecard | None = None

    def add_event(self, kind: EventKind, name: str, *, status: str | None = None, t: datetime | None = None,
                  **detail: DetailValue) -> JournalEvent:
        """Append an event at ``t`` (default: now, UTC); ``offset_s`` is computed from the start."""
        t = t or datetime.now(UTC)
        event = JournalEvent(t=t, offset_s=round((t - self.provenance.started_at).total_seconds(), 6), kind=kind,
                             name=name, status=status, detail=detail)
        self.events.append(event)
        return event

    @contextmanager
    def step(self, name: str, *, kind: EventKind = "drill_step", **detail: DetailValue) -> Iterator[JournalEvent]:
        """Record one step (Chaos Toolkit style): start now, end in ``finally:``, status and error.

        The body may set ``event.output`` (and ``event.status``, e.g. ``"failed"``); an
        exception sets ``status="error"`` and ``error`` and propagates::

            with journal.step("kill portal", signal="SIGKILL") as step:
                step.output = restart_portal()
        """
        event = self.add_event(kind, name, status="started", t=None, **detail)
        try:
            yield event
            if event.status == "started":
                event.status = "ok"
        except BaseException as exc:
            event.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            event.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            event.end_t = datetime.now(UTC)
