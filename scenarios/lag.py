"""Load-generator health: is the generator itself keeping its schedule?

A saturated generator hides its own lag: users fall behind their script and no failure
is recorded (``../shared/PERF-NOTES.md``). :class:`LagMonitor` watches three signals on
each load-generating process:

* scheduling lag — a ticker greenlet sleeps 100 ms and records the overshoot; when the
  event loop is starved (CPU, GC pauses) the overshoot grows;
* CPU — ``time.process_time()`` deltas over wall-clock deltas, sampled every second
  (100 % = one full core; a gevent process cannot use more);
* arrivals behind schedule — from the open-model :class:`~scenarios.arrivals.ArrivalScheduler`.

:func:`assess` turns snapshots (one per worker) into a verdict with reasons, so the run
is marked untrustworthy instead of blaming the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import gevent

from kernel.defaults import GC_PAUSE_LIMIT_MS, SCHEDULE_LAG_MAX_LIMIT_MS
from kernel.hdr import SparseHistogram
from reports.summary import GeneratorHealth
from scenarios.arrivals import ArrivalStats
from scenarios.gc_tuning import GcMonitor

__all__ = ["TrustLimits", "GeneratorSnapshot", "Trust", "LagMonitor", "assess", "generator_health"]


@dataclass(frozen=True, slots=True)
class TrustLimits:
    """When a generator stops being trustworthy (defaults from issues #3 and #18).

    The stall limits (``lag_max_ms``, ``gc_pause_ms``) are declared in :mod:`kernel.defaults`,
    which says why 500 ms.
    """

    lag_p99_ms: float = 1000.0
    lag_max_ms: float = SCHEDULE_LAG_MAX_LIMIT_MS
    gc_pause_ms: float = GC_PAUSE_LIMIT_MS
    cpu_percent: float = 90.0
    cpu_busy_share: float = 0.10  # share of 1-s CPU samples above cpu_percent that is tolerated
    arrivals_behind_share: float = 0.02


@dataclass
class GeneratorSnapshot:
    """One process's generator figures (plain fields: it travels worker → master)."""

    node: str = "local"
    seconds: int = 0
    lag_samples: int = 0
    lag_p99_ms: float = 0.0
    lag_max_ms: float = 0.0
    lag_max_at_s: float = 0.0  # when the worst overshoot ended, seconds after the ticker started
    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    cpu_busy_seconds: int = 0  # 1-s samples above TrustLimits.cpu_percent
    gc_max_pause_ms: float = 0.0
    gc_steady_max_pause_ms: float = 0.0
    gc_collections: int = 0
    arrivals_due: int = 0
    arrivals_started: int = 0
    arrivals_late: int = 0
    arrivals_dropped_late: int = 0
    arrivals_shed: int = 0

    def to_wire(self) -> dict[str, Any]:
        """A plain dict for Locust messages."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> GeneratorSnapshot:
        """Inverse of :meth:`to_wire` (unknown keys ignored: newer workers may send more)."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Trust:
    """Verdict on the generator: trustworthy, or why not."""

    trustworthy: bool
    reasons: list[str] = field(default_factory=list)


class LagMonitor:
    """Ticker-based scheduling-lag, CPU and arrival-lag monitor for one process."""

    def __init__(
        self,
        node: str = "local",
        tick_s: float = 0.1,
        limits: TrustLimits | None = None,
        arrivals: Callable[[], ArrivalStats | None] | None = None,
        gc_monitor: GcMonitor | None = None,
    ) -> None:
        self.node = node
        self.tick_s = tick_s
        self.limits = limits or TrustLimits()
        self.arrivals = arrivals
        self.gc_monitor = gc_monitor
        self.lag = SparseHistogram()  # µs
        self.seconds = 0
        self.cpu_sum = 0.0
        self.cpu_max = 0.0
        self.cpu_busy_seconds = 0
        self.lag_max_s = 0.0
        self.lag_max_at_s = 0.0
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> LagMonitor:
        """Start the ticker greenlet (idempotent)."""
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._tick)
        return self

    def stop(self) -> None:
        """Stop the ticker."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None

    def _tick(self) -> None:
        wall0, cpu0 = time.monotonic(), time.process_time()
        started = wall0
        while True:
            before = time.monotonic()
            gevent.sleep(self.tick_s)
            now = time.monotonic()
            overshoot = max(now - before - self.tick_s, 0.0)
            self.lag.record(int(overshoot * 1_000_000))
            if overshoot > self.lag_max_s:  # when, so a stall can be told from the spawn, the surge or the stop
                self.lag_max_s, self.lag_max_at_s = overshoot, now - started
            if now - wall0 >= 1.0:
                cpu = time.process_time()
                self.record_cpu((cpu - cpu0) / (now - wall0) * 100)
                wall0, cpu0 = now, cpu

    def record_cpu(self, percent: float) -> None:
        """Add one ~1-s CPU sample (public so tests can inject samples)."""
        self.seconds += 1
        self.cpu_sum += percent
        self.cpu_max = max(self.cpu_max, percent)
        if percent > self.limits.cpu_percent:
            self.cpu_busy_seconds += 1

    def snapshot(self) -> GeneratorSnapshot:
        """Figures so far."""
        snap = GeneratorSnapshot(
            node=self.node,
            seconds=self.seconds,
            lag_samples=self.lag.total,
            lag_p99_ms=self.lag.value_at_percentile(99.0) / 1000,
            lag_max_ms=self.lag.max_value() / 1000,
            lag_max_at_s=round(self.lag_max_at_s, 1),
            cpu_percent_mean=round(self.cpu_sum / self.seconds, 1) if self.seconds else 0.0,
            cpu_percent_max=round(self.cpu_max, 1),
            cpu_busy_seconds=self.cpu_busy_seconds,
        )
        if self.gc_monitor is not None:
            gc_stats = self.gc_monitor.snapshot(count_frozen=False)  # the pauses only: counting walks every frozen object
            snap.gc_max_pause_ms = gc_stats.max_pause_ms
            snap.gc_steady_max_pause_ms = gc_stats.steady_max_pause_ms
            snap.gc_collections = gc_stats.collections
        stats = self.arrivals() if self.arrivals is not None else None
        if stats is not None:
            snap.arrivals_due = stats.due
            snap.arrivals_started = stats.started
            snap.arrivals_late = stats.late
            snap.arrivals_dropped_late = stats.dropped_late
            snap.arrivals_shed = stats.shed
        return snap

    def is_trustworthy(self) -> Trust:
        """This process's verdict (see :func:`assess`)."""
        return assess([self.snapshot()], self.limits)


