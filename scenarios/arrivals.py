"""Open-model arrivals in real time: start each citizen session when it is due, whatever
the response times.

A closed model ("N users, each waits for its answer") silently slows down with a slow
server. Here citizen sessions *arrive* on a schedule fixed in advance
(:class:`~scenarios.arrival_plan.ArrivalPlan`: per-commune Poisson arrivals shaped by a
:class:`~scenarios.arrival_plan.RateCurve`):

* one :class:`ArrivalScheduler` greenlet per worker walks the merged schedule and starts
  each journey in its own short-lived greenlet with the arrival's *intended* start time,
  where the journey's :class:`~scenarios.schedule.Schedule` begins;
* :func:`attach_arrivals` runs a scheduler on every load-generating node of a Locust run;
  a worker plays the share of the communes the master deals it (:func:`start_dealt_share`).

Everything is bounded: in-flight journeys (beyond the cap an arrival is *shed* and
counted), lateness (an arrival due more than ``drop_after_s`` ago is *dropped* and
counted — the generator is behind), and the total duration.

Paced actors (officers, agencies) keep their intended starts with
:class:`scenarios.schedule.Pacing`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.pool

from scenarios.arrival_plan import Arrival, ArrivalPlan
from scenarios.dealing import ARRIVAL_SHARE_ROLE, RoleDealer, attach_dealer
from scenarios.schedule import JourneyClosed, until_closed

JOURNEY_CLOSE_S = 1.0  # at the end of a run, how long journeys get to reach their next wait

__all__ = [
    "ArrivalStats",
    "ArrivalScheduler",
    "attach_arrivals",
    "start_dealt_share",
]

logger = logging.getLogger(__name__)


@dataclass
class ArrivalStats:
    """What the scheduler did. ``achieved_ratio`` = on-time starts ÷ arrivals due."""

    due: int = 0  # arrivals whose intended time has passed
    started: int = 0
    late: int = 0  # started, but more than late_after_s after the intended time
    dropped_late: int = 0  # not started: more than drop_after_s behind (generator lag)
    shed: int = 0  # not started: in-flight cap reached (target slow or cap too low)
    completed: int = 0
    errors: int = 0  # journeys that raised
    max_in_flight: int = 0
    max_lateness_s: float = 0.0

    @property
    def on_time(self) -> int:
        """Arrivals started within ``late_after_s`` of their intended time."""
        return self.started - self.late

    @property
    def achieved_ratio(self) -> float:
        """On-time starts ÷ arrivals due (1.0 when nothing was due)."""
        return self.on_time / self.due if self.due else 1.0

    @property
    def behind_ratio(self) -> float:
        """Share of due arrivals the generator started late or dropped (its own lag)."""
        return (self.late + self.dropped_late) / self.due if self.due else 0.0


class ArrivalScheduler:
    """Starts ``journey(arrival)`` for every arrival of ``plan``, on time, in its own greenlet.

    ``start()`` spawns the scheduler greenlet; ``stop()`` kills it and every in-flight
    journey and counts arrivals that were due but never processed as dropped.
    """

    def __init__(
        self,
        plan: ArrivalPlan,
        journey: Callable[[Arrival], Any],
        max_in_flight: int = 2000,
        late_after_s: float = 0.5,
        drop_after_s: float = 5.0,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: expected >= 1, got {max_in_flight}")
        self.plan = plan
        self.journey = journey
        self.max_in_flight = max_in_flight
        self.late_after_s = late_after_s
        self.drop_after_s = drop_after_s
        self.stats = ArrivalStats()
        self.pool = gevent.pool.Pool()
        self.closing = gevent.event.Event()  # set by drain(): journeys end at their next wait
        self._greenlet: gevent.Greenlet | None = None
        self._pending: Iterator[Arrival] | None = None
        self._mono_start = 0.0
        self._resume_at_s = 0.0
        self._logged_errors = 0

    @property
    def running(self) -> bool:
        """Whether the scheduler greenlet is alive."""
        return self._greenlet is not None and not self._greenlet.dead

    def start(self, resume_at_s: float = 0.0) -> None:
        """Anchor the schedule at now and start walking it — from ``resume_at_s`` into it when
        this share is taken over mid-test: its earlier arrivals were its previous holder's
        (played, or lost with it), and are neither started nor counted here."""
        if self.running:
            return
        self._resume_at_s = max(0.0, resume_at_s)
        self._mono_start = time.monotonic() - self._resume_at_s
        self._pending = self.plan.arrivals(time.time() - self._resume_at_s)
        self._greenlet = gevent.spawn(self._run)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the schedule to end and every journey to finish."""
        if self._greenlet is not None:
            self._greenlet.join(timeout)
        self.pool.join(timeout)

    def stop(self) -> None:
        """Stop starting arrivals, kill in-flight journeys, account for the unprocessed."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
        self.pool.kill(block=True)
        self._close_schedule()

    def drain(self, timeout_s: float) -> None:
        """Stop starting arrivals and let the journeys in flight end (at most ``timeout_s``).

        The graceful counterpart of :meth:`stop`: journeys end at their next wait
        (:class:`~scenarios.schedule.JourneyClosed`), their request in flight answered, so
        what the target acknowledged and what the load recorded agree.
        """
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
        self._close_schedule()
        self.closing.set()
        self.pool.join(timeout_s)

    def _close_schedule(self) -> None:
        """Arrivals already due but never processed count as due and dropped late; later ones were never due."""
        elapsed = time.monotonic() - self._mono_start
        if self._pending is not None:
            for arrival in self._pending:
                if arrival.offset_s > elapsed:
                    break
                if arrival.offset_s < self._resume_at_s:
                    continue  # its previous holder's
                self.stats.due += 1
                self.stats.dropped_late += 1
            self._pending = None

    def _run(self) -> None:
        stats, pool = self.stats, self.pool
        assert self._pending is not None  # noqa: S101 - set by start()
        burst = skipped = 0
        for arrival in self._pending:
            if arrival.offset_s < self._resume_at_s:
                skipped += 1
                if skipped % 1000 == 0:
                    gevent.sleep(0)  # skipping a long past must not hold the loop
                continue
            delay = self._mono_start + arrival.offset_s - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
                burst = 0
            else:
                burst += 1
                if burst % 100 == 0:
                    gevent.sleep(0)  # behind schedule: catch up without starving the journeys
            lateness = time.monotonic() - self._mono_start - arrival.offset_s
            stats.due += 1
            stats.max_lateness_s = max(stats.max_lateness_s, lateness)
            if lateness > self.drop_after_s:
                stats.dropped_late += 1
                continue
            if len(pool) >= self.max_in_flight:
                stats.shed += 1
                continue
            if lateness > self.late_after_s:
                stats.late += 1
            stats.started += 1
            pool.spawn(self._run_journey, arrival)
            stats.max_in_flight = max(stats.max_in_flight, len(pool))
        self._pending = None

    def _run_journey(self, arrival: Arrival) -> None:
        until_closed(self.closing)
        try:
            self.journey(arrival)
        except JourneyClosed:
            self.stats.completed += 1  # ended at a wait because the run closed: a whole journey so far
        except gevent.GreenletExit:
            raise
        except Exception:
            # A failing journey is counted and logged (first few), never kills the schedule.
            self.stats.errors += 1
            if self._logged_errors < 5:
                self._logged_errors += 1
                logger.exception("arrival journey failed (commune %s)", arrival.commune_code)
        else:
            self.stats.completed += 1


def start_dealt_share(
    dealer: RoleDealer, make_scheduler: Callable[[int, int], ArrivalScheduler], expected_workers: int
) -> ArrivalScheduler:
    """Worker: start the scheduler of the arrival share the master deals this worker.

    The shares are ``ArrivalPlan.partition(share, N)`` for N = ``--expect-workers``, dealt
    by the master's :class:`~scenarios.dealing.RoleDealer` (lowest free first), not taken
    from Locust's worker index: Locust never reuses an index, so a worker replacing a dead
    one took ``partition(N, N + 1)`` — overlapping the others' communes (double arrivals)
    while the dead worker's went unplayed. Here the master takes back a departed worker's
    share and deals it again, with how far into the test it is (the new holder plays on from
    there); while all N shares are held, a worker waits and plays none. So the shares played
    stay the one seeded plan. Blocks until dealt: call it outside the worker's message loop.
    """
    share = dealer.deal_share(ARRIVAL_SHARE_ROLE)
    count = share.size or max(expected_workers, share.index + 1)  # a master told no size
    scheduler = make_scheduler(share.index, count)
    if share.resume_at_s > 0:
        logger.warning("playing arrival share %d of %d from %.1f s into the test: its previous worker left",
                       share.index, count, share.resume_at_s)
    scheduler.start(share.resume_at_s)
    return scheduler


@dataclass
class _Playing:
    """One node's arrivals in the current test."""

    scheduler: ArrivalScheduler | None = None
    asking: gevent.Greenlet | None = None  # a worker waiting for its share


