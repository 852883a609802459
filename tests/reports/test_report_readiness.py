"""Readiness cells and the overall verdict, rule by rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.drill_result import DrillResult, FaultWindow, ReconciliationRow
from reports.readiness import ReadinessThresholds, judge_cell, readiness_matrix
from reports.sample import sample_run
from reports.security_scorecard import SecurityCheckResult, SecurityScorecard
from reports.summary import CheckFigure
from reports.verdict import RunData, overall_verdict

T = ReadinessThresholds()  # errors green ≤ 1 %, amber ≤ 5 %; sign-in p95 limit 1000 ms, amber ≤ 2000 ms

CELLS = [
    ("no figure", None, "grey"),
    ("zero requests", CheckFigure(requests=0, failures=0), "grey"),
    ("clean", CheckFigure(requests=1000, failures=0, p95_ms=200.0), "green"),
    ("at both green limits", CheckFigure(requests=1000, failures=10, p95_ms=1000.0), "green"),
    ("errors just above green", CheckFigure(requests=1000, failures=11, p95_ms=200.0), "amber"),
    ("slow", CheckFigure(requests=1000, failures=0, p95_ms=1500.0), "amber"),
    ("at both amber limits", CheckFigure(requests=1000, failures=50, p95_ms=2000.0), "amber"),
    ("errors above amber", CheckFigure(requests=1000, failures=51, p95_ms=200.0), "red"),
    ("very slow", CheckFigure(requests=1000, failures=0, p95_ms=2000.1), "red"),
    ("all failed, no latency", CheckFigure(requests=10, failures=10), "red"),
]


@pytest.mark.parametrize(("figure", "color"), [c[1:] for c in CELLS], ids=[c[0] for c in CELLS])
def test_cell_colour(figure: CheckFigure | None, color: str) -> None:
    assert judge_cell("sign_in", "Sign-in", figure, T).color == color


def test_cell_text_and_reason() -> None:
    cell = judge_cell("catalogue", "Catalogue published",
                      CheckFigure(requests=200, failures=200, p95_ms=40.0, note="catalogue not published"), T)
    assert cell.text == "0.0 % ok · 40 ms"
    assert cell.reason == "200 requests, 200 failed (100.00 %), p95 40 ms (limit 800 ms); catalogue not published"


def _run(**journal_update) -> RunData:
    sample = sample_run("v", total_requests=3000, duration_s=10, fault=None)
    journal = sample.journal.model_copy(update=journal_update)
    return RunData(Path("."), journal, sample.summary, None, readiness_matrix(sample.summary))


def test_verdict_pass_then_fail_on_drill_and_security() -> None:
    assert overall_verdict(_run()).level == "PASS"
    lossy = DrillResult(name="lossy-axis", title="Lossy axis", verdict="FAIL",
                        faults=[FaultWindow(name="drop", kind="drop", target="axis", start_offset_s=1.0)],
                        reconciliation=[ReconciliationRow(item_kind="documents", ok=97, lost=3, duplicated=0, unexpected=0,
                                                          recovered=0, lost_ids=["a", "b", "c"])])
    failed = overall_verdict(_run(drill=lossy, security=SecurityScorecard(checks=[
        SecurityCheckResult(id="jwt.alg-none", title="alg none refused", owasp="API2:2023", verdict="FAIL")])))
    assert failed.level == "FAIL"
    assert failed.reasons == ["drill lossy-axis: FAIL", "security: 1 of 1 checks did not pass (jwt.alg-none)"]


def test_untrustworthy_generator_warns() -> None:
    run = _run()
    summary = run.summary.model_copy(update={"generator": run.summary.generator.model_copy(
        update={"trustworthy": False, "reasons": ["CPU 98 % on worker-1"]})})
    verdict = overall_verdict(RunData(run.run_dir, run.journal, summary, None, run.matrix))
    assert verdict.level == "WARN"
    assert verdict.reasons == ["load generator untrustworthy — figures may show its own lag: CPU 98 % on worker-1"]
