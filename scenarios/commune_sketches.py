"""Recording the per-commune latency sketches (:mod:`kernel.commune_latency`) during a run.

Two stores, because a load process records and the run keeps in different ways:

* the **window** — what was recorded since the last drain: one sparse HDR sketch
  (2 significant digits) per commune touched. Recording into it costs a dict update; a
  worker drains it every 2 s to the master as flat ``[slot, count, slot, count …]``
  lists, which msgpack carries as they are;
* the **whole run** — every commune's counts since the start, each held as one array of
  32-bit counts over the slot range it uses (:class:`CompactSketch`). The master adds the
  workers' slot lists into it; a local runner folds its own window into it every 2 s
  (``scenarios.distributed``). Slot indices and counts are the HDR histogram's own, so
  both stores, the wire and ``communes.hdr`` agree exactly.

Why this and not DDSketch (``ddsketch``, 1 %) or plain sparse HDR sketches for the whole
run, measured by ``bench/commune_latency.py`` (figures in BENCHMARKS.md): ``ddsketch``'s
pure-Python ``add`` costs ≈ 4× a sparse HDR record, and its own serialisation needs
protobuf; sparse HDR sketches held for the whole run take ≈ 117 MB for 3,321 communes at
1,000 requests each (a Python dict entry per slot), the compact arrays ≈ 5× less. And the
HDR histogram's standard V2 encoding (also ``latency.hdr``'s) is read by any HdrHistogram
tool, where encoding a sketch per commune per 2-s drain would cost ≈ 75 µs each (zlib):
hence flat slot lists on the wire and V2 only in the file, once.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from itertools import chain

from kernel.commune_latency import new_commune_sketch
from kernel.hdr import SparseHistogram

__all__ = ["CompactSketch", "CommuneSketches", "SlotRow"]

#: What one commune's sketch travels as: (commune code, [slot, count, slot, count …]).
SlotRow = tuple[str, list[int]]

# 32-bit counts: one slot of one commune would need 4 billion requests to overflow (and
# array would raise, not wrap). Half the memory of 64-bit counts.
_COUNT_TYPE = "I"


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

    def slot_pairs(self) -> list[int]:
        """The non-zero slots as a flat ``[slot, count, …]`` list (the wire form)."""
        offset = self.offset
        return [value for position, count in enumerate(self.counts) if count for value in (offset + position, count)]

    def to_histogram(self) -> SparseHistogram:
        """The same counts as a :class:`~kernel.hdr.SparseHistogram` (to read or encode)."""
        sketch = new_commune_sketch()
        offset = self.offset
        sketch.counts = {offset + position: count for position, count in enumerate(self.counts) if count}
        sketch.total = self.total
        return sketch


class CommuneSketches:
    """Per-commune latency sketches of one load process: a window and the whole run."""

    __slots__ = ("whole_run", "window")

    def __init__(self) -> None:
        self.window: dict[str, SparseHistogram] = {}
        self.whole_run: dict[str, CompactSketch] = {}

    def record(self, commune: str, value_us: int) -> None:
        """Record one request of ``commune`` that took ``value_us`` microseconds."""
        sketch = self.window.get(commune)
        if sketch is None:
            sketch = self.window[commune] = new_commune_sketch()
        sketch.record(value_us)

    def fold(self) -> None:
        """Move the window into the whole-run store (what a local runner does every 2 s)."""
        window, self.window = self.window, {}
        whole_run = self.whole_run
        for commune, sketch in window.items():
            store = whole_run.get(commune)
            if store is None:
                store = whole_run[commune] = CompactSketch()
            store.add_slots(sketch.counts.items())

    def drain(self) -> list[SlotRow]:
        """Everything held (window and whole run) as slot rows; both stores are emptied.

        A worker only ever holds a window, so this costs one flattening per commune it
        touched since the last drain.
        """
        window, whole_run = self.window, self.whole_run
        self.window, self.whole_run = {}, {}
        rows = [(commune, list(chain.from_iterable(sketch.counts.items()))) for commune, sketch in window.items()]
        rows.extend((commune, store.slot_pairs()) for commune, store in whole_run.items())
        return rows

    def absorb(self, rows: Iterable[SlotRow]) -> None:
        """Add slot rows (a worker's drain) into the whole-run store — exactly."""
        whole_run = self.whole_run
        for commune, flat in rows:
            store = whole_run.get(commune)
            if store is None:
                store = whole_run[commune] = CompactSketch()
            store.add_slots(zip(flat[0::2], flat[1::2], strict=True))

    def sketches(self) -> dict[str, SparseHistogram]:
        """Every commune's whole-run sketch (the window folded in first)."""
        if self.window:
            self.fold()
        return {commune: store.to_histogram() for commune, store in self.whole_run.items() if store.total}
