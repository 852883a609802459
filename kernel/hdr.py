"""Sparse HDR histograms with the standard HdrHistogram V2 wire encoding.

Why not ``hdrh.histogram.HdrHistogram`` directly? Measured here (1 µs – 1 h, 3 significant
digits): one instance holds a dense 23,552-slot counts array (≈ 190 KB), ``record_value``
costs ≈ 5 µs, ``reset`` ≈ 6 ms and decoding into a dense array ≈ 1.5 ms once non-zero
slots are walked in Python. With one histogram per (service, endpoint, province, measure)
that is hundreds of MB per process and seconds of CPU per flush.

:class:`SparseHistogram` keeps *exactly the same bucket layout* as
``HdrHistogram(1, 3_600_000_000, 3)`` but stores only non-zero slots in a dict, and reads
and writes the *standard* V2 compressed base64 encoding (the one ``hdrh``, HdrHistogram
Java/C and HdrHistogram log tools read). Adding two sparse histograms adds slot counts,
which is exactly ``HdrHistogram.add``. Tests check the codec both ways against ``hdrh``.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram, get_bucket_count

__all__ = [
    "HIGHEST_TRACKABLE_US",
    "LOWEST_TRACKABLE_US",
    "MAX_DECODED_BYTES",
    "SIGNIFICANT_FIGURES",
    "HistogramSummary",
    "SparseHistogram",
    "merge",
    "slot_layout",
]

LOWEST_TRACKABLE_US = 1
HIGHEST_TRACKABLE_US = 3_600_000_000  # one hour in microseconds
SIGNIFICANT_FIGURES = 3
#: The most one encoding may inflate to in :meth:`SparseHistogram.decode`. At three significant
#: digits a histogram of 1 µs–1 h has 23,552 slots, each at most a 9-byte count after a 9-byte
#: gap: 424 KB. A few hundred bytes of zlib can inflate to gigabytes (300 MB of zeros kept
#: `dientap compare` decoding for minutes), so the inflate stops here.
MAX_DECODED_BYTES = 1024 * 1024

_V2_ENCODING_COOKIE = 0x1C849303 | 0x10
_V2_COMPRESSION_COOKIE = 0x1C849304 | 0x10
_EXT_HEADER = struct.Struct(">II")
_PAYLOAD_HEADER = struct.Struct(">IIIIQQd")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Bucket layout of an HdrHistogram with lowest trackable value 1."""

    significant_figures: int
    highest: int
    half_mag: int
    half_count: int
    mask: int
    counts_len: int

    @classmethod
    def build(cls, significant_figures: int, highest: int) -> _Layout:
        # Same arithmetic as hdrh.histogram.HdrHistogram.__init__ (unit magnitude 0).
        largest_single_unit = 2 * math.pow(10, significant_figures)
        count_mag = math.ceil(math.log(largest_single_unit) / math.log(2))
        half_mag = count_mag - 1 if count_mag > 1 else 0
        sub_bucket_count = 1 << (half_mag + 1)
        buckets = get_bucket_count(highest, sub_bucket_count, 0)
        return cls(
            significant_figures=significant_figures,
            highest=highest,
            half_mag=half_mag,
            half_count=sub_bucket_count // 2,
            mask=sub_bucket_count - 1,
            counts_len=(buckets + 1) * (sub_bucket_count // 2),
        )

    def index_of(self, value: int) -> int:
        bucket = (value | self.mask).bit_length() - (self.half_mag + 1)
        return ((bucket + 1) << self.half_mag) + (value >> bucket) - self.half_count

    def lowest_value_at(self, index: int) -> int:
        bucket = (index >> self.half_mag) - 1
        sub = (index & (self.half_count - 1)) + self.half_count
        if bucket < 0:
            sub -= self.half_count
            bucket = 0
        return sub << bucket

    def highest_value_at(self, index: int) -> int:
        low = self.lowest_value_at(index)
        bucket = max((index >> self.half_mag) - 1, 0)
        return low + (1 << bucket) - 1


_LAYOUTS: dict[int, _Layout] = {}


def _layout(significant_figures: int) -> _Layout:
    layout = _LAYOUTS.get(significant_figures)
    if layout is None:
        layout = _LAYOUTS[significant_figures] = _Layout.build(significant_figures, HIGHEST_TRACKABLE_US)
    return layout


@dataclass(frozen=True, slots=True)
class HistogramSummary:
    """Count and percentiles of one histogram, in milliseconds (HDR-equivalent values)."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float


class SparseHistogram:
    """An HDR histogram of microsecond values (1 µs – 1 h) stored sparsely.

    Values above one hour are clamped to one hour and counted in :attr:`clamped`
    (they are not lost; a stalled request still counts as a very slow one).
    """

    __slots__ = ("_layout", "clamped", "counts", "total")

    def __init__(self, significant_figures: int = SIGNIFICANT_FIGURES) -> None:
        self._layout = _layout(significant_figures)
        self.counts: dict[int, int] = {}
        self.total = 0
        self.clamped = 0

    @property
    def significant_figures(self) -> int:
        """Decimal digits of value resolution (3 → 0.1 %)."""
        return self._layout.significant_figures

    def record(self, value_us: int, count: int = 1) -> None:
        """Record ``count`` observations of ``value_us`` microseconds."""
        if value_us < 0:
            value_us = 0
        elif value_us > HIGHEST_TRACKABLE_US:
            value_us = HIGHEST_TRACKABLE_US
            self.clamped += count
        index = self._layout.index_of(int(value_us))
        counts = self.counts
        counts[index] = counts.get(index, 0) + count
        self.total += count

    def add(self, other: SparseHistogram) -> None:
        """Add ``other`` into this histogram (exact: slot counts add)."""
        if other._layout is not self._layout:
            raise ValueError(
                f"cannot add a {other.significant_figures}-digit histogram to a "
                f"{self.significant_figures}-digit one"
            )
        counts = self.counts
        if not counts:  # merging into a new histogram (merge_matching's first add): copy at C speed
            counts.update(other.counts)
        else:
            for index, count in other.counts.items():
                counts[index] = counts.get(index, 0) + count
        self.total += other.total
        self.clamped += other.clamped

    def copy(self) -> SparseHistogram:
        """An independent copy."""
        dup = SparseHistogram(self.significant_figures)
        dup.counts = dict(self.counts)
        dup.total = self.total
        dup.clamped = self.clamped
        return dup

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseHistogram):
            return NotImplemented
        return self._layout is other._layout and self.counts == other.counts

    __hash__ = None  # type: ignore[assignment]  # mutable

    def value_at_percentile(self, percentile: float) -> int:
        """Value (µs) at ``percentile`` with HdrHistogram's rounding rules."""
        if not self.total:
            return 0
        target = max(int(min(percentile, 100.0) * self.total / 100 + 0.5), 1)
        running = 0
        layout = self._layout
        for index in sorted(self.counts):
            running += self.counts[index]
            if running >= target:
                if percentile:
                    return layout.highest_value_at(index)
                return layout.lowest_value_at(index)
        return 0  # unreachable: running reaches total

    def percentiles(self, percentiles: Iterable[float]) -> dict[float, int]:
        """Values (µs) at several percentiles in one pass over the sorted slots."""
        wanted = sorted(percentiles)
        result = {p: 0 for p in wanted}
        if not self.total:
            return result
        layout = self._layout
        slots = sorted(self.counts.items())
        running, pos = 0, 0
        for p in wanted:
            target = max(int(min(p, 100.0) * self.total / 100 + 0.5), 1)
            while running < target:
                running += slots[pos][1]
                pos += 1
            index = slots[pos - 1][0]
            result[p] = layout.highest_value_at(index) if p else layout.lowest_value_at(index)
        return result

    def slot_ranges(self) -> list[tuple[int, int, int]]:
        """Every non-empty slot as ``(lowest µs, highest equivalent µs, count)``, ascending.

        What a reader needs to place the k-th smallest sample exactly (within its slot's
        0.1 % width), e.g. for an order-statistic confidence interval.
        """
        layout = self._layout
        return [(layout.lowest_value_at(i), layout.highest_value_at(i), c) for i, c in sorted(self.counts.items())]

    def max_value(self) -> int:
        """Highest equivalent value of the largest recorded slot (µs), like HdrHistogram."""
        return self._layout.highest_value_at(max(self.counts)) if self.counts else 0

    def mean_value(self) -> float:
        """Mean (µs) using each slot's median equivalent value, like HdrHistogram."""
        if not self.total:
            return 0.0
        layout = self._layout
        acc = 0
        for index, count in self.counts.items():
            low = layout.lowest_value_at(index)
            acc += (low + (layout.highest_value_at(index) - low + 1) // 2) * count
        return acc / self.total

    def summary(self) -> HistogramSummary:
        """Count, p50/p95/p99/p99.9, max and mean in milliseconds."""
        pct = self.percentiles((50.0, 95.0, 99.0, 99.9))
        return HistogramSummary(
            count=self.total,
            p50_ms=pct[50.0] / 1000,
            p95_ms=pct[95.0] / 1000,
            p99_ms=pct[99.0] / 1000,
            p999_ms=pct[99.9] / 1000,
            max_ms=self.max_value() / 1000,
            mean_ms=round(self.mean_value() / 1000, 3),
        )

    # ---- standard V2 encoding -------------------------------------------------

    def encode(self) -> str:
        """The standard HdrHistogram V2 compressed, base64 encoding (ASCII text)."""
        layout = self._layout
        out = bytearray()
        previous = -1
        for index in sorted(self.counts):
            gap = index - previous - 1
            if gap == 1:
                _put_zigzag(out, 0)
            elif gap > 1:
                _put_zigzag(out, -gap)
            _put_zigzag(out, self.counts[index])
            previous = index
        header = _PAYLOAD_HEADER.pack(
            _V2_ENCODING_COOKIE,
            len(out),
            0,
            layout.significant_figures,
            LOWEST_TRACKABLE_US,
            layout.highest,
            1.0,
        )
        compressed = zlib.compress(header + bytes(out))
        return base64.b64encode(_EXT_HEADER.pack(_V2_COMPRESSION_COOKIE, len(compressed)) + compressed).decode(
            "ascii"
        )

    @classmethod
    def decode(cls, encoded: str | bytes) -> SparseHistogram:
        """Read a V2 encoding written by :meth:`encode`, ``hdrh`` or HdrHistogram Java/C.

        Only histograms with lowest trackable value 1 and highest 1 h are accepted, so
        that slot indices mean the same values everywhere.
        """
        raw = base64.b64decode(encoded, validate=True)
        if len(raw) < _EXT_HEADER.size:
            raise ValueError("encoded histogram: too short")
        cookie, length = _EXT_HEADER.unpack_from(raw)
        if cookie & ~0xF0 != 0x1C849304 or length != len(raw) - _EXT_HEADER.size:
            raise ValueError("encoded histogram: not a V2 compressed histogram")
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw[_EXT_HEADER.size :], MAX_DECODED_BYTES)
        if inflater.unconsumed_tail:
            raise ValueError(f"encoded histogram: inflates past {MAX_DECODED_BYTES:,} bytes (one takes at most 424 KB)")
        if not inflater.eof:
            raise ValueError("encoded histogram: the compressed data is cut short")
        cookie, payload_len, _offset, sig, lowest, highest, _ratio = _PAYLOAD_HEADER.unpack_from(data)
        if cookie & ~0xF0 != 0x1C849303:
            raise ValueError("encoded histogram: bad payload cookie")
        if lowest != LOWEST_TRACKABLE_US or highest != HIGHEST_TRACKABLE_US:
            raise ValueError(
                f"encoded histogram: range {lowest}..{highest} µs, expected "
                f"{LOWEST_TRACKABLE_US}..{HIGHEST_TRACKABLE_US}"
            )
        hist = cls(sig)
        pos, end, index = _PAYLOAD_HEADER.size, _PAYLOAD_HEADER.size + payload_len, 0
        counts = hist.counts
        while pos < end:
            value, pos = _get_zigzag(data, pos)
            if value < 0:
                index += -value
            else:
                if value:
                    counts[index] = value
                    hist.total += value
                index += 1
        if index > hist._layout.counts_len:
            raise ValueError("encoded histogram: counts beyond the trackable range")
        return hist

    def to_hdrhistogram(self) -> HdrHistogram:
        """A dense ``hdrh`` HdrHistogram with the same counts (for hdrh's own tools)."""
        return HdrHistogram.decode(self.encode())


def slot_layout(significant_figures: int) -> tuple[int, int, int]:
    """``(half_mag, mask, half_count)`` of the slot layout, for a hot loop that computes
    slots inline instead of calling :meth:`SparseHistogram.record` (per-commune
    sketches). The slot of ``0 ≤ v ≤ HIGHEST_TRACKABLE_US`` is
    ``((b + 1) << half_mag) + (v >> b) - half_count`` with
    ``b = (v | mask).bit_length() - (half_mag + 1)``.
    """
    layout = _layout(significant_figures)
    return layout.half_mag, layout.mask, layout.half_count


def merge(encoded: Iterable[str | bytes]) -> SparseHistogram:
    """Merge V2-encoded histograms exactly (the sum of their slot counts)."""
    result: SparseHistogram | None = None
    for item in encoded:
        hist = SparseHistogram.decode(item)
        if result is None:
            result = hist
        else:
            result.add(hist)
    return result if result is not None else SparseHistogram()


def _put_zigzag(out: bytearray, value: int) -> None:
    # ZigZag + LEB128 as in HdrHistogram's ZigZagEncoding (9th byte carries 8 bits).
    value = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    for _ in range(8):
        if value < 0x80:
            out.append(value)
            return
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value & 0xFF)


def _get_zigzag(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    for _ in range(8):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    else:
        value |= data[pos] << 56
        pos += 1
    return (value >> 1) ^ -(value & 1), pos
