"""Abort rules on synthetic per-second stats."""

from __future__ import annotations

import time

import gevent
import pytest

from scenarios.abort import AbortEvaluator, AbortLimits, AbortMonitor, SecondStats
from scenarios.latency import LatencyRecorder


def _run(limits: AbortLimits, seconds: list[SecondStats]):
    ev = AbortEvaluator(limits)
    for s in seconds:
        decision = ev.feed(s)
        if decision:
            return decision
    return None


def test_error_rate_must_be_sustained():
    limits = AbortLimits(max_error_rate=0.05, sustain_s=5, window_s=1)
    # 4 bad seconds, one good, 4 bad: never 5 s in a row.
    pattern = [40] * 4 + [0] + [40] * 4
    assert _run(limits, [SecondStats(t, 100, f) for t, f in enumerate(pattern)]) is None
    decision = _run(limits, [SecondStats(t, 100, 40) for t in range(10)])
    assert decision.rule == "error_rate" and decision.at_offset_s == 5
    assert decision.reason == "error rate 40.0% above 5.0% for 5 s (window 1 s)"
    info = decision.to_abort_info()
    assert info.aborted and info.at_offset_s == 5 and info.reason == decision.reason


def test_error_rate_uses_the_window_and_ignores_thin_seconds():
    limits = AbortLimits(max_error_rate=0.10, sustain_s=3, window_s=10, min_requests=50)
    # Bursty reports (a master gets worker stats every few seconds): the window smooths them.
    seconds = [SecondStats(t, 60 if t % 3 == 0 else 0, 12 if t % 3 == 0 else 0) for t in range(20)]
    decision = _run(limits, seconds)
    assert decision is not None and decision.observed == pytest.approx(0.2)
    # Too few requests in the window: no evidence, no abort.
    assert _run(limits, [SecondStats(t, 2, 2) for t in range(30)]) is None


def test_p99_rule_and_no_data_seconds_do_not_reset_a_breach():
    limits = AbortLimits(max_p99_ms=500, sustain_s=4, min_requests_p99=10)
    seconds = [
        SecondStats(0, 50, 0, 900.0),
        SecondStats(1, 0, 0, None),  # nothing measured: neither breaks nor extends
        SecondStats(2, 50, 0, 800.0),
        SecondStats(3, 3, 0, 10.0),  # too thin to judge
        SecondStats(4, 50, 0, 700.0),
    ]
    decision = _run(limits, seconds)
    assert decision.rule == "p99" and decision.at_offset_s == 4 and decision.observed == 700.0
    assert decision.reason == "p99 700 ms above 500 ms for 4 s"
    recovered = [SecondStats(0, 50, 0, 900.0), SecondStats(1, 50, 0, 100.0), SecondStats(4, 50, 0, 900.0)]
    assert _run(limits, recovered) is None


def test_decision_is_sticky():
    ev = AbortEvaluator(AbortLimits(max_error_rate=0.0, sustain_s=0, window_s=1, min_requests=1))
    first = ev.feed(SecondStats(0, 10, 1))
    assert first is not None and ev.feed(SecondStats(1, 10, 0)) is first


@pytest.mark.parametrize(
    "kwargs, message",
    [({"max_error_rate": 1.5}, "max_error_rate: expected 0..1, got 1.5"), ({"max_p99_ms": 0}, "max_p99_ms: expected > 0")],
)
def test_limits_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AbortLimits(**kwargs)


class _Env:
    runner = None


def test_monitor_reads_recorder_seconds_and_stops_once():
    rec = LatencyRecorder()
    base = 1_700_000_000
    for second in range(10):
        for i in range(100):
            rec.record("portal", "GET /x", "01", None, 2_000_000 if second >= 3 else 1_000, None, i < 50, at=base + second)
    stops = []
    monitor = AbortMonitor(_Env(), rec, AbortLimits(max_p99_ms=1000, sustain_s=2), stop=lambda: stops.append(1))
    monitor.run_start = float(base)
    monitor._next_second = base
    decision = monitor.evaluate_until(base + 10)
    # error rate rule is off; p99 breaches from second 3, sustained 2 s at second 5
    assert decision.rule == "p99" and decision.at_offset_s == 5 and stops == [1]
    assert monitor.evaluate_until(base + 20) is decision and stops == [1]


def test_with_both_rules_breached_the_error_rate_is_reported_first():
    limits = AbortLimits(max_error_rate=0.1, max_p99_ms=100, sustain_s=2, window_s=1, min_requests=10)
    decision = _run(limits, [SecondStats(t, 100, 50, 900.0) for t in range(5)])
    assert (decision.rule, decision.at_offset_s, decision.observed, decision.limit) == ("error_rate", 2, 0.5, 0.1)


def test_zero_sustain_fires_on_the_first_breaching_second():
    limits = AbortLimits(max_p99_ms=100, sustain_s=0)
    decision = _run(limits, [SecondStats(0, 50, 0, 50.0), SecondStats(1, 50, 0, 101.0)])
    assert (decision.rule, decision.at_offset_s) == ("p99", 1)
    assert decision.reason == "p99 101 ms above 100 ms for 0 s"


def test_old_failures_leave_the_window():
    # A burst of failures in second 0, then clean seconds: the window forgets the burst
    # after window_s, so the breach (which needed 3 s) never lasts long enough.
    limits = AbortLimits(max_error_rate=0.2, sustain_s=3, window_s=2, min_requests=10)
    seconds = [SecondStats(0, 100, 100)] + [SecondStats(t, 100, 0) for t in range(1, 10)]
    assert _run(limits, seconds) is None
    # With a window long enough to hold the burst for 3 s, the same seconds abort.
    held = _run(AbortLimits(max_error_rate=0.2, sustain_s=3, window_s=5, min_requests=10), seconds)
    assert held is not None and held.at_offset_s == 3 and held.observed == pytest.approx(100 / 400)


