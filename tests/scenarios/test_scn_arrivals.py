"""Open-model arrivals: rate curves, deterministic per-commune Poisson plans, the scheduler."""

from __future__ import annotations

import time

import gevent
import pytest

from scenarios.arrival_plan import ArrivalPlan, CommuneRate, RateCurve
from scenarios.arrivals import ArrivalScheduler
from scenarios.lag import LagMonitor

COMMUNES = [CommuneRate(f"{i:05d}", f"{i % 34 + 1:02d}", 0.05 + (i % 7) * 0.02) for i in range(200)]


def test_rate_curve_integral_and_inverse_agree():
    curve = RateCurve.morning_surge(ramp_s=10, surge_s=20, settle_s=10, peak=3.0, start=0.0)
    assert curve.multiplier(0) == 0 and curve.multiplier(15) == 3.0 and curve.multiplier(100) == 1.0
    assert curve.integral(10) == pytest.approx(15.0)  # triangle 0→3 over 10 s
    assert curve.integral(50) == pytest.approx(15 + 60 + 20 + 10)
    for u in (0.01, 3.0, 15.0, 40.0, 99.0, 120.0, 1000.0):
        assert curve.integral(curve.inverse(u)) == pytest.approx(u)
    fast = curve.compressed(10)
    assert fast.points[-1][0] == pytest.approx(4.0) and fast.integral(4.0) == pytest.approx(curve.integral(40) / 10)


@pytest.mark.parametrize(
    "points, message",
    [((), "first point must be at t=0"), (((1, 1.0),), "first point must be at t=0"),
     (((0, 1.0), (0, 2.0)), "times must increase"), (((0, -1.0),), "multipliers must be >= 0")],
)
def test_rate_curve_validation(points, message):
    with pytest.raises(ValueError, match=message):
        RateCurve(points)


def test_plan_is_deterministic_and_per_commune_independent():
    curve = RateCurve.morning_surge(5, 5, 5)
    plan = ArrivalPlan(COMMUNES, curve, seed=42, duration_s=60)
    first = list(plan.offsets())
    assert first == list(ArrivalPlan(COMMUNES, curve, seed=42, duration_s=60).offsets())
    assert first != list(ArrivalPlan(COMMUNES, curve, seed=43, duration_s=60).offsets())
    offsets = [t for t, _, _ in first]
    assert offsets == sorted(offsets) and offsets[-1] <= 60
    # One commune's arrivals do not depend on which other communes are in the plan.
    alone = [t for t, _, _ in ArrivalPlan(COMMUNES[7:8], curve, 42, 60).offsets()]
    assert alone == [t for t, c, _ in first if c is COMMUNES[7]]


def test_arrival_count_follows_the_curve():
    curve = RateCurve.morning_surge(20, 40, 20, peak=3.0)
    plan = ArrivalPlan(COMMUNES, curve, seed=1, duration_s=200)
    expected = plan.expected_arrivals()
    got = sum(1 for _ in plan.offsets())
    assert abs(got - expected) < 4 * expected**0.5  # Poisson: within 4 sigma
    surge = sum(1 for t, _, _ in plan.offsets() if 20 <= t < 60)
    steady = sum(1 for t, _, _ in plan.offsets() if 100 <= t < 140)
    assert 2.4 < surge / steady < 3.6  # peak multiplier 3 vs steady 1


def test_partition_is_disjoint_balanced_and_complete():
    plan = ArrivalPlan(COMMUNES, RateCurve.constant(), seed=5, duration_s=30)
    parts = [plan.partition(i, 3) for i in range(3)]
    codes = [{c.commune_code for c in p.communes} for p in parts]
    assert not (codes[0] & codes[1] or codes[1] & codes[2] or codes[0] & codes[2])
    assert set().union(*codes) == {c.commune_code for c in COMMUNES}
    rates = [sum(c.rate_per_s for c in p.communes) for p in parts]
    assert max(rates) / min(rates) < 1.02
    merged = sorted((t, c.commune_code, s) for p in parts for t, c, s in p.offsets())
    assert merged == sorted((t, c.commune_code, s) for t, c, s in plan.offsets())
    with pytest.raises(ValueError, match="worker index 3 outside 0..2"):
        plan.partition(3, 3)


