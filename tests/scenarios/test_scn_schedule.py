"""An actor's intended timeline: requests move it on by their duration, planned pauses by
their length, unplanned waits not at all; paced actors are due on ticks and catch up at
once when late; a closing run ends journeys at their next wait (the HTTP layer's
stamping is tested in test_scn_adapters.py, a stall behind pacing in
test_scn_coordinated_omission.py)."""

from __future__ import annotations

import random
import time

import gevent
import pytest

from scenarios.arrival_plan import ArrivalPlan, CommuneRate, RateCurve
from scenarios.arrivals import ArrivalScheduler
from scenarios.schedule import JourneyClosed, Pacing, Schedule, current_schedule, follow, until_closed


def test_requests_and_planned_pauses_move_the_schedule_unplanned_waits_do_not() -> None:
    schedule = Schedule(100.0)
    schedule.request_done(0.25)
    schedule.request_done(-1.0)  # a clock step backwards never moves it back
    assert schedule.intended == 100.25
    schedule.pause(0.01)
    assert schedule.intended == pytest.approx(100.26)
    schedule.wait(0.01)
    assert schedule.intended == pytest.approx(100.26)


def test_the_schedule_belongs_to_the_greenlet_that_follows_it() -> None:
    mine = Schedule(1.0)
    follow(mine)
    seen = gevent.spawn(current_schedule).get()
    assert current_schedule() is mine and seen is None  # another actor's greenlet has its own (none)
    follow(None)
    assert current_schedule() is None


def test_a_paced_actor_is_due_on_ticks_and_catches_up_at_once_with_past_intended_starts() -> None:
    start = time.time()
    schedule = Schedule(start)
    pacing = Pacing(schedule, random.Random(1), 0.05, 0.05)
    # ≤ 0.05, not > 0: a busy machine may stall this test past the first tick already.
    assert 0 <= pacing.wait() <= 0.05 and schedule.intended == pytest.approx(start + 0.05)
    time.sleep(0.3)  # the actor's last action stalled for six ticks
    behind = []
    for _ in range(3):
        assert pacing.wait() == 0.0  # late: act at once
        behind.append(schedule.intended)
    assert behind == pytest.approx([start + 0.10, start + 0.15, start + 0.20])
    assert time.time() - behind[0] >= 0.2  # each intended start is in the past: the stall counts


def test_a_closing_run_ends_a_wait_with_journey_closed() -> None:
    closing = gevent.event.Event()

    def journey() -> str:
        until_closed(closing)
        try:
            Schedule(0.0).pause(30)
        except JourneyClosed:
            return "closed"
        return "slept"

    actor = gevent.spawn(journey)
    gevent.sleep(0.05)
    closing.set()
    assert actor.get(timeout=10) == "closed"


def test_draining_the_scheduler_ends_every_journey_at_its_next_wait() -> None:
    """At the end of a run no journey is killed mid-request: each ends at its next wait."""
    plan = ArrivalPlan([CommuneRate("00004", "01", 50.0)], RateCurve.constant(), 3, 10.0)
    requests_done: list[int] = []

    def journey(arrival) -> None:
        schedule = Schedule(arrival.intended_start)
        follow(schedule)
        requests_done.append(1)
        schedule.pause(30)  # a status poll far beyond the end of the run
        requests_done.append(2)

    scheduler = ArrivalScheduler(plan, journey)
    scheduler.start()
    gevent.sleep(0.3)
    scheduler.drain(10.0)
    stats = scheduler.stats
    assert len(scheduler.pool) == 0  # none left to kill
    assert stats.started == stats.completed == len(requests_done) > 0 and 2 not in requests_done
