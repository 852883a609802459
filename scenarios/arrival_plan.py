"""The open-model arrival schedule: rate curves and per-commune Poisson arrival times.

Pure schedule arithmetic — no clock, no greenlets — so it is deterministic and cheap to
test; :mod:`scenarios.arrivals` walks the schedule in real time.

* every commune has a base rate (arrivals/s); a :class:`RateCurve` multiplies it over
  time (morning surge, then office-hours steady state; time compressible);
* each commune's arrival times are a non-homogeneous Poisson process drawn from its own
  RNG seeded by ``(seed, commune code)`` — deterministic, and independent of every other
  commune, so splitting communes across workers (:meth:`ArrivalPlan.partition`) yields
  exactly the same arrivals as one worker.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "RateCurve",
    "CommuneRate",
    "Arrival",
    "ArrivalPlan",
]


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
        for (t0, _), (t1, _) in itertools.pairwise(pts):
            if t1 <= t0:
                raise ValueError(f"points: times must increase, got {t0} then {t1}")
        if any(m < 0 for _, m in pts):
            raise ValueError("points: multipliers must be >= 0")
        cum = [0.0]
        for (t0, m0), (t1, m1) in itertools.pairwise(pts):
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
