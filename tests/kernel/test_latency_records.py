"""kernel.latency_records: histogram keys, exact merging and the latency.hdr file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.hdr import SparseHistogram
from kernel.latency_records import (
    HistogramKey,
    LatencyRecordError,
    dump_histograms,
    load_histograms,
    merge_histogram_maps,
    merge_matching,
    recorded_run_id,
)


def _hist(*values_us: int) -> SparseHistogram:
    hist = SparseHistogram()
    for value in values_us:
        hist.record(value)
    return hist


def test_merge_matching_sums_exactly_the_keys_that_match_and_only_one_measure() -> None:
    hists = {
        HistogramKey("portal", "POST /dossiers", "01", "service"): _hist(1000, 2000),
        HistogramKey("portal", "POST /dossiers", "79", "service"): _hist(3000),
        HistogramKey("portal", "POST /dossiers", "01", "intended"): _hist(9000),
        HistogramKey("axis", "GET /inbox", "01", "service"): _hist(500),
    }
    assert merge_matching(hists, "portal", "POST /dossiers").total == 3
    assert merge_matching(hists, province="01").total == 3
    assert merge_matching(hists, "portal", measure="intended").max_value() >= 9000
    assert merge_matching(hists, "population").total == 0


def test_maps_merge_key_wise_without_touching_their_inputs() -> None:
    key = HistogramKey("portal", "GET /procedures", "01", "service")
    first, second = {key: _hist(100)}, {key: _hist(200, 300)}
    merged = merge_histogram_maps([first, second])
    assert merged[key].total == 3
    assert first[key].total == 1 and second[key].total == 2


def test_the_file_round_trips_and_names_are_kept_on_one_line(tmp_path: Path) -> None:
    hists = {
        HistogramKey("portal", "POST /dossiers", "01", "service"): _hist(1200, 1500, 90_000),
        HistogramKey("portal", "GET\tweird\nname", "--", "intended"): _hist(10),
    }
    path = dump_histograms(hists, tmp_path)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert len(lines) == 2
    loaded = load_histograms(path)
    assert loaded[HistogramKey("portal", "POST /dossiers", "01", "service")] == hists[
        HistogramKey("portal", "POST /dossiers", "01", "service")]
    assert HistogramKey("portal", "GET weird name", "--", "intended") in loaded
    table = json.loads((tmp_path / "percentiles.json").read_text(encoding="utf-8"))
    assert {row["endpoint"] for row in table} == {"POST /dossiers", "GET\tweird\nname"}


@pytest.mark.parametrize("breaker", ["\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_every_character_the_reader_splits_lines_at_is_kept_off_the_line(tmp_path: Path, breaker: str) -> None:
    # Each of them made the file unreadable as "damaged": the reader splits with str.splitlines().
    key = HistogramKey("portal", f"GET /a{breaker}b", "01", "service")
    path = dump_histograms({key: _hist(10)}, tmp_path, run_id=f"run{breaker}1")
    assert list(load_histograms(path)) == [HistogramKey("portal", "GET /a b", "01", "service")]
    assert recorded_run_id(path) == "run 1"


def test_the_file_names_its_run_and_a_file_without_that_line_names_none(tmp_path: Path) -> None:
    key = HistogramKey("portal", "POST /dossiers", "01", "service")
    named = dump_histograms({key: _hist(1000)}, tmp_path / "named", "20261207-231500\tx")
    assert recorded_run_id(named) == "20261207-231500 x"  # a tab would have broken the line format
    assert load_histograms(named)[key].total == 1
    assert recorded_run_id(dump_histograms({key: _hist(1000)}, tmp_path / "unnamed")) is None
    late = tmp_path / "late.hdr"  # only the leading comments are looked at, not a line after a histogram
    late.write_text(named.read_text(encoding="utf-8").splitlines()[2] + "\n# run_id\tother\n", encoding="utf-8")
    assert recorded_run_id(late) is None


def test_a_line_with_an_unknown_measure_is_refused_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "latency.hdr"
    bad.write_text(f"# header\nportal\tGET /\t01\tdelayed\t{_hist(5).encode()}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"latency.hdr:2: expected service, endpoint, province, measure"):
        load_histograms(bad)


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda encoded: encoded[:-12], "histogram: "),  # truncated: base64 or zlib fails
    (lambda encoded: "@@" + encoded[2:], "histogram: "),  # not base64
], ids=["truncated", "not-base64"])
def test_a_damaged_histogram_is_a_latency_record_error_naming_file_and_line(tmp_path: Path, damage, reason: str) -> None:
    bad = tmp_path / "latency.hdr"
    good = f"portal\tGET /\t01\tservice\t{_hist(5).encode()}"
    bad.write_text(f"# header\n{good}\nportal\tGET /x\t01\tservice\t{damage(_hist(7).encode())}\n", encoding="utf-8")
    with pytest.raises(LatencyRecordError) as exc:
        load_histograms(bad)
    assert (exc.value.path, exc.value.line) == (str(bad), 3)
    assert exc.value.reason.startswith(reason) and str(exc.value).startswith(f"{bad}:3: {reason}")
    assert isinstance(exc.value, ValueError)  # callers that caught ValueError still do
