"""Abort rules: stop a run early when errors or p99 stay above limits (to protect a real
system), and record why.

The evaluation is pure (:class:`AbortEvaluator` eats one :class:`SecondStats` per second
and answers with an :class:`AbortDecision` or ``None``) so it is unit-tested with
synthetic seconds. :class:`AbortMonitor` feeds it each second from the master's merged
:class:`~scenarios.latency.LatencyRecorder` buckets and, on a decision, quits the runner.

Rules, each optional:

* error rate — failures ÷ requests over the last ``window_s`` seconds, judged only when
  the window holds at least ``min_requests`` requests;
* p99 — that second's p99 (exact merge of every endpoint), judged only for seconds with
  at least ``min_requests_p99`` responses.

A rule fires when it has breached continuously for ``sustain_s`` seconds; a second without
enough data neither breaks nor extends a breach. A second that cannot be judged at all (an
exception reading or evaluating it) is skipped like one without data, and the monitor goes
on: rules that silently stopped being checked would leave a real system unprotected.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import gevent

from kernel.hdr import SparseHistogram
from kernel.latency_records import Measure
from reports.summary import AbortInfo
from scenarios.latency import LatencyRecorder

__all__ = ["AbortLimits", "SecondStats", "AbortDecision", "AbortEvaluator", "AbortMonitor", "cut_short_reason"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AbortLimits:
    """Configured limits; ``None`` disables a rule."""

    max_error_rate: float | None = None  # 0..1
    max_p99_ms: float | None = None
    sustain_s: float = 30.0
    window_s: float = 10.0
    min_requests: int = 20
    min_requests_p99: int = 10

    def __post_init__(self) -> None:
        if self.max_error_rate is not None and not 0 <= self.max_error_rate <= 1:
            raise ValueError(f"max_error_rate: expected 0..1, got {self.max_error_rate}")
        if self.max_p99_ms is not None and self.max_p99_ms <= 0:
            raise ValueError(f"max_p99_ms: expected > 0, got {self.max_p99_ms}")
        if self.sustain_s < 0 or self.window_s <= 0:
            raise ValueError("sustain_s must be >= 0 and window_s > 0")


@dataclass(frozen=True, slots=True)
class SecondStats:
    """What happened in one second of the run (``offset_s`` since the start)."""

    offset_s: float
    requests: int
    failures: int
    p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class AbortDecision:
    """Why the run was stopped."""

    rule: Literal["error_rate", "p99"]
    reason: str
    at_offset_s: float
    observed: float
    limit: float

    def to_abort_info(self) -> AbortInfo:
        """The ``summary.json`` abort section."""
        return AbortInfo(aborted=True, reason=self.reason, at_offset_s=self.at_offset_s)


class AbortEvaluator:
    """Stateful, pure evaluation of :class:`AbortLimits` over consecutive seconds."""

    def __init__(self, limits: AbortLimits) -> None:
        self.limits = limits
        self._window: deque[SecondStats] = deque()
        self._breach_since: dict[str, float | None] = {"error_rate": None, "p99": None}
        self.decision: AbortDecision | None = None

    def feed(self, second: SecondStats) -> AbortDecision | None:
        """Add one second; returns the decision the first time a rule fires (then keeps it)."""
        if self.decision is not None:
            return self.decision
        limits = self.limits
        self._window.append(second)
        while self._window and self._window[0].offset_s <= second.offset_s - limits.window_s:
            self._window.popleft()

        if limits.max_error_rate is not None:
            requests = sum(s.requests for s in self._window)
            if requests >= limits.min_requests:
                rate = sum(s.failures for s in self._window) / requests
                if self._update("error_rate", rate > limits.max_error_rate, second.offset_s):
                    self.decision = AbortDecision(
                        rule="error_rate",
                        reason=(
                            f"error rate {rate:.1%} above {limits.max_error_rate:.1%} for "
                            f"{limits.sustain_s:g} s (window {limits.window_s:g} s)"
                        ),
                        at_offset_s=second.offset_s,
                        observed=rate,
                        limit=limits.max_error_rate,
                    )
                    return self.decision
        if (
            limits.max_p99_ms is not None
            and second.p99_ms is not None
            and second.requests >= limits.min_requests_p99
            and self._update("p99", second.p99_ms > limits.max_p99_ms, second.offset_s)
        ):
            self.decision = AbortDecision(
                rule="p99",
                reason=f"p99 {second.p99_ms:.0f} ms above {limits.max_p99_ms:.0f} ms for {limits.sustain_s:g} s",
                at_offset_s=second.offset_s,
                observed=second.p99_ms,
                limit=limits.max_p99_ms,
            )
            return self.decision
        return None

    def _update(self, rule: str, breached: bool, offset_s: float) -> bool:
        if not breached:
            self._breach_since[rule] = None
            return False
        since = self._breach_since[rule]
        if since is None:
            since = self._breach_since[rule] = offset_s
        return offset_s - since >= self.limits.sustain_s


class AbortMonitor:
    """Evaluates abort rules each second on a master's (or local runner's) recorder.

    ``delay_s`` is how far behind real time the recorder is complete: worker reports
    arrive every ~2 s, so a distributed master judges seconds that ended ``delay_s`` ago.
    On a decision it logs it, keeps it in :attr:`decision` and calls ``stop`` (default:
    ``environment.runner.quit()`` in a fresh greenlet). A second that raises is skipped and
    counted in :attr:`skipped_seconds` (the first logged with its traceback), never the end
    of the monitoring.
    """

    #: Seconds between two evaluations of the monitoring greenlet.
    interval_s: float = 1.0

    def __init__(
        self,
        environment: Any,
        recorder: LatencyRecorder,
        limits: AbortLimits,
        delay_s: float = 3.0,
        measure: Measure = "service",
        stop: Any = None,
    ) -> None:
        self.environment = environment
        self.recorder = recorder
        self.evaluator = AbortEvaluator(limits)
        self.delay_s = delay_s
        self.measure = measure
        self.stop = stop or (lambda: gevent.spawn(environment.runner.quit))
        self.decision: AbortDecision | None = None
        self.run_start = time.time()
        self._next_second: int | None = None
        self._greenlet: gevent.Greenlet | None = None
        self.skipped_seconds = 0

    def start(self) -> AbortMonitor:
        """Start evaluating (call at test start)."""
        self.run_start = time.time()
        self._next_second = int(self.run_start)
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._loop)
        return self

    def stop_monitoring(self) -> None:
        """Stop the evaluation greenlet."""
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)
        self._greenlet = None

    def _loop(self) -> None:
        while self.decision is None:
            gevent.sleep(self.interval_s)
            self.evaluate_until(time.time() - self.delay_s)

    def evaluate_until(self, until: float) -> AbortDecision | None:
        """Feed every complete second before ``until`` (epoch) not fed yet; one that raises is
        skipped (:attr:`skipped_seconds`) and the next ones are judged all the same."""
        assert self._next_second is not None  # noqa: S101 - set by start()
        while self._next_second + 1 <= until and self.decision is None:
            at = self._next_second
            self._next_second += 1  # first: a second that raises is not read again, every tick
            try:
                decision = self.evaluator.feed(self._second_stats(at))
            # A failing listener is logged rather than killing the run (Locust's rule); here it
            # would end the greenlet quietly and no rule would be checked for the rest of it.
            except Exception:  # noqa: BLE001
                self._skipped(at)
                continue
            if decision is not None:
                self.decision = decision
                logger.error("abort rule fired: %s", decision.reason)
                try:
                    self.stop()
                except Exception:  # said aloud, not lost in a dead greenlet's traceback
                    logger.exception("abort rule fired but stopping the run failed")
        return self.decision

    def _skipped(self, second: int) -> None:
        self.skipped_seconds += 1
        if self.skipped_seconds == 1:  # once: the same fault would otherwise log every second of the run
            logger.exception("abort rules: second %d of the run could not be judged and was skipped "
                             "(later ones that fail are counted, not logged)", second - int(self.run_start))

    def _second_stats(self, second: int) -> SecondStats:
        requests = failures = 0
        merged = SparseHistogram(2)
        for series in self.recorder.buckets.values():
            bucket = series.get(second)
            if bucket is None:
                continue
            requests += bucket.count
            failures += bucket.failures
            merged.add(bucket.intended if self.measure == "intended" else bucket.service)
        p99 = merged.value_at_percentile(99.0) / 1000 if merged.total else None
        return SecondStats(offset_s=second - int(self.run_start), requests=requests, failures=failures, p99_ms=p99)


def cut_short_reason(planned_s: float, since_setup_s: float, load_s: float) -> str | None:
    """Why a load did not complete, or None: ``since_setup_s`` is the time from the harness's
    set-up to the end, ``load_s`` the load's own (for the message).

    Locust stops itself at ``--run-time`` (the planned seconds, rounded, at least 1), timed
    from after the harness is set up (``scenarios.harness.refresh_loop_clock``) — so a run
    that ended that long after its set-up, less a second (or 2 %) of slack, was stopped by
    its clock; one that ended sooner was stopped by something else (its orchestrator
    interrupted or killed). Its records are written all the same, and without this a killed
    run's figures would pass the gate as if the night had been rehearsed in full. (A kill
    within the set-up's few seconds of the end goes unseen.)"""
    expected = max(1.0, float(round(planned_s)))
    if since_setup_s >= expected - max(1.0, 0.02 * expected):
        return None
    return (f"the load stopped after {load_s:.1f} s of the {expected:g} s planned "
            "(interrupted, killed or stopped early): the run did not complete")
