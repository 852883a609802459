"""The load's figures as metrics observe them: one object per Locust process that
implements :class:`kernel.load_observation.LoadObservation` over what the harness keeps
(the recorder, the shipped generator snapshots, the arrival scheduler, the abort monitor).

Locust-free, so the exporter's tests and benchmarks build the real thing without
monkey-patching their process; :class:`scenarios.harness.HarnessState` extends it with
the world the personas share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kernel.load_observation import ArrivalTotals
from scenarios.abort import AbortMonitor
from scenarios.arrivals import ArrivalScheduler
from scenarios.distributed import LatencyShipping
from scenarios.lag import GeneratorSnapshot, LagMonitor
from scenarios.latency import LatencyRecorder

__all__ = ["LoadFigures", "progress_line"]

log = logging.getLogger("dientap.harness")


def progress_line(elapsed_s: float, duration_s: float, users: int, rps: float, recorder: LatencyRecorder,
                  p95_ms: float) -> str:
    """The console's live progress line. Errors and throttling come from the recorder, not
    from Locust's statistics, which count a request the target throttled (423/429 with
    Retry-After) as a failure: errors are failures ÷ requests, and the share the target
    throttled is shown apart, only when there is any (the line is unchanged otherwise)."""
    requests = recorder.requests
    errors = 100 * recorder.failures / requests if requests else 0.0
    line = (f"[{elapsed_s:5.0f}/{duration_s:.0f}s] users {users:>6} | {rps:7.1f} req/s | errors {errors:5.1f}% | "
            f"p95 {p95_ms:6.0f} ms")
    if recorder.throttled:
        line += f" | throttled by target {100 * recorder.throttled / requests:5.1f}%"
    return line


class LoadFigures:
    """What metrics may read of one process's load (see the module docstring)."""

    def __init__(self, recorder: LatencyRecorder) -> None:
        self.recorder = recorder
        self.shipping: LatencyShipping | None = None
        self.lag: LagMonitor | None = None
        self.abort: AbortMonitor | None = None
        self.scheduler_getter: Callable[[], ArrivalScheduler | None] | None = None
        self.started_at: float | None = None

    def _snapshots(self) -> list[GeneratorSnapshot]:
        if self.shipping is None:
            return []
        try:
            return list(self.shipping.snapshots())
        except Exception:  # a broken snapshot must not fail a scrape
            log.exception("generator snapshots unavailable")
            return []

    def arrival_totals(self) -> ArrivalTotals:
        """Arrivals due, started and behind schedule, over every load process."""
        snaps = self._snapshots()
        return ArrivalTotals(
            due=sum(s.arrivals_due for s in snaps),
            started=sum(s.arrivals_started for s in snaps),
            late=sum(s.arrivals_late for s in snaps),
            dropped_late=sum(s.arrivals_dropped_late for s in snaps),
            shed=sum(s.arrivals_shed for s in snaps),
        )

    def citizens_in_flight(self) -> int | None:
        """The local scheduler's pool; None on a master (workers do not ship their pools)."""
        scheduler = self.scheduler_getter() if self.scheduler_getter is not None else None
        return len(scheduler.pool) if scheduler is not None else None

    def abort_rule(self) -> str | None:
        """The rule that stopped the run, if one did."""
        decision = self.abort.decision if self.abort is not None else None
        return decision.rule if decision is not None else None
