"""The budget gate: table-driven verdicts, table, JUnit XML, gate.json, exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.errors import ConfigError, ExitCode
from reports.gate import evaluate, load_gate_result, render_table, run_gate, write_junit
from reports.run_files import write_run_dir
from reports.summary import AbortInfo, GeneratorHealth, Summary
from tests.reports.rpt_support import budgets, endpoint, make_journal, make_summary

BUDGETS = """\
version: 1
budgets:
  - name: submit
    service: portal
    endpoint: POST /dossiers
    p95_ms: 150
    p99_ms: 400
    error_rate: 0.01
  - name: population
    service: population
    p95_ms: 100
  - name: run
    error_rate: 0.02
    min_throughput: 0.95
regression:
  - name: slower
    p95_growth: 0.10
    min_delta_ms: 5
"""

HEALTHY = make_summary()


@dataclass(frozen=True)
class Case:
    """One gate scenario: the run, an optional baseline, and the rows expected to fail."""

    id: str
    summary: Summary
    failed: set[str]  # GateRow.name of every failed row
    baseline: Summary | None = None


CASES = [
    Case("passing run", HEALTHY, set(), baseline=HEALTHY),
    Case("p95 broken", make_summary(endpoint("portal", "POST /dossiers", p95=151.0), endpoint("portal", "GET /procedures"),
                                    endpoint("population", "GET /citizens/{personal_id}", p95=40.0)),
         {"portal POST /dossiers p95_ms"}),
    Case("error rate broken", make_summary(endpoint("portal", "POST /dossiers", failures=11),
                                           endpoint("portal", "GET /procedures"),
                                           endpoint("population", "GET /citizens/{personal_id}", p95=40.0)),
         {"portal POST /dossiers error_rate"}),
    Case("exactly at the limit passes", make_summary(endpoint("portal", "POST /dossiers", p95=150.0, failures=10),
                                                     endpoint("population", "GET /citizens/{personal_id}", p95=100.0)), set()),
    Case("whole-run error rate and throughput",
         make_summary(endpoint("portal", "POST /dossiers", failures=5, count=1000),
                      endpoint("population", "GET /citizens/{personal_id}", p95=40.0, failures=60), intended_total=2500),
         {"whole run error_rate", "whole run throughput"}),
    Case("regression vs baseline",
         make_summary(endpoint("portal", "POST /dossiers", p95=120.0), endpoint("portal", "GET /procedures", p95=54.0),
                      endpoint("population", "GET /citizens/{personal_id}", p95=40.0)),
         {"portal POST /dossiers p95_ms regression"}, baseline=HEALTHY),
    Case("endpoint missing is not measured",
         make_summary(endpoint("portal", "GET /procedures"), endpoint("population", "GET /citizens/{personal_id}", p95=40.0)),
         {"portal POST /dossiers p95_ms", "portal POST /dossiers p99_ms", "portal POST /dossiers error_rate"}),
    Case("service missing is not measured",
         make_summary(endpoint("portal", "POST /dossiers")),
         {"population * p95_ms"}),
    Case("endpoint gone since the baseline",
         make_summary(endpoint("portal", "POST /dossiers"), endpoint("population", "GET /citizens/{personal_id}", p95=40.0)),
         {"portal GET /procedures p95_ms regression"}, baseline=HEALTHY),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gate_verdicts(case: Case) -> None:
    result = evaluate(case.summary, budgets(BUDGETS), case.baseline)
    assert {r.name for r in result.failed} == case.failed
    assert result.exit_code == (ExitCode.BUDGET_BREACHED if case.failed else ExitCode.OK)
    assert int(result.exit_code) == (1 if case.failed else 0)


def test_regression_row_carries_baseline_and_allowed_limit() -> None:
    current = make_summary(endpoint("portal", "POST /dossiers", p95=120.0))
    result = evaluate(current, budgets(BUDGETS), HEALTHY)
    row = next(r for r in result.rows if r.name == "portal POST /dossiers p95_ms regression")
    assert (row.measured, row.limit, row.verdict) == (120.0, pytest.approx(110.0), "FAIL")
    assert row.note == "baseline 100.0 ms, +10% allowed"
    # the noise floor: GET /procedures went 50 → 54 ms (+8 %) and is within min_delta_ms anyway
    tiny = evaluate(make_summary(endpoint("portal", "GET /procedures", p95=4.0)), budgets(BUDGETS),
                    make_summary(endpoint("portal", "GET /procedures", p95=1.0)))
    assert [r.verdict for r in tiny.rows if r.metric == "p95_ms regression"] == ["PASS"]


def test_missing_endpoint_row_says_not_measured() -> None:
    result = evaluate(make_summary(endpoint("portal", "GET /procedures")), budgets(BUDGETS))
    row = next(r for r in result.rows if r.name == "portal POST /dossiers p95_ms")
    assert row.measured is None and row.verdict == "FAIL"
    assert row.note == "not measured: portal POST /dossiers is not in the run's summary"


def test_generator_and_abort_rows() -> None:
    summary = make_summary().model_copy(update={
        "generator": GeneratorHealth(trustworthy=False, reasons=["schedule lag p99 2.1 s"]),
        "abort": AbortInfo(aborted=True, reason="error rate above 20 % for 30 s"),
    })
    result = evaluate(summary, budgets(BUDGETS))
    failed = {r.name: r.note for r in result.failed}
    assert failed == {"run completed": "aborted: error rate above 20 % for 30 s",
                      "load generator trustworthy": "schedule lag p99 2.1 s"}
    relaxed = budgets(BUDGETS + "generator:\n  require_trustworthy: false\n  fail_on_abort: false\n")
    assert evaluate(summary, relaxed).passed


def test_intended_measure_and_missing_intended_latency() -> None:
    b = budgets("budgets:\n  - service: portal\n    measure: intended\n    p95_ms: 105\n")
    result = evaluate(make_summary(endpoint("portal", "POST /dossiers", p95=100.0, intended_p95=130.0),
                                   endpoint("portal", "GET /procedures", intended_p95=None)), b)
    rows = {r.name: (r.measured, r.verdict, r.note) for r in result.rows if r.budget == "budgets[0]"}
    assert rows == {"portal POST /dossiers intended p95_ms": (130.0, "FAIL", ""),
                    "portal GET /procedures intended p95_ms": (None, "FAIL", "no intended-start latency recorded")}


def test_regression_without_baseline_is_skipped_not_passed() -> None:
    result = evaluate(HEALTHY, budgets(BUDGETS))
    skipped = [r for r in result.rows if r.verdict == "SKIP"]
    assert [(r.budget, r.note) for r in skipped] == [("slower", "no baseline run given")]
    assert result.passed


def test_render_table_shows_measured_limit_and_verdict() -> None:
    summary = make_summary(endpoint("portal", "POST /dossiers", p95=812.4),
                           endpoint("population", "GET /citizens/{personal_id}", p95=40.0))
    table = render_table(evaluate(summary, budgets(BUDGETS)))
    line = next(x for x in table.splitlines() if "POST /dossiers p95_ms" in x)
    assert "812.4 ms" in line and "<= 150.0 ms" in line and line.rstrip().endswith("FAIL")
    assert table.splitlines()[-1] == "9 budget lines: 7 passed, 1 failed, 1 skipped — BUDGET BROKEN (exit 1)"


def test_junit_has_one_case_per_row_and_failures_carry_measured_vs_limit(tmp_path: Path) -> None:
    summary = make_summary(endpoint("portal", "POST /dossiers", p95=812.4),
                           endpoint("population", "GET /citizens/{personal_id}", p95=40.0))
    result = evaluate(summary, budgets(BUDGETS))
    path = write_junit(result, tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(result.rows) == int(suite.get("tests"))
    assert suite.get("failures") == "1" and suite.get("skipped") == "1" and suite.get("errors") == "0"
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["portal POST /dossiers p95_ms"]
    failure = failed[0].find("failure")
    assert failure.get("message") == "measured 812.4 ms, limit <= 150.0 ms"
    assert failure.get("type") == "BudgetBreached"
    assert failed[0].get("classname") == "dientap.gate.submit"
    assert len({c.get("name") for c in cases}) == len(cases)  # names unique
    assert sum(c.find("skipped") is not None for c in cases) == 1


def test_run_gate_writes_gate_json_and_junit(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run", make_journal(), make_summary())
    budgets_file = tmp_path / "budgets.yaml"
    budgets_file.write_text(BUDGETS, encoding="utf-8")
    result = run_gate(run_dir, budgets_file, baseline_dir=run_dir, junit=tmp_path / "out" / "junit.xml")
    assert result.passed and result.baseline_run_id == "run-1"
    assert load_gate_result(run_dir) == result
    assert (tmp_path / "out" / "junit.xml").exists()
    assert load_gate_result(tmp_path) is None


def test_run_gate_input_errors_map_to_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        run_gate(tmp_path / "missing-run")
    assert exc.value.exit_code == ExitCode.CONFIG_ERROR
    assert str(exc.value) == f"{tmp_path / 'missing-run' / 'summary.json'}: file not found"