def test_scheduler_starts_journeys_on_time_with_intended_start():
    plan = ArrivalPlan([CommuneRate("00004", "01", 60.0), CommuneRate("00007", "02", 40.0)], RateCurve.constant(), 3, 1.0)
    seen = []

    def journey(arrival):
        seen.append((arrival, time.time()))
        gevent.sleep(0.05)

    monitor = LagMonitor(tick_s=0.01).start()
    scheduler = ArrivalScheduler(plan, journey)
    scheduler.start()
    scheduler.join(timeout=10)
    monitor.stop()
    stats = scheduler.stats
    assert stats.due == stats.started == stats.completed == len(seen) == sum(1 for _ in plan.offsets())
    assert stats.achieved_ratio >= 0.98 and stats.behind_ratio <= 0.02 and stats.max_in_flight >= 2
    # On time up to the loop's own worst stall: a busy machine deschedules the process now and then,
    # and no scheduler can start a journey while it is not running.
    assert all(0 <= started - a.intended_start < 0.2 + monitor.lag_max_s for a, started in seen)
    assert len({a.seed for a, _ in seen}) == len(seen)  # each arrival its own deterministic seed


def test_in_flight_cap_sheds_and_stop_accounts_for_the_rest():
    plan = ArrivalPlan([CommuneRate("00004", "01", 200.0)], RateCurve.constant(), 3, 10.0)
    scheduler = ArrivalScheduler(plan, lambda a: gevent.sleep(30), max_in_flight=5)
    scheduler.start()
    gevent.sleep(0.5)
    scheduler.stop()
    stats = scheduler.stats
    assert stats.started == 5 and stats.shed > 50
    assert stats.due == stats.started + stats.shed + stats.dropped_late
    assert len(scheduler.pool) == 0 and not scheduler.running


def test_drain_lets_every_started_journey_finish_and_starts_no_more():
    """The graceful stop: unlike stop(), no journey in flight is killed."""
    plan = ArrivalPlan([CommuneRate("00004", "01", 50.0)], RateCurve.constant(), 3, 10.0)
    finished: list[int] = []

    def journey(arrival) -> None:
        gevent.sleep(0.3)  # long enough that some are always in flight when the drain comes
        finished.append(1)

    scheduler = ArrivalScheduler(plan, journey)
    scheduler.start()
    gevent.sleep(0.5)
    in_flight = len(scheduler.pool)
    scheduler.drain(5.0)
    stats = scheduler.stats
    assert in_flight > 0
    assert stats.started == stats.completed == len(finished) > 0
    assert stats.due == stats.started + stats.shed + stats.dropped_late
    started, due = stats.started, stats.due
    gevent.sleep(0.2)
    assert (stats.started, stats.due) == (started, due)  # nothing starts after the drain
    scheduler.stop()  # what test_stopping does afterwards: nothing left to kill or count
    assert (stats.started, stats.completed, stats.due) == (started, len(finished), due)


def test_generator_stall_makes_arrivals_late_or_dropped():
    plan = ArrivalPlan([CommuneRate("00004", "01", 100.0)], RateCurve.constant(), 3, 1.5)
    scheduler = ArrivalScheduler(plan, lambda a: None, late_after_s=0.1, drop_after_s=0.3)
    scheduler.start()
    gevent.sleep(0.2)
    time.sleep(0.6)  # not gevent-aware: blocks the whole loop, like a GC pause or saturated CPU
    scheduler.join(timeout=10)
    stats = scheduler.stats
    assert stats.dropped_late >= 20 and stats.late >= 5
    assert stats.behind_ratio > 0.2 and stats.achieved_ratio < 0.8
    assert stats.max_lateness_s >= 0.5


def test_failing_journey_is_counted_not_fatal():
    plan = ArrivalPlan([CommuneRate("00004", "01", 50.0)], RateCurve.constant(), 3, 0.5)

    def journey(arrival):
        raise RuntimeError("persona bug")

    scheduler = ArrivalScheduler(plan, journey)
    scheduler.start()
    scheduler.join(timeout=10)
    assert scheduler.stats.errors == scheduler.stats.started > 5 and scheduler.stats.completed == 0
