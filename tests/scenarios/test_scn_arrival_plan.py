"""The arrival schedule itself: Poisson gaps, shares by rate, per-arrival seeds, curves that
fall to zero, and the bounds every plan and pacer checks."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
from collections import Counter

import pytest

from scenarios.arrival_plan import ArrivalPlan, CommuneRate, RateCurve, hash_seed
from scenarios.arrivals import ArrivalScheduler, ArrivalStats
from scenarios.schedule import Pacing, Schedule


def test_gaps_between_arrivals_are_exponential_not_a_fixed_cadence() -> None:
    plan = ArrivalPlan([CommuneRate("00004", "01", 10.0)], RateCurve.constant(), seed=7, duration_s=1000)
    times = [t for t, _, _ in plan.offsets()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(0.1, rel=0.05)
    assert statistics.stdev(gaps) / mean == pytest.approx(1.0, abs=0.05)  # exponential: sd = mean
    assert sum(g < 0.1 for g in gaps) / len(gaps) == pytest.approx(1 - math.exp(-1), abs=0.02)


def test_each_commune_gets_its_share_of_arrivals_and_numbers_them_from_zero() -> None:
    communes = [CommuneRate("00004", "01", 3.0), CommuneRate("00007", "01", 1.0), CommuneRate("26734", "79", 0.0)]
    offsets = list(ArrivalPlan(communes, RateCurve.constant(2.0), seed=11, duration_s=500).offsets())
    counts = Counter(c.commune_code for _, c, _ in offsets)
    assert "26734" not in counts  # a commune with no rate never arrives
    assert counts["00004"] / counts["00007"] == pytest.approx(3.0, rel=0.1)
    assert len(offsets) == pytest.approx(4.0 * 2.0 * 500, rel=0.05)
    for code in ("00004", "00007"):
        assert [seq for _, c, seq in offsets if c.commune_code == code] == list(range(counts[code]))


def test_arrivals_are_anchored_at_the_wall_start_and_carry_reproducible_seeds() -> None:
    plan = ArrivalPlan([CommuneRate("00004", "01", 5.0), CommuneRate("00007", "01", 5.0)], RateCurve.constant(), 3, 20)
    first, again = list(plan.arrivals(1_000.0)), list(plan.arrivals(5_000.0))
    assert [a.intended_start - 1_000.0 for a in first] == pytest.approx([a.offset_s for a in first])
    assert [a.intended_start - a.offset_s for a in again] == pytest.approx([5_000.0] * len(again))
    assert [(a.commune_code, a.seq, a.seed) for a in first] == [(a.commune_code, a.seq, a.seed) for a in again]
    assert len({a.seed for a in first}) == len(first)
    a = first[0]
    assert a.seed == hash_seed(3, a.commune_code, a.seq) and 0 <= a.seed < 2**63
    assert [a.rng().random() for _ in range(2)] != [first[1].rng().random() for _ in range(2)]
    assert a.rng().random() == a.rng().random()  # a fresh generator each time, same draws


@pytest.mark.e2e
def test_arrival_seeds_are_the_same_in_every_process() -> None:
    """``hash()`` is salted per process; the per-arrival seed must not be (workers must agree)."""
    code = ("import json; from scenarios.arrival_plan import hash_seed; "
            "print(json.dumps([hash_seed(42, c, s) for c in ('00004', '26734') for s in range(3)]))")
    seeds = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       env={**os.environ, "PYTHONHASHSEED": salt}, timeout=60).stdout)
             for salt in ("1", "2")]
    assert seeds[0] == seeds[1] == [hash_seed(42, c, s) for c in ("00004", "26734") for s in range(3)]
    assert len(set(seeds[0])) == 6


def test_a_curve_that_falls_to_zero_stops_arrivals_and_one_that_returns_resumes_them() -> None:
    commune = [CommuneRate("00004", "01", 20.0)]
    closing = ArrivalPlan(commune, RateCurve(((0, 1.0), (10, 0.0))), seed=1, duration_s=100)
    times = [t for t, _, _ in closing.offsets()]
    assert times and max(times) < 10
    assert closing.curve.inverse(closing.curve.integral(10) + 1) == float("inf")
    lunch = ArrivalPlan(commune, RateCurve(((0, 1.0), (10, 1.0), (10.001, 0.0), (20, 0.0), (20.001, 1.0))), 1, 30)
    times = [t for t, _, _ in lunch.offsets()]
    assert not [t for t in times if 10.01 < t < 20]  # nobody arrives over lunch
    assert [t for t in times if t < 10] and [t for t in times if t > 20]


def test_expected_arrivals_stop_at_the_plan_end() -> None:
    plan = ArrivalPlan([CommuneRate("00004", "01", 2.0), CommuneRate("00007", "01", 1.0)],
                       RateCurve.morning_surge(10, 10, 10, peak=3.0, start=1.0), seed=1, duration_s=40)
    assert plan.expected_arrivals(10) == pytest.approx(3.0 * 20.0)  # ramp 1 → 3 over 10 s
    assert plan.expected_arrivals(1_000) == plan.expected_arrivals() == pytest.approx(3.0 * (20 + 30 + 20 + 10))
    assert plan.partition(0, 1).communes == plan.communes


def test_curve_queries_before_the_first_and_after_the_last_point() -> None:
    curve = RateCurve(((0, 2.0), (10, 4.0)))
    assert (curve.multiplier(0), curve.multiplier(5), curve.multiplier(10), curve.multiplier(99)) == (2.0, 3.0, 4.0, 4.0)
    assert curve.integral(20) == pytest.approx(30.0 + 40.0)
    assert curve.inverse(0.0) == 0.0 and curve.inverse(70.0) == pytest.approx(20.0)
    assert curve.compressed(2).points == ((0.0, 2.0), (5.0, 4.0))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: RateCurve.constant().compressed(0), "factor: expected > 0, got 0"),
    (lambda: ArrivalPlan([], RateCurve.constant(), 1, 0), "duration_s: expected > 0, got 0"),
    (lambda: ArrivalPlan([], RateCurve.constant(), 1, 5).partition(-1, 2), "worker index -1 outside 0..1"),
    (lambda: ArrivalScheduler(ArrivalPlan([], RateCurve.constant(), 1, 5), print, max_in_flight=0),
     "max_in_flight: expected >= 1, got 0"),
    (lambda: Pacing(Schedule(0.0), random.Random(1), 2, 1), "pacing: expected 0 <= low <= high seconds, got 2..1"),
])
def test_bounds_are_checked_with_the_field_named(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_stats_with_nothing_due_claim_neither_success_nor_lag() -> None:
    stats = ArrivalStats()
    assert (stats.on_time, stats.achieved_ratio, stats.behind_ratio) == (0, 1.0, 0.0)
    stats = ArrivalStats(due=10, started=8, late=2, dropped_late=1, shed=1)
    assert (stats.on_time, stats.achieved_ratio, stats.behind_ratio) == (6, 0.6, 0.3)


def test_an_empty_plan_ends_at_once_and_start_twice_runs_one_schedule() -> None:
    scheduler = ArrivalScheduler(ArrivalPlan([], RateCurve.constant(), 1, 5), lambda a: None)
    scheduler.start()
    scheduler.join(timeout=5)
    assert not scheduler.running and scheduler.stats == ArrivalStats()
    seen: list[int] = []
    busy = ArrivalScheduler(ArrivalPlan([CommuneRate("00004", "01", 40.0)], RateCurve.constant(), 1, 0.5),
                            lambda a: seen.append(a.seq))
    busy.start()
    busy.start()  # already running: ignored, not a second walk of the schedule
    busy.join(timeout=10)
    assert sorted(seen) == list(range(len(seen))) and len(seen) == busy.stats.started == busy.stats.due
