"""``dientap compare`` on recorded run directories, through the real command line in an
audited process: exit codes, the three formats, ``--output``, and every bad input refused
with one line before any output, starting nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kernel.errors import ExitCode
from kernel.hdr import SparseHistogram
from reports.compare import RunComparison
from tests.reports.compare_support import latencies, write_recorded_run

SUBMIT = ("portal", "POST /dossiers", "01")
CATALOGUE = ("portal", "GET /procedures", "04")

CASES: dict[str, list[str]] = {
    "same": ["compare", "a", "b"],
    "slower": ["compare", "a", "slower"],
    "json": ["compare", "a", "slower", "--format", "json"],
    "markdown-file": ["compare", "a", "slower", "--format", "markdown", "--output", "out/compare.md"],
    "other-profile": ["compare", "a", "other"],
    "strict-samples": ["compare", "a", "slower", "--min-samples", "1000"],
    "missing-run": ["compare", "a", "nosuch"],
    "corrupt-histograms": ["compare", "corrupt", "b"],
    "two-bad-runs": ["compare", "nosuch", "corrupt"],
    "min-samples-zero": ["compare", "a", "b", "--min-samples", "0"],
    "min-growth-negative": ["compare", "a", "b", "--min-growth", "-1"],
    "error-delta-above-one": ["compare", "a", "b", "--min-error-delta", "2"],
    "format-xml": ["compare", "a", "b", "--format", "xml"],
    "output-folder": ["compare", "a", "b", "--output", "a"],
    "same-run": ["compare", "a", "a"],
    "huge-commune": ["compare", "a", "huge"],
}


@pytest.fixture(scope="module")
def runs(run_audited, tmp_path_factory) -> dict[str, Any]:
    """Four recorded runs in one folder and every case of this module run there, audited."""
    cwd = tmp_path_factory.mktemp("compare-cli")
    base = {SUBMIT: latencies(300, seed=1), CATALOGUE: latencies(300, seed=2)}
    write_recorded_run(cwd / "a", "a", base)
    write_recorded_run(cwd / "b", "b", {SUBMIT: latencies(300, seed=3), CATALOGUE: latencies(300, seed=4)})
    write_recorded_run(cwd / "slower", "slower", {SUBMIT: latencies(300, seed=3),
                                                 CATALOGUE: latencies(300, seed=4, shift_ms=50)})
    write_recorded_run(cwd / "other", "other", base, profile="golive")
    corrupt = write_recorded_run(cwd / "corrupt", "corrupt", base) / "histograms" / "latency.hdr"
    lines = corrupt.read_text(encoding="utf-8").splitlines()
    corrupt.write_text("\n".join([*lines[:2], lines[2][:-20]]) + "\n", encoding="utf-8")
    huge = write_recorded_run(cwd / "huge", "huge", base, communes={"00070": (50, 0)},
                              commune_latencies={"00070": latencies(50)}) / "histograms" / "communes.hdr"
    sketch = SparseHistogram(2)
    sketch.record(1000)
    sketch.counts[next(iter(sketch.counts))] = sketch.total = 2**62  # the intervals overflowed a float (exit 70)
    huge.write_text(f"# per-commune latency\n00070\t{sketch.encode()}\n", encoding="utf-8")
    return dict(zip(CASES, run_audited(list(CASES.values()), cwd=cwd), strict=True))


def _verdict_line(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_identical_runs_exit_0_with_the_table(runs):
    run = runs["same"]
    assert run.code == ExitCode.OK and run.err == "", run
    assert run.out.startswith("a (A, baseline) → b (B): sent latency, 95 % intervals, at least 30 samples")
    assert _verdict_line(run.out).endswith("— no regression (exit 0)")
    assert " 0 regressed, 0 improved," in _verdict_line(run.out)
    assert run.events == []


def test_a_slower_route_exits_1_and_is_named(runs):
    run = runs["slower"]
    assert run.code == ExitCode.BUDGET_BREACHED
    lines = run.out.splitlines()
    verdict = lines[lines.index(next(x for x in lines if x.startswith("portal GET /procedures"))) + 1]
    # 300 samples cannot bound p99 from above (∞), so p99 cannot be shown to have moved.
    assert verdict.lstrip().startswith("regressed: p50 p95 ") and verdict.endswith("–∞)")
    assert _verdict_line(run.out).endswith("— REGRESSED (exit 1)")


def test_json_is_the_whole_comparison(runs):
    run = runs["json"]
    comparison = RunComparison.model_validate(json.loads(run.out))
    assert run.code == ExitCode.BUDGET_BREACHED == comparison.exit_code
    assert {(line.kind, line.subject) for line in comparison.regressed} == {
        ("endpoint", "portal GET /procedures"), ("province", "04 Tỉnh Cao Bằng")}


def test_markdown_goes_to_the_output_file(runs):
    run = runs["markdown-file"]
    assert run.code == ExitCode.BUDGET_BREACHED
    assert run.out.startswith("wrote out/compare.md: ") and run.out.rstrip().endswith("REGRESSED (exit 1)")
    assert "out" in run.files


def test_a_higher_minimum_makes_every_line_not_comparable_and_nothing_fails(runs):
    run = runs["strict-samples"]
    assert run.code == ExitCode.OK
    assert " 0 within noise, " in _verdict_line(run.out) and "at least 1000 samples" in run.out


def test_runs_of_different_profiles_are_compared_after_one_warning(runs):
    run = runs["other-profile"]
    assert run.code == ExitCode.OK
    assert run.err.strip().splitlines() == ["WARNING: runs differ: profile smoke vs golive; comparing what is comparable"]
    assert "within noise" in run.out


@pytest.mark.parametrize(("case", "code", "errors"), [
    ("missing-run", ExitCode.CONFIG_ERROR,
     ["ERROR: nosuch: no such directory; give the directory of a run, holding histograms/latency.hdr and load.json "
      "(e.g. runs/latest)"]),
    ("corrupt-histograms", ExitCode.CONFIG_ERROR, ["ERROR: corrupt/histograms/latency.hdr:3: histogram: "]),
    ("two-bad-runs", ExitCode.CONFIG_ERROR, ["ERROR: nosuch: no such directory",
                                             "ERROR: corrupt/histograms/latency.hdr:3: histogram: "]),
    ("min-samples-zero", ExitCode.USAGE_ERROR, ["ERROR: argument --min-samples: '0' is not a whole number, 1 or more"]),
    ("min-growth-negative", ExitCode.USAGE_ERROR,
     ["ERROR: argument --min-growth: '-1' is not a finite number, 0 or more"]),
    ("error-delta-above-one", ExitCode.USAGE_ERROR,
     ["ERROR: argument --min-error-delta: '2' is not a number from 0 to 1"]),
    ("format-xml", ExitCode.USAGE_ERROR, ["ERROR: argument --format: invalid choice: 'xml'"]),
    ("output-folder", ExitCode.USAGE_ERROR, ["ERROR: argument --output: 'a' is a folder; give a file to write"]),
    ("same-run", ExitCode.CONFIG_ERROR,
     ["ERROR: a: the baseline is run 'a', the run it would judge; give the directory of an earlier run"]),
    ("huge-commune", ExitCode.CONFIG_ERROR,
     [f"ERROR: huge/histograms/communes.hdr: histogram of commune 00070: {2**62:,} samples; a run records at most"]),
])
def test_bad_input_is_refused_before_any_output(runs, case, code, errors):
    run = runs[case]
    assert run.code == code, run
    lines = run.err.strip().splitlines()
    assert len(lines) == len(errors), run.err
    for line, start in zip(lines, errors, strict=True):
        assert line.startswith(start), (line, start)
    assert run.out == "" and "Traceback" not in run.err
    assert run.events == []
