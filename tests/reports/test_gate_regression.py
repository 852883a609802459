"""The gate's regression limits judged by the comparison logic (``dientap compare``):
regressed → FAIL, not comparable → SKIP with a note, within noise or improved → PASS.

Every run here is a recorded run directory (histograms, load record, summary built from
them) written by the project's own writers from known latencies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.compared_run import RunPair
from reports.gate import GateResult, GateRow, evaluate
from reports.run_files import load_summary
from tests.reports.compare_support import latencies, recorded_run
from tests.reports.rpt_support import budgets

SUBMIT = ("portal", "POST /dossiers", "01")
CATALOGUE = ("portal", "GET /procedures", "04")
LOOKUP = ("population", "GET /citizens/{personal_id}", "01")


def _gate(tmp_path: Path, limits: str, base: dict, now: dict, **now_kwargs) -> GateResult:
    """Evaluate ``limits`` on run ``now`` with baseline ``base`` (sample maps)."""
    baseline = recorded_run(tmp_path, "base", base)
    current = recorded_run(tmp_path, "now", now, **now_kwargs)
    return evaluate(load_summary(current.directory), budgets(limits), RunPair(baseline, current))


def _rows(result: GateResult) -> dict[str, GateRow]:
    return {r.name: r for r in result.rows if r.budget != "generator"}


def test_identical_records_pass_every_regression_row(tmp_path: Path) -> None:
    samples = {SUBMIT: latencies(400, seed=1), CATALOGUE: latencies(400, seed=2)}
    result = _gate(tmp_path, "regression:\n  - {p50_growth: 0.1, p95_growth: 0.1, p99_growth: 0.1, min_delta_ms: 0}\n",
                   samples, samples)
    rows = _rows(result)
    assert len(rows) == 6 and {r.verdict for r in rows.values()} == {"PASS"}
    assert all(r.note.endswith(": within noise") for r in rows.values())


def test_a_slower_endpoint_fails_and_only_that_endpoint(tmp_path: Path) -> None:
    base = {SUBMIT: latencies(400, seed=1), CATALOGUE: latencies(400, seed=2)}
    now = {SUBMIT: latencies(400, seed=3, shift_ms=50), CATALOGUE: latencies(400, seed=4)}
    result = _gate(tmp_path, "regression:\n  - {p50_growth: 0.5, p95_growth: 0.5, min_delta_ms: 20}\n", base, now)
    assert {r.name for r in result.failed} == {"portal POST /dossiers p50_ms regression",
                                               "portal POST /dossiers p95_ms regression"}
    row = _rows(result)["portal POST /dossiers p95_ms regression"]
    assert row.note.startswith("baseline ") and row.note.endswith(": regressed")
    # The limit is where the change would clear both floors: max(+50 %, +20 ms) over the baseline.
    base_p95 = float(row.note.split()[1])
    assert row.limit == pytest.approx(max(base_p95 * 1.5, base_p95 + 20), abs=0.05)


def test_a_handful_of_samples_is_skipped_with_a_note_never_failed(tmp_path: Path) -> None:
    # The false alarm: payments p95 1.2 ms on 3 samples, then 15 ms on 1.
    payments = ("portal", "POST /dossiers/{code}/payments", "01")
    result = _gate(tmp_path, "regression:\n  - {p95_growth: 0.1, min_delta_ms: 5}\n",
                   {payments: [1.0, 1.1, 1.2]}, {payments: [15.0]})
    (row,) = _rows(result).values()
    assert (row.verdict, row.note) == ("SKIP", "not comparable: 3 vs 1 samples, at least 30 needed")
    assert result.passed


def test_an_endpoint_gone_since_the_baseline_is_not_comparable(tmp_path: Path) -> None:
    result = _gate(tmp_path, "regression:\n  - {p95_growth: 0.1, error_rate_growth: 0.01}\n",
                   {SUBMIT: latencies(100), CATALOGUE: latencies(100)}, {CATALOGUE: latencies(100)})
    rows = _rows(result)
    assert (rows["portal POST /dossiers p95_ms regression"].verdict,
            rows["portal POST /dossiers p95_ms regression"].note) == ("SKIP", "not comparable: absent from this run "
                                                                      "(100 vs 0 samples)")
    assert rows["portal POST /dossiers error_rate regression"].note == ("not comparable: absent from this run "
                                                                       "(100 vs 0 requests)")
    assert result.passed


def test_the_floors_are_the_noise_guard(tmp_path: Path) -> None:
    # 5 → 8 ms on 3,000 samples: the intervals are far apart, but the change is 3 ms.
    base, now = {SUBMIT: latencies(3000, seed=1)}, {SUBMIT: latencies(3000, seed=2, shift_ms=3)}
    guarded = _gate(tmp_path / "guarded", "regression:\n  - {p50_growth: 0.1, min_delta_ms: 20}\n", base, now)
    assert [r.verdict for r in _rows(guarded).values()] == ["PASS"]
    bare = _gate(tmp_path / "bare", "regression:\n  - {p50_growth: 0.1, min_delta_ms: 0}\n", base, now)
    assert [r.verdict for r in _rows(bare).values()] == ["FAIL"]


def test_an_improvement_passes(tmp_path: Path) -> None:
    result = _gate(tmp_path, "regression:\n  - {p95_growth: 0.1, min_delta_ms: 5}\n",
                   {SUBMIT: latencies(400, shift_ms=60)}, {SUBMIT: latencies(400)})
    (row,) = _rows(result).values()
    assert row.verdict == "PASS" and row.note.endswith(": improved")


def test_error_rate_growth_needs_a_real_difference_and_the_floor(tmp_path: Path) -> None:
    limits = "regression:\n  - {error_rate_growth: 0.005}\n"
    samples = {SUBMIT: latencies(1000)}
    worse = _gate(tmp_path / "worse", limits, samples, samples, failures={SUBMIT: 60})
    (row,) = _rows(worse).values()
    assert (row.verdict, row.measured, row.limit) == ("FAIL", 0.06, 0.005)
    assert row.note.startswith("baseline 0.00 %, difference +") and row.note.endswith(": regressed")
    # 0 → 3 failures in 1,000: the interval of the difference reaches below 0 — noise.
    noise = _gate(tmp_path / "noise", limits, samples, samples, failures={SUBMIT: 3})
    assert [r.verdict for r in _rows(noise).values()] == ["PASS"]


def test_a_selector_and_the_intended_measure_judge_the_intended_histograms(tmp_path: Path) -> None:
    limits = "regression:\n  - {service: portal, endpoint: GET /procedures, measure: intended, p99_growth: 0.5}\n"
    sent = {SUBMIT: latencies(500), CATALOGUE: latencies(500)}
    base_intended = {CATALOGUE: latencies(500, seed=5)}
    baseline = recorded_run(tmp_path, "base", sent, intended=base_intended)
    current = recorded_run(tmp_path, "now", sent, intended={CATALOGUE: latencies(500, seed=6, shift_ms=200)})
    result = evaluate(load_summary(current.directory), budgets(limits), RunPair(baseline, current))
    (row,) = _rows(result).values()
    assert (row.name, row.verdict) == ("portal GET /procedures intended p99_ms regression", "FAIL")
    # Without intended latency in the baseline there is nothing to regress from.
    plain = recorded_run(tmp_path, "plain", sent)
    assert _rows(evaluate(load_summary(current.directory), budgets(limits), RunPair(plain, current))) == {}


def test_lookups_of_another_service_are_left_out_by_the_service_selector(tmp_path: Path) -> None:
    samples = {SUBMIT: latencies(100), LOOKUP: latencies(100)}
    result = _gate(tmp_path, "regression:\n  - {service: population, p95_growth: 0.1}\n", samples, samples)
    assert list(_rows(result)) == ["population GET /citizens/{personal_id} p95_ms regression"]
