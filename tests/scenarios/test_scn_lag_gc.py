"""Generator health: lag ticker, CPU samples, arrival lag, verdicts; GC pause measurement."""

from __future__ import annotations

import gc
import time

import gevent

from kernel.defaults import GC_PAUSE_LIMIT_MS, SCHEDULE_LAG_MAX_LIMIT_MS
from scenarios.arrivals import ArrivalStats
from scenarios.gc_tuning import GcMonitor, freeze_long_lived
from scenarios.lag import GeneratorSnapshot, LagMonitor, Trust, TrustLimits, assess, generator_health


def test_ticker_sees_a_blocked_loop():
    monitor = LagMonitor(tick_s=0.02, limits=TrustLimits(lag_p99_ms=200)).start()
    deadline = time.monotonic() + 10
    while monitor.snapshot().lag_samples < 5 and time.monotonic() < deadline:
        gevent.sleep(0.05)
    quiet = monitor.snapshot()
    # Against the 300-ms block below, not an absolute: a busy machine stalls a loop now and then.
    assert quiet.lag_samples >= 5 and quiet.lag_max_ms < 250
    assert monitor.is_trustworthy().trustworthy
    time.sleep(0.3)  # blocks the event loop (not gevent-aware), like a GC pause
    gevent.sleep(0.05)
    monitor.stop()
    busy = monitor.snapshot()
    assert busy.lag_max_ms >= 250
    trust = monitor.is_trustworthy()
    assert not trust.trustworthy
    assert trust.reasons[0].startswith("scheduling lag p99 ") and "> 200 ms" in trust.reasons[0]


def test_cpu_samples_and_arrival_lag_feed_the_verdict():
    stats = ArrivalStats(due=1000, started=990, late=25, dropped_late=10)
    monitor = LagMonitor(node="w1", arrivals=lambda: stats)
    for percent in [50.0] * 8 + [97.0] * 2:
        monitor.record_cpu(percent)
    snap = monitor.snapshot()
    assert snap.cpu_percent_mean == 59.4 and snap.cpu_busy_seconds == 2 and snap.arrivals_late == 25
    trust = assess([snap])
    assert trust.reasons == [
        "w1: CPU above 90 % in 2 of 10 s (max 97 %): generator saturated",
        "w1: 35 of 1000 arrivals behind schedule (3.5% > 2%)",
    ]


def test_verdict_over_workers_and_summary_section():
    good = GeneratorSnapshot(node="w1", seconds=60, lag_p99_ms=3, lag_max_ms=12, cpu_percent_mean=40.0,
                             arrivals_due=500, arrivals_started=500)
    bad = GeneratorSnapshot(node="w2", seconds=60, lag_p99_ms=1500, lag_max_ms=2100, cpu_percent_mean=99.0,
                            cpu_busy_seconds=50, arrivals_shed=7)
    assert assess([good]).trustworthy
    health = generator_health([good, bad])
    assert not health.trustworthy
    assert health.reasons[0] == "w2: scheduling lag p99 1500 ms > 1000 ms (max 2100 ms)"
    assert health.reasons[-1].startswith("note: 7 arrivals shed")
    both = generator_health([good, GeneratorSnapshot(node="w2", gc_max_pause_ms=57.2)])
    assert both.gc_max_pause_ms == 57.2
    assert (both.arrivals_due, both.arrivals_started) == (good.arrivals_due, good.arrivals_started)
    assert health.max_schedule_lag_ms == 2100 and health.cpu_percent == {"w1": 40.0, "w2": 99.0}
    assert GeneratorSnapshot.from_wire({**bad.to_wire(), "future_field": 1}) == bad


def test_gc_monitor_times_collections_and_freeze_counts_objects():
    monitor = GcMonitor().start()
    try:
        garbage = [[i] for i in range(200_000)]
        del garbage
        gc.collect()
        stats = monitor.snapshot()
        assert stats.collections >= 1 and stats.max_pause_ms > 0 and stats.total_pause_ms >= stats.max_pause_ms
        assert stats.max_pause_generation is not None
        before = gc.get_freeze_count()
        frozen = freeze_long_lived()
        # Frozen objects can still be freed by reference counting (and other threads
        # allocate), so the count is compared with generous bounds, not exactly.
        assert frozen >= before and frozen > 10_000
        assert (monitor.snapshot().frozen_objects or 0) > 10_000  # counted when asked
        # What the generator's health report asks for every second: the pauses, not the count
        # (counting walks every frozen object).
        pauses_only = monitor.snapshot(count_frozen=False)
        assert pauses_only.frozen_objects is None and pauses_only.collections == monitor.collections
    finally:
        monitor.stop()
        gc.unfreeze()
    collections = monitor.collections
    gc.collect()
    assert monitor.collections == collections  # stopped monitors stop counting


