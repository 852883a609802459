"""kernel.commune_latency: the per-commune sketch's stated accuracy against exact
quantiles, exact merging, and the communes.hdr file (round trip, damaged files)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.commune_latency import (
    COMMUNE_LATENCY_FILE,
    RELATIVE_ACCURACY,
    SIGNIFICANT_FIGURES,
    dump_commune_latency,
    load_commune_latency,
    merge_commune_maps,
    new_commune_sketch,
)
from kernel.errors import ConfigError
from kernel.hdr import SparseHistogram

# 1 µs .. 1 h: the whole trackable range, so both the exact first bucket and the widest
# slots are drawn.
LATENCIES_US = st.integers(min_value=1, max_value=3_600_000_000)


def _sketch(values: list[int]) -> SparseHistogram:
    sketch = new_commune_sketch()
    for value in values:
        sketch.record(value)
    return sketch


def _exact(values: list[int], percentile: float) -> int:
    """The exact sample at HdrHistogram's rank for ``percentile`` (the module docstring's rule)."""
    ordered = sorted(values)
    rank = max(int(percentile * len(ordered) / 100 + 0.5), 1)
    return ordered[min(rank, len(ordered)) - 1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(LATENCIES_US, min_size=1, max_size=400),
       percentile=st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9, 100.0]))
def test_a_percentile_is_within_the_stated_relative_accuracy_of_the_exact_one(values: list[int], percentile: float) -> None:
    exact = _exact(values, percentile)
    estimate = _sketch(values).value_at_percentile(percentile)
    # Never below the exact sample (a slot reads its highest value), at most 1 % above it.
    assert exact <= estimate <= exact * (1 + RELATIVE_ACCURACY)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.integers(min_value=1, max_value=255), min_size=1, max_size=200))
def test_under_256_microseconds_the_sketch_is_exact(values: list[int]) -> None:
    assert _sketch(values).value_at_percentile(95.0) == _exact(values, 95.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.lists(LATENCIES_US, max_size=60), min_size=1, max_size=6))
def test_the_merge_of_parts_is_the_sketch_of_the_whole(parts: list[list[int]]) -> None:
    whole = _sketch([value for part in parts for value in part])
    merged = merge_commune_maps([{"00004": _sketch(part)} for part in parts])
    assert merged["00004"] == whole
    assert merged["00004"].total == whole.total == sum(len(part) for part in parts)
    for percentile in (50.0, 95.0, 99.0):
        assert merged["00004"].value_at_percentile(percentile) == whole.value_at_percentile(percentile)


def test_merging_leaves_its_inputs_untouched_and_keeps_communes_apart() -> None:
    first, second = {"00004": _sketch([1000])}, {"00004": _sketch([2000, 3000]), "26734": _sketch([5])}
    merged = merge_commune_maps([first, second])
    assert (merged["00004"].total, merged["26734"].total) == (3, 1)
    assert (first["00004"].total, second["00004"].total) == (1, 2)


def test_the_layout_is_hdrhistogram_s_own_at_two_digits() -> None:
    # An independent implementation (hdrh) at 2 significant digits reads our encoding and
    # gives the same percentiles: the file is a standard HdrHistogram V2 file.
    values = [120, 999, 1_000, 4_321, 77_777, 2_500_000, 3_600_000_000]
    reference = HdrHistogram(1, 3_600_000_000, SIGNIFICANT_FIGURES)
    for value in values:
        reference.record_value(value)
    decoded = HdrHistogram.decode(_sketch(values).encode())
    for percentile in (10.0, 50.0, 95.0, 100.0):
        assert decoded.get_value_at_percentile(percentile) == reference.get_value_at_percentile(percentile)


def test_the_file_round_trips_and_skips_empty_sketches(tmp_path: Path) -> None:
    sketches = {"00004": _sketch([1200, 1500, 90_000]), "26734": _sketch([42] * 30), "11111": new_commune_sketch()}
    path = dump_commune_latency(sketches, tmp_path / "histograms")
    assert path == tmp_path / "histograms" / COMMUNE_LATENCY_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and [line.split("\t")[0] for line in lines[1:]] == ["00004", "26734"]
    loaded = load_commune_latency(path)
    assert loaded == {"00004": sketches["00004"], "26734": sketches["26734"]}


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / COMMUNE_LATENCY_FILE
    path.write_text("\n".join(["# dientap per-commune latency", *lines]) + "\n", encoding="utf-8")
    return path


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"communes.hdr: file not found"):
        load_commune_latency(tmp_path / COMMUNE_LATENCY_FILE)


@pytest.mark.parametrize(("line", "message"), [
    ("00004 no tab here", r"communes.hdr:3: expected commune<TAB>histogram"),
    ("00004\tnot base64 at all!", r"communes.hdr:3: commune 00004: not an HdrHistogram V2 encoding"),
    ("00004\t" + base64.b64encode(b"\x1c\x84\x93\x14\x00\x00\x00\x05abcde").decode(),
     r"communes.hdr:3: commune 00004: not an HdrHistogram V2 encoding"),
    ("00004\t" + SparseHistogram(3).encode(), r"communes.hdr:3: commune 00004: 3 significant digits, expected 2"),
])
def test_a_corrupt_line_is_an_error_naming_the_file_and_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, "26734\t" + _sketch([7]).encode(), line)
    with pytest.raises(ConfigError, match=message) as caught:
        load_commune_latency(path)
    assert str(caught.value).startswith(str(path))  # one line the CLI prints after "ERROR: "


def test_a_truncated_encoding_is_an_error_not_a_crash(tmp_path: Path) -> None:
    encoded = _sketch([1200, 1500, 90_000]).encode()
    path = _write(tmp_path, "00004\t" + encoded[: len(encoded) // 2])
    with pytest.raises(ConfigError, match=r"communes.hdr:2: commune 00004: not an HdrHistogram V2 encoding"):
        load_commune_latency(path)


def test_a_commune_name_holding_a_line_ending_is_kept_on_its_line(tmp_path: Path) -> None:
    # "\r" ends a line for the reader's str.splitlines(): the file used to be refused as damaged.
    sketch = new_commune_sketch()
    sketch.record(1000)
    path = dump_commune_latency({"000\r04": sketch}, tmp_path)
    assert list(load_commune_latency(path)) == ["000 04"]