def test_rules_left_unset_never_fire():
    assert _run(AbortLimits(), [SecondStats(t, 100, 100, 1e9) for t in range(120)]) is None


@pytest.mark.parametrize("kwargs", [{"sustain_s": -1}, {"window_s": 0}])
def test_sustain_and_window_bounds(kwargs):
    with pytest.raises(ValueError, match="sustain_s must be >= 0 and window_s > 0"):
        AbortLimits(**kwargs)


class _Runner:
    def __init__(self):
        self.quits = 0

    def quit(self):
        self.quits += 1


class _RunnerEnv:
    def __init__(self):
        self.runner = _Runner()


def test_monitor_can_judge_intended_latency_and_quits_the_runner_by_default():
    rec = LatencyRecorder()
    base = 1_700_000_000
    for second in range(6):
        for _ in range(20):
            # the service answers in 1 ms, but requests start 3 s after they were due (a stalled generator)
            rec.record("axis", "GET /inbox", "01", None, 1_000, 3_000_000, False, at=base + second)
    limits = AbortLimits(max_p99_ms=1000, sustain_s=2)
    sent = AbortMonitor(_Env(), rec, limits, stop=lambda: None)
    sent.run_start = float(base)
    sent._next_second = base
    assert sent.evaluate_until(base + 6) is None  # measured from the send, nothing is slow
    env = _RunnerEnv()
    intended = AbortMonitor(env, rec, limits, measure="intended")
    intended.run_start = float(base)
    intended._next_second = base
    decision = intended.evaluate_until(base + 6)
    assert decision.rule == "p99" and decision.at_offset_s == 2 and decision.observed == pytest.approx(3000, rel=0.01)
    deadline = time.monotonic() + 5  # the default stop quits the runner in a fresh greenlet
    while env.runner.quits == 0 and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert env.runner.quits == 1


class _FailingSeries(dict):
    """A recorder's series whose seconds in ``bad`` raise when read (a fault in the recorder)."""

    def __init__(self, series, bad):
        super().__init__(series)
        self.bad = bad

    def get(self, second, default=None):
        if second in self.bad:
            raise RuntimeError("dictionary changed size during iteration")
        return super().get(second, default)


def _breaching(rec, base, seconds):
    for second in range(seconds):
        for _ in range(20):
            rec.record("portal", "GET /x", "01", None, 2_000_000, None, False, at=base + second)


def test_a_second_that_cannot_be_judged_is_skipped_logged_once_and_the_rules_still_fire(caplog):
    rec = LatencyRecorder()
    base = 1_700_000_000
    _breaching(rec, base, 10)
    rec.buckets = {key: _FailingSeries(series, {base + 1, base + 2}) for key, series in rec.buckets.items()}
    stops = []
    monitor = AbortMonitor(_Env(), rec, AbortLimits(max_p99_ms=1000, sustain_s=2), stop=lambda: stops.append(1))
    monitor.run_start = float(base)
    monitor._next_second = base
    with caplog.at_level("ERROR", logger="scenarios.abort"):
        decision = monitor.evaluate_until(base + 10)
    # Seconds 1 and 2 are skipped as seconds without data, which do not break the breach begun
    # at second 0: it has lasted 2 s at second 3, the first judged after them.
    assert decision.rule == "p99" and decision.at_offset_s == 3 and stops == [1]
    assert monitor.skipped_seconds == 2
    skipped = [r for r in caplog.records if "could not be judged" in r.getMessage()]
    assert len(skipped) == 1 and "second 1 of the run" in skipped[0].getMessage() and skipped[0].exc_info


def test_the_monitoring_greenlet_outlives_a_second_that_raises():
    rec = LatencyRecorder()
    stops = []
    # delay_s < 0: seconds are judged as soon as the greenlet wakes (none need to pass).
    monitor = AbortMonitor(_Env(), rec, AbortLimits(max_p99_ms=1000, sustain_s=0), delay_s=-5,
                           stop=lambda: stops.append(1))
    monitor.interval_s = 0.01
    monitor.start()
    base = monitor._next_second
    _breaching(rec, base, 5)
    rec.buckets = {key: _FailingSeries(series, {base}) for key, series in rec.buckets.items()}
    try:
        deadline = time.monotonic() + 5
        while not stops and time.monotonic() < deadline:
            gevent.sleep(0.01)
        assert stops == [1] and monitor.decision.at_offset_s == 1 and monitor.skipped_seconds == 1
    finally:
        monitor.stop_monitoring()


def test_a_stop_that_raises_is_logged_and_the_decision_kept(caplog):
    rec = LatencyRecorder()
    base = 1_700_000_000
    _breaching(rec, base, 3)

    def stop():
        raise RuntimeError("runner gone")

    monitor = AbortMonitor(_Env(), rec, AbortLimits(max_p99_ms=1000, sustain_s=0), stop=stop)
    monitor.run_start = float(base)
    monitor._next_second = base
    with caplog.at_level("ERROR", logger="scenarios.abort"):
        decision = monitor.evaluate_until(base + 3)
    assert decision is not None and decision.at_offset_s == 0
    assert any("stopping the run failed" in r.getMessage() for r in caplog.records)
