"""Garbage-collector tuning for the load generator, and pause measurement.

With thousands of live users, full collections pause the process 0.25–1 s, which shows up
as fake server latency and late arrivals (``../shared/PERF-NOTES.md``). While users
spawn, and once spawning is complete, the long-lived objects (users, sessions, pools, the
roster) are frozen into the permanent generation with ``gc.freeze()``, so later
collections skip them; the
generation-0 threshold can also be raised so short-lived request garbage is collected
less often. :class:`GcMonitor` measures every collection's pause through
``gc.callbacks`` so the effect is reported, not assumed.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from typing import Any

import gevent

from kernel.hdr import SparseHistogram

__all__ = ["GcStats", "GcMonitor", "freeze_long_lived", "attach_gc_tuning", "FREEZE_WHILE_SPAWNING_S", "FREEZE_STEADY_S"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GcStats:
    """Collector pauses seen since the monitor started (milliseconds)."""

    collections: int
    max_pause_ms: float
    p99_pause_ms: float
    total_pause_ms: float
    max_pause_generation: int | None
    frozen_objects: int | None  # None: not counted (see GcMonitor.snapshot)
    frozen: bool
    steady_max_pause_ms: float = 0.0  # worst pause after spawning completed (what the freeze is for)


class GcMonitor:
    """Times every garbage collection via ``gc.callbacks`` (install with :meth:`start`)."""

    def __init__(self) -> None:
        self._started_at: float | None = None
        self.collections = 0
        self.total_pause_s = 0.0
        self.max_pause_s = 0.0
        self.max_pause_generation: int | None = None
        self.pauses = SparseHistogram()  # µs
        self.frozen = False
        self.steady = False  # set once spawning completes
        self.steady_max_pause_s = 0.0
        self._active = False

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started_at = time.perf_counter()
            return
        if self._started_at is None:
            return
        pause = time.perf_counter() - self._started_at
        self._started_at = None
        self.collections += 1
        self.total_pause_s += pause
        self.pauses.record(int(pause * 1_000_000))
        if pause > self.max_pause_s:
            self.max_pause_s = pause
            self.max_pause_generation = info.get("generation")
        if self.steady and pause > self.steady_max_pause_s:
            self.steady_max_pause_s = pause

    def start(self) -> GcMonitor:
        """Begin timing collections (idempotent)."""
        if not self._active:
            gc.callbacks.append(self._callback)
            self._active = True
        return self

    def stop(self) -> None:
        """Stop timing collections."""
        if self._active:
            gc.callbacks.remove(self._callback)
            self._active = False

    def reset(self) -> None:
        """Forget pauses seen so far (e.g. those of the spawn phase)."""
        self.collections = 0
        self.total_pause_s = self.max_pause_s = 0.0
        self.max_pause_generation = None
        self.pauses = SparseHistogram()

    def snapshot(self, *, count_frozen: bool = True) -> GcStats:
        """The pauses measured so far, and the objects now frozen unless ``count_frozen`` is
        false: ``gc.get_freeze_count()`` walks the whole permanent generation (17 ms at 2 M
        objects, a worker's size in a soak, against 0.002 ms uncounted:
        ``bench/spawn_messages.py``), which the generator's health report, sent every
        second, does not need."""
        return GcStats(
            collections=self.collections,
            max_pause_ms=round(self.max_pause_s * 1000, 3),
            p99_pause_ms=self.pauses.value_at_percentile(99.0) / 1000,
            total_pause_ms=round(self.total_pause_s * 1000, 3),
            max_pause_generation=self.max_pause_generation,
            frozen_objects=gc.get_freeze_count() if count_frozen else None,
            frozen=self.frozen,
            steady_max_pause_ms=round(self.steady_max_pause_s * 1000, 3),
        )


#: While users spawn, what is alive is frozen this often (see :func:`attach_gc_tuning`).
FREEZE_WHILE_SPAWNING_S = 2.0
#: Once spawning is complete, what is alive is frozen this often (see :func:`_freeze_steadily`).
FREEZE_STEADY_S = 30.0


def freeze_long_lived(gen0_threshold: int | None = None, *, collect: bool = True) -> int:
    """``gc.collect(); gc.freeze()`` (``collect=False``: the freeze alone) and optionally
    raise the generation-0 threshold.

    Returns the number of objects now in the permanent generation.
    """
    if collect:
        gc.collect()
    gc.freeze()
    if gen0_threshold is not None:
        _g0, g1, g2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, g1, g2)
    return gc.get_freeze_count()


def attach_gc_tuning(
    environment: Any, monitor: GcMonitor | None = None, gen0_threshold: int | None = None, *, freeze: bool = True
) -> GcMonitor:
    """Start a :class:`GcMonitor` now and freeze long-lived objects on ``spawning_complete``.

    Pauses measured during spawning are kept (they are real); from ``spawning_complete`` on
    the monitor also tracks the steady-state worst pause, the figure the freeze improves.
    ``freeze=False`` (``DIENTAP_GC_FREEZE=0``) leaves the collector alone, to measure the effect.
    """
    monitor = (monitor or GcMonitor()).start()
    freezer = gevent.spawn(_freeze_while_spawning) if freeze else None

    def on_spawning_complete(**_kwargs: Any) -> None:
        before = monitor.snapshot()
        if not freeze:
            monitor.steady = True
            logger.info("gc: freeze disabled (worst pause so far %.1f ms)", before.max_pause_ms)
            return
        if freezer is not None:
            freezer.kill(block=False)
        # No collection first: with 16,000 users a full collection here stalled a worker
        # for 1.5 s in the middle of a national run; what spawning left is frozen as is.
        frozen = freeze_long_lived(gen0_threshold, collect=False)
        monitor.steady = True
        monitor.frozen = True
        gevent.spawn(_freeze_steadily)
        logger.info(
            "gc: froze %d long-lived objects after spawning (worst pause so far %.1f ms)",
            frozen,
            before.max_pause_ms,
        )

    environment.events.spawning_complete.add_listener(on_spawning_complete)
    return monitor


def _freeze_steadily() -> None:
    """Freeze what is alive every :data:`FREEZE_STEADY_S` for the rest of the run.

    After the spawn, what survives collections (caches of tokens and catalogues, the
    ledger's and players' records, long journeys) piles up in the oldest generation, and
    each full collection walks all of it (a ten-minute national run's worst pause after the
    spawn was 0.52–0.54 s per worker, #14). Freezing it every half minute keeps what a full
    collection walks to half a minute's survivors. The price is the same as while spawning:
    cyclic garbage alive at a freeze is kept (a young generation's worth at most, each time).
    """
    while True:
        gevent.sleep(FREEZE_STEADY_S)
        gc.freeze()


def _freeze_while_spawning() -> None:
    """Freeze what is alive every :data:`FREEZE_WHILE_SPAWNING_S` until spawning completes.

    A national run spawns 33,000 users over minutes; every time the heap grew by a
    quarter, Python ran a full collection over all of it — 2.1 s at the end of a golive
    ×10 spawn, a stall that distrusts the run. Frozen objects are skipped by every later
    collection, so each full collection only walks what arrived since the last freeze.
    The price: cyclic garbage alive at a freeze is never collected, which over a spawn
    is a few megabytes (request garbage is freed by reference counting).
    """
    while True:
        gevent.sleep(FREEZE_WHILE_SPAWNING_S)
        gc.freeze()