def test_limits_are_strict_bounds_and_a_lone_local_process_is_not_named():
    at_limits = GeneratorSnapshot(seconds=100, lag_p99_ms=1000.0, cpu_busy_seconds=10, arrivals_due=1000,
                                  arrivals_late=15, arrivals_dropped_late=5)
    assert assess([at_limits]) == Trust(trustworthy=True, reasons=[])
    over = GeneratorSnapshot(seconds=100, lag_p99_ms=1000.5, lag_max_ms=1800, cpu_busy_seconds=11, cpu_percent_max=99.6,
                             arrivals_due=1000, arrivals_late=15, arrivals_dropped_late=6)
    assert assess([over]).reasons == [
        "scheduling lag p99 1000 ms > 1000 ms (max 1800 ms)",
        "CPU above 90 % in 11 of 100 s (max 100 %): generator saturated",
        "21 of 1000 arrivals behind schedule (2.1% > 2%)",
    ]


def test_custom_limits_change_the_verdict():
    snap = GeneratorSnapshot(node="w3", seconds=10, lag_p99_ms=300.0, lag_max_ms=400.0)
    assert assess([snap]).trustworthy
    strict = assess([snap], TrustLimits(lag_p99_ms=250.0))
    assert strict.reasons == ["w3: scheduling lag p99 300 ms > 250 ms (max 400 ms)"]


def test_no_snapshots_is_a_trustworthy_section_with_nothing_measured():
    health = generator_health([])
    assert health.trustworthy and health.reasons == [] and health.cpu_percent == {}
    assert (health.max_schedule_lag_ms, health.gc_max_pause_ms, health.arrivals_due, health.arrivals_late) == (
        None, None, None, None)


def test_snapshot_carries_the_gc_figures_and_a_stopped_ticker_stops_sampling():
    gc_monitor = GcMonitor().start()
    monitor = LagMonitor(tick_s=0.01, gc_monitor=gc_monitor).start()
    try:
        assert monitor.start() is monitor
        gc.collect()
        deadline = time.monotonic() + 5
        while monitor.lag.total < 3 and time.monotonic() < deadline:
            gevent.sleep(0.01)
        monitor.stop()
        snap = monitor.snapshot()
        assert snap.lag_samples >= 3 and snap.gc_collections >= 1 and snap.gc_max_pause_ms > 0
        gevent.sleep(0.05)
        assert monitor.snapshot().lag_samples == snap.lag_samples
    finally:
        gc_monitor.stop()
    assert (snap.arrivals_due, snap.node) == (0, "local")  # no scheduler attached


def test_one_stall_over_the_limit_distrusts_the_run_whatever_the_p99():
    # The national-size run of #18: p99 far below 1 s, one 828 ms lag and one 558 ms steady GC pause.
    limits = TrustLimits()
    assert (limits.lag_max_ms, limits.gc_pause_ms) == (SCHEDULE_LAG_MAX_LIMIT_MS, GC_PAUSE_LIMIT_MS) == (500.0, 500.0)
    stalled = GeneratorSnapshot(node="worker-1", seconds=300, lag_p99_ms=40.0, lag_max_ms=828.0,
                                gc_max_pause_ms=900.0, gc_steady_max_pause_ms=558.0)
    health = generator_health([stalled, GeneratorSnapshot(node="worker-2", seconds=300, lag_max_ms=20.0)])
    assert not health.trustworthy
    assert health.reasons == ["worker-1: scheduling lag max 828 ms > 500 ms", "worker-1: GC pause 558 ms > 500 ms"]
    # A live ticker knows when its worst stall ended, and the reason says so.
    stalled.lag_max_at_s = 331.4
    assert generator_health([stalled]).reasons[0] == "worker-1: scheduling lag max 828 ms > 500 ms (at 331 s)"


def test_stall_limits_are_strict_bounds_on_both_sides():
    at = GeneratorSnapshot(seconds=10, lag_max_ms=500.0, gc_steady_max_pause_ms=500.0)
    assert assess([at]) == Trust(trustworthy=True, reasons=[])
    lag_over = GeneratorSnapshot(seconds=10, lag_max_ms=500.5)
    assert assess([lag_over]).reasons == ["scheduling lag max 500 ms > 500 ms"]
    gc_over = GeneratorSnapshot(seconds=10, gc_steady_max_pause_ms=501.0)
    assert assess([gc_over]).reasons == ["GC pause 501 ms > 500 ms"]
    assert assess([lag_over], TrustLimits(lag_max_ms=600.0)).trustworthy
    assert assess([gc_over], TrustLimits(gc_pause_ms=600.0)).trustworthy


def test_a_start_up_gc_pause_alone_does_not_distrust_the_run():
    # Collections before the doors open (Locust start-up, building the world) delay no request;
    # only the pause after spawning completed counts, and the lag max covers the load phase.
    start_up = GeneratorSnapshot(seconds=10, lag_max_ms=30.0, gc_max_pause_ms=2000.0, gc_steady_max_pause_ms=40.0)
    assert assess([start_up]).trustworthy


def test_a_p99_over_its_limit_names_the_max_once():
    both = GeneratorSnapshot(node="w1", seconds=10, lag_p99_ms=1200.0, lag_max_ms=1500.0)
    assert assess([both]).reasons == ["w1: scheduling lag p99 1200 ms > 1000 ms (max 1500 ms)"]
