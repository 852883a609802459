"""SparseHistogram: same buckets, percentiles and V2 encoding as the hdrh reference."""

from __future__ import annotations

import base64
import random

import pytest
from hdrh.histogram import HdrHistogram

from kernel.hdr import HIGHEST_TRACKABLE_US, SparseHistogram, merge


def _values(seed: int, n: int = 5000) -> list[int]:
    rng = random.Random(seed)
    return [int(rng.lognormvariate(9, 1.5)) for _ in range(n)] + [0, 1, 1023, 1024, 2047, 2048, HIGHEST_TRACKABLE_US]


def _pair(values: list[int]) -> tuple[HdrHistogram, SparseHistogram]:
    ref, sparse = HdrHistogram(1, HIGHEST_TRACKABLE_US, 3), SparseHistogram()
    for v in values:
        ref.record_value(v)
        sparse.record(v)
    return ref, sparse


def test_percentiles_max_mean_match_hdrh():
    ref, sparse = _pair(_values(1))
    for p in (0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0):
        assert sparse.value_at_percentile(p) == ref.get_value_at_percentile(p), p
    assert sparse.percentiles([50.0, 99.0]) == {50.0: ref.get_value_at_percentile(50.0), 99.0: ref.get_value_at_percentile(99.0)}
    assert sparse.max_value() == ref.get_max_value()
    assert sparse.mean_value() == pytest.approx(ref.get_mean_value())
    assert sparse.total == ref.get_total_count()


def test_encoding_is_standard_v2_both_ways():
    ref, sparse = _pair(_values(2))
    assert HdrHistogram.decode(sparse.encode()).equals(ref)  # hdrh reads ours
    assert SparseHistogram.decode(ref.encode()) == sparse  # we read hdrh's
    assert SparseHistogram.decode(SparseHistogram().encode()) == SparseHistogram()  # empty


def test_merge_is_exact_sum():
    a_vals, b_vals = _values(3), _values(4)
    _, a = _pair(a_vals)
    _, b = _pair(b_vals)
    _, both = _pair(a_vals + b_vals)
    merged = merge([a.encode(), b.encode()])
    assert merged == both and merged.total == len(a_vals) + len(b_vals)
    assert merge([]) == SparseHistogram()


def test_values_above_one_hour_are_clamped_and_counted():
    hist = SparseHistogram()
    hist.record(HIGHEST_TRACKABLE_US * 3)
    hist.record(-5)
    assert hist.clamped == 1 and hist.total == 2
    assert hist.max_value() >= HIGHEST_TRACKABLE_US
    assert hist.value_at_percentile(0) == 0


def test_resolution_is_three_significant_digits():
    hist = SparseHistogram()
    hist.record(123_456)
    assert abs(hist.value_at_percentile(50) - 123_456) / 123_456 < 0.001


def test_decode_rejects_garbage_and_other_ranges():
    with pytest.raises(ValueError, match="not a V2 compressed histogram"):
        SparseHistogram.decode(base64.b64encode(b"\x00" * 16))
    other = HdrHistogram(1, 60_000_000, 3)
    other.record_value(5)
    with pytest.raises(ValueError, match="range 1..60000000"):
        SparseHistogram.decode(other.encode())


def test_adding_different_precisions_is_refused():
    with pytest.raises(ValueError, match="2-digit histogram to a 3-digit"):
        SparseHistogram(3).add(SparseHistogram(2))


def test_slot_ranges_are_hdrh_equivalent_ranges_in_order_and_hold_every_count():
    ref, sparse = _pair(_values(3, 2000))
    slots = sparse.slot_ranges()
    assert [low for low, _, _ in slots] == sorted(low for low, _, _ in slots)
    assert sum(count for _, _, count in slots) == sparse.total
    for low, high, count in slots:
        assert ref.get_lowest_equivalent_value(low) == low and ref.get_highest_equivalent_value(low) == high
        assert ref.get_count_at_value(low) == count
