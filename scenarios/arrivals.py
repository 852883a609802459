"""Open-model arrivals in real time: start each citizen session when it is due, whatever
the response times.

A closed model ("N users, each waits for its answer") silently slows down with a slow
server. Here citizen sessions *arrive* on a schedule fixed in advance
(:class:`~scenarios.arrival_plan.ArrivalPlan`: per-commune Poisson arrivals shaped by a
:class:`~scenarios.arrival_plan.RateCurve`):

* one :class:`ArrivalScheduler` greenlet per worker walks the merged schedule and starts
  each journey in its own short-lived greenlet with the arrival's *intended* start time,
  where the journey's :class:`~scenarios.schedule.Schedule` begins;
* :func:`attach_arrivals` runs a scheduler on every load-generating node of a Locust run.

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
from scenarios.schedule import JourneyClosed, until_closed

JOURNEY_CLOSE_S = 1.0  # at the end of a run, how long journeys get to reach their next wait

__all__ = [
    "ArrivalStats",
    "ArrivalScheduler",
    "attach_arrivals",
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
        self._logged_errors = 0

    @property
    def running(self) -> bool:
        """Whether the scheduler greenlet is alive."""
        return self._greenlet is not None and not self._greenlet.dead

    def start(self) -> None:
        """Anchor the schedule at now and start walking it."""
        if self.running:
            return
        self._mono_start = time.monotonic()
        self._pending = self.plan.arrivals(time.time())
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
                self.stats.due += 1
                self.stats.dropped_late += 1
            self._pending = None

    def _run(self) -> None:
        stats, pool = self.stats, self.pool
        assert self._pending is not None  # noqa: S101 - set by start()
        burst = 0
        for arrival in self._pending:
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


def attach_arrivals(
    environment: Any, make_scheduler: Callable[[int, int], ArrivalScheduler]
) -> Callable[[], ArrivalScheduler | None]:
    """Run arrivals on every load-generating node of a Locust ``environment``.

    ``make_scheduler(worker_index, worker_count)`` is called on ``test_start`` on a local
    runner (0, 1) or on each worker (its index, ``--expect-workers``); never on the master.
    The scheduler is stopped on ``test_stopping``. Returns a getter of the current scheduler.
    """
    from locust.runners import MasterRunner, WorkerRunner

    holder: dict[str, ArrivalScheduler | None] = {"scheduler": None}

    def on_test_start(environment: Any, **_kw: Any) -> None:
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            return
        index, count = 0, 1
        if isinstance(runner, WorkerRunner):
            index = runner.worker_index
            count = max(int(getattr(environment.parsed_options, "expect_workers", 1) or 1), index + 1)
        scheduler = make_scheduler(index, count)
        holder["scheduler"] = scheduler
        scheduler.start()

    def on_test_stopping(environment: Any, **_kw: Any) -> None:
        scheduler = holder["scheduler"]
        if scheduler is not None:
            scheduler.drain(JOURNEY_CLOSE_S)  # journeys end at their next wait, last request answered
            scheduler.stop()  # whatever is still in flight after that (a hung request) is killed

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stopping.add_listener(on_test_stopping)
    return lambda: holder["scheduler"]