def assess(snapshots: list[GeneratorSnapshot], limits: TrustLimits | None = None) -> Trust:
    """Verdict over all generator processes: untrustworthy if any one is, with reasons."""
    limits = limits or TrustLimits()
    reasons = []
    for snap in snapshots:
        who = f"{snap.node}: " if len(snapshots) > 1 or snap.node != "local" else ""
        if snap.lag_p99_ms > limits.lag_p99_ms:
            reasons.append(
                f"{who}scheduling lag p99 {snap.lag_p99_ms:.0f} ms > {limits.lag_p99_ms:.0f} ms "
                f"(max {snap.lag_max_ms:.0f} ms)"
            )
        elif snap.lag_max_ms > limits.lag_max_ms:
            # One stall is enough to distrust the run (a p99 hides it); the p99 line above
            # already names the max, so the max gets a line of its own only when the p99 held.
            reasons.append(f"{who}scheduling lag max {snap.lag_max_ms:.0f} ms > {limits.lag_max_ms:.0f} ms"
                           + (f" (at {snap.lag_max_at_s:.0f} s)" if snap.lag_max_at_s else ""))
        # The steady figure only (after spawning completed): gc_max_pause_ms also holds the
        # collections of Locust's start-up and of building the world, before the doors open,
        # which delay no request. A pause while the load runs — spawning included — stalls the
        # lag ticker too, so the lag max above catches a spawn-phase pause; this line names GC.
        if snap.gc_steady_max_pause_ms > limits.gc_pause_ms:
            reasons.append(f"{who}GC pause {snap.gc_steady_max_pause_ms:.0f} ms > {limits.gc_pause_ms:.0f} ms")
        if snap.seconds and snap.cpu_busy_seconds / snap.seconds > limits.cpu_busy_share:
            reasons.append(
                f"{who}CPU above {limits.cpu_percent:.0f} % in {snap.cpu_busy_seconds} of {snap.seconds} s "
                f"(max {snap.cpu_percent_max:.0f} %): generator saturated"
            )
        behind = snap.arrivals_late + snap.arrivals_dropped_late
        if snap.arrivals_due and behind / snap.arrivals_due > limits.arrivals_behind_share:
            reasons.append(
                f"{who}{behind} of {snap.arrivals_due} arrivals behind schedule "
                f"({behind / snap.arrivals_due:.1%} > {limits.arrivals_behind_share:.0%})"
            )
    return Trust(trustworthy=not reasons, reasons=reasons)


def generator_health(snapshots: list[GeneratorSnapshot], limits: TrustLimits | None = None) -> GeneratorHealth:
    """The ``summary.json`` generator section for these snapshots."""
    trust = assess(snapshots, limits)
    reasons = list(trust.reasons)
    shed = sum(s.arrivals_shed for s in snapshots)
    if shed:
        # Not the generator's fault (the in-flight cap was reached because the target is
        # slow), but the offered load was lower than intended: say so without distrusting.
        reasons.append(f"note: {shed} arrivals shed at the in-flight cap (target slow or cap too low)")
    return GeneratorHealth(
        trustworthy=trust.trustworthy,
        reasons=reasons,
        max_schedule_lag_ms=max((s.lag_max_ms for s in snapshots), default=None),
        schedule_lag_p99_ms=max((s.lag_p99_ms for s in snapshots), default=None),
        cpu_percent={s.node: s.cpu_percent_mean for s in snapshots},
        gc_max_pause_ms=max((s.gc_max_pause_ms for s in snapshots), default=None),
        gc_steady_max_pause_ms=max((s.gc_steady_max_pause_ms for s in snapshots), default=None),
        arrivals_due=sum(s.arrivals_due for s in snapshots) if snapshots else None,
        arrivals_started=sum(s.arrivals_started for s in snapshots) if snapshots else None,
        arrivals_late=sum(s.arrivals_late for s in snapshots) if snapshots else None,
    )
