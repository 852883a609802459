"""The overall verdict (PASS / WARN / FAIL) rule by rule, and loading a run directory for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from reports.gate import evaluate, write_gate_result
from reports.readiness import ReadinessThresholds, readiness_matrix
from reports.run_files import write_run_dir
from reports.sample import sample_run
from reports.summary import AbortInfo, CheckFigure, Summary
from reports.verdict import RunData, load_run, overall_verdict
from tests.reports.rpt_support import budgets, endpoint, make_summary

SAMPLE = sample_run("v", total_requests=3000, duration_s=10, fault=None)


def _run(summary: Summary = SAMPLE.summary, gate_text: str | None = None, thresholds: ReadinessThresholds | None = None,
         ) -> RunData:
    gate = evaluate(summary, budgets(gate_text)) if gate_text is not None else None
    return RunData(Path("."), SAMPLE.journal, summary, gate, readiness_matrix(summary, thresholds))


def _with_check(summary: Summary, code: str, check: str, figure: CheckFigure | None) -> Summary:
    provinces = [p.model_copy(update={"checks": p.checks.model_copy(update={check: figure})}) if p.code == code else p
                 for p in summary.provinces]
    return summary.model_copy(update={"provinces": provinces})


def test_a_clean_run_passes_and_says_what_it_proved() -> None:
    assert overall_verdict(_run()).reasons == ["34/34 provinces ready"]
    gated = overall_verdict(_run(gate_text="budgets:\n  - {error_rate: 0.5}\n"))
    assert (gated.level, gated.reasons) == ("PASS", ["34/34 provinces ready", "all 3 budget lines within budget"])


def test_an_aborted_run_fails_with_the_rule_that_stopped_it() -> None:
    aborted = SAMPLE.summary.model_copy(update={"abort": AbortInfo(aborted=True, reason="p99 12000 ms above 10000 ms for 15 s",
                                                                   at_offset_s=42.0)})
    assert overall_verdict(_run(aborted)).reasons == ["run aborted: p99 12000 ms above 10000 ms for 15 s"]
    silent = SAMPLE.summary.model_copy(update={"abort": AbortInfo(aborted=True)})
    assert overall_verdict(_run(silent)).reasons == ["run aborted: no reason recorded"]


def test_a_broken_budget_fails_and_counts_the_failed_lines() -> None:
    verdict = overall_verdict(_run(gate_text="budgets:\n  - {service: portal, p95_ms: 1}\n"))
    portal = sum(e.service == "portal" for e in SAMPLE.summary.endpoints)
    assert verdict.level == "FAIL"
    assert verdict.reasons == [f"budget broken: {portal} of {portal + 2} budget lines failed"]


def test_a_red_cell_fails_and_names_the_province() -> None:
    summary = _with_check(SAMPLE.summary, "79", "status_sync", CheckFigure(requests=100, failures=40, p95_ms=90.0))
    verdict = overall_verdict(_run(summary))
    assert (verdict.level, verdict.reasons) == ("FAIL", ["33/34 provinces ready (not ready: 79)"])


def test_an_unexercised_check_warns_with_the_count_of_proven_checks() -> None:
    summary = _with_check(SAMPLE.summary, "04", "document_exchange", None)
    summary = _with_check(summary, "11", "catalogue", CheckFigure(requests=0, failures=0))
    verdict = overall_verdict(_run(summary))
    assert verdict.level == "WARN"
    assert verdict.reasons == ["2 provinces not proven: a check was not exercised in this run (04, 11); 202/204 checks proven"]


def test_amber_cells_warn_and_ride_along_with_a_failure() -> None:
    slow = CheckFigure(requests=100, failures=0, p95_ms=1200.0)  # above sign-in's 1000 ms, under 2×
    summary = _with_check(_with_check(SAMPLE.summary, "01", "sign_in", slow), "04", "sign_in", slow)
    assert overall_verdict(_run(summary)).reasons == ["2 readiness cells amber (slow or occasional errors)"]
    assert overall_verdict(_run(summary)).level == "WARN"
    # A failure comes first; the warnings follow it rather than being dropped.
    failing = overall_verdict(_run(summary, gate_text="budgets:\n  - {error_rate: 0.00001}\n"))
    assert failing.level == "FAIL"
    assert failing.reasons[-1] == "2 readiness cells amber (slow or occasional errors)"
    assert failing.reasons[0].startswith("budget broken: 1 of 3")


def test_thresholds_decide_what_is_amber() -> None:
    lenient = ReadinessThresholds(p95_ms={"document_exchange": 10_000.0})
    # Every document exchange here has a p95 of 240–360 ms: above 200 ms, within 2 × 200 ms.
    strict = ReadinessThresholds(p95_ms={"document_exchange": 200.0})
    assert overall_verdict(_run(thresholds=lenient)).level == "PASS"
    verdict = overall_verdict(_run(thresholds=strict))
    assert (verdict.level, verdict.reasons) == ("WARN", ["34 readiness cells amber (slow or occasional errors)"])


def test_a_run_without_provinces_but_with_load_is_not_ready_everywhere() -> None:
    summary = make_summary(endpoint("portal", "POST /dossiers"))
    verdict = overall_verdict(_run(summary))
    assert verdict.level == "FAIL"
    assert verdict.reasons[0].startswith("0/34 provinces ready (not ready: 01, ")


def test_load_run_reads_the_gate_when_it_was_run(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "r", SAMPLE.journal, SAMPLE.summary)
    assert load_run(run_dir).gate is None
    write_gate_result(run_dir, evaluate(SAMPLE.summary, budgets("budgets:\n  - {error_rate: 0.5}\n")))
    run = load_run(run_dir, ReadinessThresholds(amber_factor=3.0))
    assert run.gate is not None and run.gate.passed and run.matrix.thresholds.amber_factor == 3.0
    assert (run.summary, run.journal, run.run_dir) == (SAMPLE.summary, SAMPLE.journal, run_dir)


def test_load_run_names_the_missing_journal(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "r", SAMPLE.journal, SAMPLE.summary)
    (run_dir / "journal.json").unlink()
    with pytest.raises(ConfigError, match=r"r/journal.json: file not found"):
        load_run(run_dir)
