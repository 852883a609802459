"""Open-model arrivals: per-commune Poisson schedules that ignore response times.

A closed model ("N users, each waits for its answer") silently slows down with a slow
server. Here citizen sessions *arrive* on a schedule fixed in advance:

* every commune has a base rate (arrivals/s); a :class:`RateCurve` multiplies it over
  time (morning surge, then office-hours steady state; time compressible);
* each commune's arrival times are a non-homogeneous Poisson process drawn from its own
  RNG seeded by ``(seed, commune code)`` — deterministic, and independent of every other
  commune, so splitting communes across workers (:meth:`ArrivalPlan.partition`) yields
  exactly the same arrivals as one worker;
* one :class:`ArrivalScheduler` greenlet per worker walks the merged schedule and starts
  each journey in its own short-lived greenlet with the arrival's *intended* start time,
  which the journey passes on to every request (``scenarios.latency.request_context``).

Everything is bounded: in-flight journeys (beyond the cap an arrival is *shed* and
counted), lateness (an arrival due more than ``drop_after_s`` ago is *dropped* and
counted — the generator is behind), and the total duration.

For closed-model actors (officers: one action every N seconds) :class:`Pacer` gives the
same intended-start bookkeeping on a fixed cadence.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.pool

__all__ = [
    "RateCurve",
    "CommuneRate",
    "Arrival",
    "ArrivalPlan",
    "ArrivalStats",
    "ArrivalScheduler",
    "Pacer",
    "attach_arrivals",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateCurve:
    """A piecewise-linear rate multiplier ``m(t)`` over run time (seconds).

    ``points`` are ``(t_s, multiplier)`` with increasing ``t_s``, the first at 0; after the
    last point the multiplier stays constant. Arrivals of a commune with base rate ``r``
    follow a Poisson process of rate ``r·m(t)``.
    """

    points: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    _cum: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pts = tuple((float(t), float(m)) for t, m in self.points)
        if not pts or pts[0][0] != 0.0:
            raise ValueError("points: the first point must be at t=0")
        for (t0, _), (t1, _) in zip(pts, pts[1:]):
            if t1 <= t0:
                raise ValueError(f"points: times must increase, got {t0} then {t1}")
        if any(m < 0 for _, m in pts):
            raise ValueError("points: multipliers must be >= 0")
        cum = [0.0]
        for (t0, m0), (t1, m1) in zip(pts, pts[1:]):
            cum.append(cum[-1] + (m0 + m1) / 2 * (t1 - t0))
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "_cum", tuple(cum))

    @classmethod
    def constant(cls, multiplier: float = 1.0) -> RateCurve:
        """A flat curve."""
        return cls(((0.0, multiplier),))

    @classmethod
    def morning_surge(
        cls, ramp_s: float, surge_s: float, settle_s: float, peak: float = 3.0, start: float = 0.2
    ) -> RateCurve:
        """Doors open: ``start`` → ``peak`` over ``ramp_s``, hold ``surge_s``, settle to 1.0
        (office-hours steady state) over ``settle_s``, then steady."""
        return cls(
            (
                (0.0, start),
                (ramp_s, peak),
                (ramp_s + surge_s, peak),
                (ramp_s + surge_s + settle_s, 1.0),
            )
        )

    def compressed(self, factor: float) -> RateCurve:
        """The same shape ``factor`` times faster (times divided, multipliers kept)."""
        if factor <= 0:
            raise ValueError(f"factor: expected > 0, got {factor}")
        return RateCurve(tuple((t / factor, m) for t, m in self.points))

    def multiplier(self, t: float) -> float:
        """``m(t)``."""
        pts = self.points
        i = bisect.bisect_right([p[0] for p in pts], t) - 1
        if i >= len(pts) - 1:
            return pts[-1][1]
        (t0, m0), (t1, m1) = pts[i], pts[i + 1]
        return m0 + (m1 - m0) * (t - t0) / (t1 - t0)

    def integral(self, t: float) -> float:
        """``M(t) = ∫₀ᵗ m``."""
        pts, cum = self.points, self._cum
        i = bisect.bisect_right([p[0] for p in pts], t) - 1
        t0, m0 = pts[i]
        if i >= len(pts) - 1:
            return cum[i] + m0 * (t - t0)
        t1, m1 = pts[i + 1]
        slope = (m1 - m0) / (t1 - t0)
        dt = t - t0
        return cum[i] + m0 * dt + slope * dt * dt / 2

    def inverse(self, u: float) -> float:
        """The ``t`` with ``M(t) = u`` (``inf`` if the curve never reaches ``u``)."""
        pts, cum = self.points, self._cum
        i = bisect.bisect_right(cum, u) - 1
        # Skip flat-zero stretches: find the segment where M actually reaches u.
        t0, m0 = pts[i]
        du = u - cum[i]
        if i >= len(pts) - 1:
            return t0 + du / m0 if m0 > 0 else math.inf
        t1, m1 = pts[i + 1]
        slope = (m1 - m0) / (t1 - t0)
        if abs(slope) < 1e-12:
            return t0 + du / m0 if m0 > 0 else t1
        disc = m0 * m0 + 2 * slope * du
        return t0 + (-m0 + math.sqrt(max(disc, 0.0))) / slope


@dataclass(frozen=True, slots=True)
class CommuneRate:
    """A commune's base arrival rate (citizen sessions per second at multiplier 1)."""

    commune_code: str
    province_code: str
    rate_per_s: float


