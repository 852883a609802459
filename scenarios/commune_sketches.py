"""Recording the per-commune latency sketches (:mod:`kernel.commune_latency`) during a run.

Two stores, because a load process records and the run keeps in different ways:

* the **window** — what was recorded since the last drain: per commune touched, a plain
  ``{slot: count}`` dict of HDR slots at 2 significant digits. Recording costs a slot
  computed inline and a dict update; a worker hands the window to the master every 2 s
  as it is (msgpack carries dicts with integer keys);
* the **whole run** — every commune's counts since the start, each held as one array of
  32-bit counts over the slot range it uses (:class:`CompactSketch`). The master adds the
  workers' windows into it; a local runner folds its own window into it every 2 s
  (``scenarios.distributed``). Slot indices and counts are the HDR histogram's own, so
  the window, the wire, the whole-run store and ``communes.hdr`` agree exactly.

Why this, measured by ``bench/commune_latency.py`` (3,321 communes; BENCHMARKS.md):

* **DDSketch** (``ddsketch``, 1 %) costs 2.7 µs a record in pure Python against 0.6 µs
  for an HDR slot, its worst p95 error was 1.0 % against the HDR slots' 0.77 %, and its
  own serialisation needs protobuf (it does hold a commune in fewer bins: 36 MB for the
  whole run at 3,000 requests per commune, within budget too);
* **sparse HDR sketches held for the whole run** (a dict entry per slot) take 117 MB at
  1,000 requests per commune and 205 MB at 3,000, over the 50 MB a process may spend;
  ``hdrh``'s dense histograms 92 MB whatever they hold; the compact arrays 18 MB and 17 MB;
* **the standard V2 encoding** (``latency.hdr``'s, readable by any HdrHistogram tool) is
  kept for the file, written once; on the wire it would cost 12 µs per commune per drain
  (zlib), 2 % of a core for 3,321 communes every 2 s, against 0.1 % for the dict.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping

from kernel.commune_latency import SIGNIFICANT_FIGURES, new_commune_sketch
from kernel.hdr import HIGHEST_TRACKABLE_US, SparseHistogram, slot_layout

__all__ = ["CompactSketch", "CommuneSketches", "CommuneSlots"]

#: What the per-commune sketches travel as: commune code → {slot: count}. msgpack carries
#: it as it is (Locust unpacks with ``strict_map_key=False``, so integer keys survive).
CommuneSlots = dict[str, dict[int, int]]

# 32-bit counts: one slot of one commune would need 4 billion requests to overflow (and
# array would raise, not wrap). Half the memory of 64-bit counts.
_COUNT_TYPE = "I"
_HALF_MAG, _MASK, _HALF_COUNT = slot_layout(SIGNIFICANT_FIGURES)
_SHIFT = _HALF_MAG + 1


class CompactSketch:
    """HDR slot counts (2 significant digits) in one array over the slot range in use.

    A commune's latencies span a few doublings, 128 slots each; the array holds that
    range and no dict entry per slot. The whole 1 µs – 1 h range would be ≈ 3,300 slots
    (13 KB), the bound for a commune whose requests spread over all of it.
    """

    __slots__ = ("counts", "offset", "total")

    def __init__(self) -> None:
        self.counts = array(_COUNT_TYPE)
        self.offset = 0
        self.total = 0

    def add_slots(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Add ``count`` to each ``slot`` of ``(slot, count)`` pairs."""
        counts = self.counts
        for slot, count in pairs:
            position = slot - self.offset
            if not counts:
                self.offset, position = slot, 0
                counts.append(0)
            elif position < 0:
                counts[0:0] = array(_COUNT_TYPE, bytes(counts.itemsize * -position))
                self.offset, position = slot, 0
            elif position >= len(counts):
                counts.frombytes(bytes(counts.itemsize * (position - len(counts) + 1)))
            counts[position] += count
            self.total += count

    def slot_counts(self) -> dict[int, int]:
        """The non-zero slots as ``{slot: count}`` (the wire form)."""
        offset = self.offset
        return {offset + position: count for position, count in enumerate(self.counts) if count}

    def to_histogram(self) -> SparseHistogram:
        """The same counts as a :class:`~kernel.hdr.SparseHistogram` (to read or encode)."""
        sketch = new_commune_sketch()
        sketch.counts = self.slot_counts()
        sketch.total = self.total
        return sketch


class CommuneSketches:
    """Per-commune latency sketches of one load process: a window and the whole run."""

    __slots__ = ("whole_run", "window")

    def __init__(self) -> None:
        self.window: CommuneSlots = {}
        self.whole_run: dict[str, CompactSketch] = {}

    def record(self, commune: str, value_us: int) -> None:
        """Record one request of ``commune`` that took ``value_us`` microseconds.

        The slot is computed inline (``kernel.hdr.slot_layout``) into a plain dict: this
        runs for every request a worker makes, and a sketch object per commune per
        window, or a method call per record, cost measurably more (BENCHMARKS.md).
        """
        slots = self.window.get(commune)
        if slots is None:
            slots = self.window[commune] = {}
        if value_us > HIGHEST_TRACKABLE_US:
            value_us = HIGHEST_TRACKABLE_US  # clamped like SparseHistogram.record: a stall counts as very slow
        elif value_us < 0:
            value_us = 0
        bucket = (value_us | _MASK).bit_length() - _SHIFT
        slot = ((bucket + 1) << _HALF_MAG) + (value_us >> bucket) - _HALF_COUNT
        slots[slot] = slots.get(slot, 0) + 1

    def fold(self) -> None:
        """Move the window into the whole-run store (what a local runner does every 2 s)."""
        window, self.window = self.window, {}
        whole_run = self.whole_run
        for commune, slots in window.items():
            store = whole_run.get(commune)
            if store is None:
                store = whole_run[commune] = CompactSketch()
            store.add_slots(slots.items())

    def drain(self) -> CommuneSlots:
        """Everything held (window and whole run) as ``{commune: {slot: count}}``; both
        stores are emptied. A worker only ever holds a window, which is handed over as is."""
        window, whole_run = self.window, self.whole_run
        self.window, self.whole_run = {}, {}
        for commune, store in whole_run.items():
            slots = window.setdefault(commune, {})
            for slot, count in store.slot_counts().items():
                slots[slot] = slots.get(slot, 0) + count
        return window

    def absorb(self, communes: Mapping[str, Mapping[int, int]]) -> None:
        """Add a worker's drain into the whole-run store — exactly."""
        whole_run = self.whole_run
        for commune, slots in communes.items():
            store = whole_run.get(commune)
            if store is None:
                store = whole_run[commune] = CompactSketch()
            store.add_slots(slots.items())

    def sketches(self) -> dict[str, SparseHistogram]:
        """Every commune's whole-run sketch (the window folded in first)."""
        if self.window:
            self.fold()
        return {commune: store.to_histogram() for commune, store in self.whole_run.items() if store.total}
