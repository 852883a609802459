"""``reports.compare``: verdicts per figure and per line on recorded runs of known latencies,
the line kinds (endpoint, province, commune), the records' problems, and the three formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import ConfigError, ExitCode
from reports.compare import NoiseGuard, RunComparison, compare_error_rate, compare_quantile, compare_runs
from reports.compare_render import render_json, render_markdown, render_table
from reports.compare_sources import HdrSamples, Observed
from reports.compared_run import load_compared_run, load_compared_runs
from tests.reports.compare_support import histogram, latencies, recorded_run, write_recorded_run

SUBMIT = ("portal", "POST /dossiers", "01")
CATALOGUE_01 = ("portal", "GET /procedures", "01")
CATALOGUE_04 = ("portal", "GET /procedures", "04")
GUARD = NoiseGuard()


def _q(a: list[float], b: list[float], q: float = 0.5, **floors: float):
    floors = {"min_growth": GUARD.min_growth, "min_delta_ms": GUARD.min_delta_ms, **floors}
    return compare_quantile("p50", q, HdrSamples(histogram(a)), HdrSamples(histogram(b)), min_samples=30, **floors)


# --------------------------------------------------------------------------- one figure


def test_same_distribution_is_within_noise_and_a_50_ms_shift_regresses() -> None:
    assert _q(latencies(500, seed=1), latencies(500, seed=2)).verdict == "within noise"
    slower = _q(latencies(500, seed=1), latencies(500, seed=2, shift_ms=50))
    assert slower.verdict == "regressed"
    assert slower.baseline.upper < slower.current.lower  # the intervals are apart
    assert _q(latencies(500, seed=2, shift_ms=50), latencies(500, seed=1)).verdict == "improved"


def test_fewer_samples_than_the_minimum_on_either_side_is_not_comparable() -> None:
    change = _q(latencies(29), latencies(5000, shift_ms=500))
    assert change.verdict == "not comparable"
    assert change.baseline.count == 29 and change.current.count == 5000  # the figures are still shown
    none = compare_quantile("p50", 0.5, None, HdrSamples(histogram(latencies(100))), min_samples=30, min_growth=0,
                            min_delta_ms=0)
    assert (none.verdict, none.baseline) == ("not comparable", None)


def test_apart_intervals_are_not_enough_the_change_must_clear_both_floors() -> None:
    a, b = latencies(5000, seed=1), latencies(5000, seed=2, shift_ms=3)  # +3 ms, +60 % on 5 ms
    assert _q(a, b, min_growth=0, min_delta_ms=0).verdict == "regressed"
    assert _q(a, b, min_growth=0, min_delta_ms=20).verdict == "within noise"  # absolute floor
    slow_a = latencies(5000, median_ms=800, seed=1)
    slow_b = latencies(5000, median_ms=800, seed=2, shift_ms=30)  # +30 ms on 800: +4 %
    assert _q(slow_a, slow_b, min_growth=0, min_delta_ms=20).verdict == "regressed"
    assert _q(slow_a, slow_b, min_growth=0.25, min_delta_ms=20).verdict == "within noise"  # relative floor


def test_a_tail_the_samples_cannot_bound_never_regresses() -> None:
    # 50 samples: p99's interval is open above in the baseline, so no change can be shown.
    change = _q(latencies(50), latencies(50, shift_ms=100), q=0.99)
    assert change.baseline.upper is None and change.verdict == "within noise"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), shift=st.sampled_from([0.0, 2.0, 30.0, 80.0]), q=st.sampled_from([0.5, 0.95]))
def test_swapping_the_runs_swaps_regressed_and_improved(seed: int, shift: float, q: float) -> None:
    a, b = latencies(300, seed=seed), latencies(300, seed=seed + 1, shift_ms=shift)
    forward, backward = _q(a, b, q=q).verdict, _q(b, a, q=q).verdict
    swapped = {"regressed": "improved", "improved": "regressed"}
    assert backward == swapped.get(forward, forward)


@pytest.mark.parametrize(("a", "b", "verdict"), [
    ((0, 1000), (50, 1000), "regressed"),
    ((50, 1000), (0, 1000), "improved"),
    ((0, 40), (2, 40), "within noise"),  # 5 % of 40 is two requests: the interval reaches below 0
    ((10, 1000), (16, 1000), "within noise"),
    ((0, 20), (20, 20), "not comparable"),
])
def test_error_rates(a: tuple[int, int], b: tuple[int, int], verdict: str) -> None:
    change = compare_error_rate(Observed(a[1], a[0]), Observed(b[1], b[0]), min_samples=30, min_error_delta=0.01)
    assert change.verdict == verdict
    assert (change.baseline, change.current) == (a[0] / a[1], b[0] / b[1])


# --------------------------------------------------------------------------- whole runs


def _pair(tmp_path: Path, *, shift_ms: float = 0.0, **current_kwargs):
    base = {SUBMIT: latencies(300, seed=1), CATALOGUE_01: latencies(200, seed=2), CATALOGUE_04: latencies(200, seed=3)}
    now = {SUBMIT: latencies(300, seed=4), CATALOGUE_01: latencies(200, seed=5, shift_ms=shift_ms),
           CATALOGUE_04: latencies(200, seed=6, shift_ms=shift_ms)}
    communes = {"00004": (120, 0), "00008": (10, 0)}
    a = recorded_run(tmp_path, "a", base, communes=communes)
    b = recorded_run(tmp_path, "b", now, **{"communes": communes, **current_kwargs})
    return a, b


def test_every_kind_of_line_is_compared(tmp_path: Path) -> None:
    comparison = compare_runs(*_pair(tmp_path))
    lines = {(line.kind, line.subject): line for line in comparison.lines}
    assert set(lines) == {("endpoint", "portal GET /procedures"), ("endpoint", "portal POST /dossiers"),
                          ("province", "01 Thành phố Hà Nội"), ("province", "04 Tỉnh Cao Bằng"),
                          ("commune", "00004 Phường Ba Đình"), ("commune", "00008 Phường Ngọc Hà")}
    assert {line.verdict for line in comparison.lines} == {"within noise", "not comparable"}
    endpoint = lines[("endpoint", "portal GET /procedures")]
    assert (endpoint.baseline_requests, endpoint.current_requests) == (400, 400)  # both provinces merged
    assert [c.quantile for c in endpoint.latency] == ["p50", "p95", "p99"]
    commune = lines[("commune", "00004 Phường Ba Đình")]
    assert commune.latency == [] and commune.verdict == "within noise"  # no sketches recorded: error rates only
    assert lines[("commune", "00008 Phường Ngọc Hà")].verdict == "not comparable"  # 10 requests
    assert comparison.exit_code == ExitCode.OK and comparison.warnings == []


def test_a_slower_route_regresses_its_endpoint_and_the_provinces_it_serves(tmp_path: Path) -> None:
    comparison = compare_runs(*_pair(tmp_path, shift_ms=50))
    assert {(line.kind, line.subject) for line in comparison.regressed} == {
        ("endpoint", "portal GET /procedures"),
        ("province", "01 Thành phố Hà Nội"),  # 40 % of its requests are the slower route
        ("province", "04 Tỉnh Cao Bằng"),  # all of them are
    }
    assert comparison.exit_code == ExitCode.BUDGET_BREACHED


def test_commune_failures_regress_a_commune_line(tmp_path: Path) -> None:
    a, _ = _pair(tmp_path)
    b = recorded_run(tmp_path, "b2", {SUBMIT: latencies(300, seed=4)}, communes={"00004": (120, 30), "00008": (10, 9)})
    lines = {line.subject: line.verdict for line in compare_runs(a, b).lines if line.kind == "commune"}
    assert lines == {"00004 Phường Ba Đình": "regressed", "00008 Phường Ngọc Hà": "not comparable"}


def test_commune_lines_compare_the_recorded_sketches_send_time_only(tmp_path: Path) -> None:
    """A commune whose requests got 50 ms slower regresses on latency although none failed;
    an unchanged one is within noise; ``intended`` has no commune sketch: error rates only."""
    counts = {"00004": (300, 0), "00008": (300, 0)}
    a = recorded_run(tmp_path, "a", {SUBMIT: latencies(300, seed=1)}, communes=counts,
                     commune_latencies={"00004": latencies(300, seed=1), "00008": latencies(300, seed=2)})
    b = recorded_run(tmp_path, "b", {SUBMIT: latencies(300, seed=3)}, communes=counts,
                     commune_latencies={"00004": latencies(300, seed=3, shift_ms=50), "00008": latencies(300, seed=4)})
    lines = {line.subject: line for line in compare_runs(a, b).lines if line.kind == "commune"}
    assert lines["00004 Phường Ba Đình"].verdict == "regressed" and lines["00008 Phường Ngọc Hà"].verdict == "within noise"
    p50 = lines["00004 Phường Ba Đình"].latency[0]
    assert (p50.quantile, p50.verdict) == ("p50", "regressed") and p50.current.lower >= 50.0
    intended = compare_runs(a, b, measure="intended")
    assert all(not line.latency for line in intended.lines if line.kind == "commune")


def test_the_table_says_whether_unlisted_commune_lines_carry_latency(tmp_path: Path) -> None:
    counts = {"00004": (300, 0)}
    with_sketch = {"commune_latencies": {"00004": latencies(300, seed=1)}}
    a = recorded_run(tmp_path, "a", {SUBMIT: latencies(300, seed=1)}, communes=counts, **with_sketch)
    b = recorded_run(tmp_path, "b", {SUBMIT: latencies(300, seed=2)}, communes=counts, **with_sketch)
    old_a = recorded_run(tmp_path, "old-a", {SUBMIT: latencies(300, seed=1)}, communes=counts)
    old_b = recorded_run(tmp_path, "old-b", {SUBMIT: latencies(300, seed=2)}, communes=counts)
    assert "1 within noise; error rates and latency —" in render_table(compare_runs(a, b))
    assert "1 within noise; error rates only —" in render_table(compare_runs(old_a, old_b))  # runs before the sketches


def test_a_corrupt_commune_sketch_file_is_named(tmp_path: Path) -> None:
    run = write_recorded_run(tmp_path / "run", "run", {SUBMIT: latencies(50)}, commune_latencies={"00004": [5.0]})
    path = run / "histograms" / "communes.hdr"
    path.write_text(path.read_text(encoding="utf-8") + "00008\tnot-base64!\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_compared_run(run)
    assert str(exc.value.problems[0]).startswith(str(path))


def test_runs_of_different_profiles_or_seeds_are_compared_with_a_warning(tmp_path: Path) -> None:
    a, b = _pair(tmp_path, profile="golive", seed=7)
    comparison = compare_runs(a, b)
    assert comparison.warnings == ["runs differ: profile smoke vs golive, seed 42 vs 7; comparing what is comparable"]
    assert comparison.count("within noise") > 0


def test_a_subject_only_one_run_has_is_a_not_comparable_line(tmp_path: Path) -> None:
    a = recorded_run(tmp_path, "a", {SUBMIT: latencies(100)})
    b = recorded_run(tmp_path, "b", {SUBMIT: latencies(100), CATALOGUE_04: latencies(100)})
    line = next(line for line in compare_runs(a, b).lines if line.subject == "portal GET /procedures")
    assert (line.verdict, line.baseline_requests, line.current_requests) == ("not comparable", 0, 100)
    assert [c.baseline for c in line.latency] == [None, None, None]


# --------------------------------------------------------------------------- records


def test_a_missing_run_or_record_names_what_is_missing(tmp_path: Path) -> None:
    good = write_recorded_run(tmp_path / "good", "good", {SUBMIT: latencies(50)})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as exc:
        load_compared_runs(tmp_path / "nowhere", tmp_path / "empty", good)
    assert [str(p) for p in exc.value.problems] == [
        f"{tmp_path / 'nowhere'}: no such directory; give the directory of a run, holding histograms/latency.hdr "
        "and load.json (e.g. runs/latest)",
        f"{tmp_path / 'empty' / 'histograms' / 'latency.hdr'}: file not found; a run writes it at its end "
        "(was the run interrupted?)",
    ]
    (good / "load.json").unlink()
    with pytest.raises(ConfigError, match=r"good/load.json: file not found"):
        load_compared_run(good)


@pytest.mark.parametrize(("damage", "says"), [
    # Line 1 is the header, line 2 names the run, line 3 is the first histogram.
    (lambda lines: [*lines[:2], lines[2][:-12]], ":3: histogram: "),  # a truncated line
    (lambda lines: [*lines[:2], lines[2].replace("\t", " ", 1)], ":3: expected service, endpoint, province, measure"),
    (lambda lines: [], ": empty file: not a latency record"),
], ids=["truncated", "columns", "empty"])
def test_a_corrupt_histogram_file_is_named_with_its_line(tmp_path: Path, damage, says: str) -> None:
    run = write_recorded_run(tmp_path / "run", "run", {SUBMIT: latencies(50)})
    path = run / "histograms" / "latency.hdr"
    lines = damage(path.read_text(encoding="utf-8").splitlines())
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_compared_run(run)
    (problem,) = exc.value.problems
    assert str(problem).startswith(f"{path}{says}")


# --------------------------------------------------------------------------- formats


def test_the_table_shows_both_runs_intervals_and_the_verdict(tmp_path: Path) -> None:
    comparison = compare_runs(*_pair(tmp_path, shift_ms=50))
    table = render_table(comparison).splitlines()
    assert table[0].startswith("a (A, baseline) → b (B): sent latency, 95 % intervals, at least 30 samples")
    row_a = table.index(next(x for x in table if x.startswith("portal GET /procedures")))
    row_b = table[row_a + 1]
    assert row_b.lstrip().startswith("regressed: p50 p95 p99") and " B " in row_b and "▲" in row_b
    assert "(" in table[row_a] and "–" in table[row_a]  # point (lower–upper)
    assert "2 commune lines not listed (1 within noise, 1 not comparable" in "\n".join(table)
    assert table[-1] == "6 lines: 3 regressed, 0 improved, 2 within noise, 1 not comparable — REGRESSED (exit 1)"


def test_markdown_puts_the_regressions_first_and_every_line_in_a_fold(tmp_path: Path) -> None:
    comparison = compare_runs(*_pair(tmp_path, shift_ms=50, profile="golive"))
    text = render_markdown(comparison)
    head, fold = text.split("<details>")
    assert head.startswith("### dientap compare: ❌ regressed")
    assert "> **Warning:** runs differ: profile smoke vs golive" in head
    assert "| endpoint portal GET /procedures | 400 / 400 |" in head and "**regressed: p50 p95 p99** |" in head
    assert "| province 01 Thành phố Hà Nội |" in fold and "| endpoint portal POST /dossiers |" in fold
    assert "| commune" not in fold  # communes: listed only when they moved
    assert text.rstrip().endswith("REGRESSED (exit 1)")


def test_json_holds_every_line_and_reads_back(tmp_path: Path) -> None:
    comparison = compare_runs(*_pair(tmp_path))
    data = json.loads(render_json(comparison))
    assert len(data["lines"]) == 6 and data["guard"]["min_samples"] == 30
    assert RunComparison.model_validate(data) == comparison