@dataclass(frozen=True, slots=True)
class Arrival:
    """One citizen session due at ``intended_start`` (``time.time()`` seconds)."""

    commune_code: str
    province_code: str
    offset_s: float  # intended start since the schedule began
    intended_start: float
    seq: int  # n-th arrival of this commune (0-based)
    seed: int  # deterministic per (plan seed, commune, seq): pick the citizen from it

    def rng(self) -> random.Random:
        """A random generator private to this arrival (deterministic)."""
        return random.Random(self.seed)  # noqa: S311 - test data, not cryptography


class ArrivalPlan:
    """The merged, time-ordered Poisson schedule of a set of communes."""

    def __init__(self, communes: Sequence[CommuneRate], curve: RateCurve, seed: int, duration_s: float) -> None:
        if duration_s <= 0:
            raise ValueError(f"duration_s: expected > 0, got {duration_s}")
        self.communes = tuple(communes)
        self.curve = curve
        self.seed = seed
        self.duration_s = duration_s

    def partition(self, index: int, count: int) -> ArrivalPlan:
        """This worker's share: communes dealt largest-rate-first to the least-loaded
        worker, so shares are balanced and disjoint, and their union is this plan."""
        if not 0 <= index < count:
            raise ValueError(f"worker index {index} outside 0..{count - 1}")
        loads = [(0.0, w) for w in range(count)]
        mine = []
        for commune in sorted(self.communes, key=lambda c: (-c.rate_per_s, c.commune_code)):
            load, worker = heapq.heappop(loads)
            if worker == index:
                mine.append(commune)
            heapq.heappush(loads, (load + commune.rate_per_s, worker))
        return ArrivalPlan(mine, self.curve, self.seed, self.duration_s)

    def expected_arrivals(self, until_s: float | None = None) -> float:
        """Expected number of arrivals up to ``until_s`` (default: the whole plan)."""
        until = self.duration_s if until_s is None else min(until_s, self.duration_s)
        return sum(c.rate_per_s for c in self.communes) * self.curve.integral(until)

    def offsets(self) -> Iterator[tuple[float, CommuneRate, int]]:
        """``(offset_s, commune, seq)`` in time order, up to ``duration_s``."""
        heap: list[tuple[float, int, float, int]] = []
        rngs = []
        for i, commune in enumerate(self.communes):
            rng = random.Random(f"{self.seed}:{commune.commune_code}")  # noqa: S311 - schedule, not crypto
            rngs.append(rng)
            if commune.rate_per_s > 0:
                u = rng.expovariate(commune.rate_per_s)
                heapq.heappush(heap, (self.curve.inverse(u), i, u, 0))
        while heap:
            t, i, u, seq = heapq.heappop(heap)
            if t > self.duration_s:
                return  # every later entry is later still
            commune = self.communes[i]
            yield t, commune, seq
            u += rngs[i].expovariate(commune.rate_per_s)
            heapq.heappush(heap, (self.curve.inverse(u), i, u, seq + 1))

    def arrivals(self, wall_start: float) -> Iterator[Arrival]:
        """The plan as :class:`Arrival`\\ s, intended starts anchored at ``wall_start``."""
        for offset, commune, seq in self.offsets():
            yield Arrival(
                commune_code=commune.commune_code,
                province_code=commune.province_code,
                offset_s=offset,
                intended_start=wall_start + offset,
                seq=seq,
                seed=hash_seed(self.seed, commune.commune_code, seq),
            )


def hash_seed(seed: int, commune_code: str, seq: int) -> int:
    """A stable 63-bit seed for one arrival (``hash()`` is salted per process; this is not)."""
    value = 1469598103934665603
    for byte in f"{seed}:{commune_code}:{seq}".encode():
        value = ((value ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return value >> 1


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
        try:
            self.journey(arrival)
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


class Pacer:
    """Intended start times on a fixed cadence, for closed-model actors (officers).

    ``wait_next()`` sleeps until the next slot and returns its intended start
    (``time.time()`` seconds). When the actor is behind (its last action stalled), the
    missed slots are returned at once, each with its own — now past — intended start, so
    intended-start latency shows the stall; slots more than ``max_catch_up_s`` behind are
    skipped and counted in :attr:`missed`.
    """

    def __init__(self, interval_s: float, phase_s: float = 0.0, max_catch_up_s: float = 30.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s: expected > 0, got {interval_s}")
        self.interval_s = interval_s
        self.max_catch_up_s = max_catch_up_s
        self._mono0 = time.monotonic() + phase_s
        self._wall0 = time.time() + phase_s
        self._k = 0
        self.missed = 0

    def wait_next(self) -> float:
        """Block (cooperatively) until the next slot; return its intended start."""
        now = time.monotonic()
        due = self._mono0 + self._k * self.interval_s
        behind = now - due
        if behind > self.max_catch_up_s:
            skip = int((behind - self.max_catch_up_s) / self.interval_s) + 1
            self.missed += skip
            self._k += skip
            due = self._mono0 + self._k * self.interval_s
        elif behind < 0:
            gevent.sleep(-behind)
        intended = self._wall0 + self._k * self.interval_s
        self._k += 1
        return intended


def attach_arrivals(environment: Any, make_scheduler: Callable[[int, int], ArrivalScheduler]) -> Callable[[], ArrivalScheduler | None]:
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
            scheduler.stop()

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stopping.add_listener(on_test_stopping)
    return lambda: holder["scheduler"]