def attach_arrivals(
    environment: Any, make_scheduler: Callable[[int, int], ArrivalScheduler], dealer: RoleDealer | None = None
) -> Callable[[], ArrivalScheduler | None]:
    """Run arrivals on every load-generating node of a Locust ``environment``.

    ``make_scheduler(share, share_count)`` is called on ``test_start`` on a local runner
    (0, 1), or on each worker with the share its master deals it (:func:`start_dealt_share`,
    through ``dealer`` — by default the environment's own, :func:`~scenarios.dealing.attach_dealer`);
    never on the master. The scheduler is stopped on ``test_stopping``. Returns a getter of
    the current scheduler (None while a worker holds no share).
    """
    from locust.runners import MasterRunner, WorkerRunner

    playing = _Playing()
    if dealer is None and isinstance(environment.runner, (MasterRunner, WorkerRunner)):
        dealer = attach_dealer(environment)  # the master deals the shares, the workers ask

    def on_test_start(environment: Any, **_kw: Any) -> None:
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            return
        playing.scheduler = None
        if isinstance(runner, WorkerRunner):
            expected = int(getattr(environment.parsed_options, "expect_workers", 1) or 1)
            share_dealer = dealer or attach_dealer(environment)

            def play_share() -> None:
                playing.scheduler = start_dealt_share(share_dealer, make_scheduler, expected)

            # test_start fires inside the worker's message loop, which must stay free to
            # receive the master's answer.
            playing.asking = gevent.spawn(play_share)
            return
        scheduler = make_scheduler(0, 1)
        playing.scheduler = scheduler
        scheduler.start()

    def on_test_stopping(environment: Any, **_kw: Any) -> None:
        if playing.asking is not None:
            playing.asking.kill(block=True)  # still waiting for a share: it plays none
            playing.asking = None
        scheduler = playing.scheduler
        if scheduler is not None:
            scheduler.drain(JOURNEY_CLOSE_S)  # journeys end at their next wait, last request answered
            scheduler.stop()  # whatever is still in flight after that (a hung request) is killed

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stopping.add_listener(on_test_stopping)
    return lambda: playing.scheduler
