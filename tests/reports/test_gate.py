"""The budget gate: table-driven verdicts, table, JUnit XML, gate.json, exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.errors import ConfigError, ExitCode
from reports.gate import GateResult, GateRow, evaluate, format_value, load_gate_result, render_table, run_gate, write_junit
from reports.run_files import write_run_dir
from reports.summary import AbortInfo, EndpointProvinceStats, GeneratorHealth, ProvinceSummary, Summary
from tests.reports.compare_support import latencies, write_recorded_run
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
    """One gate scenario: the run and the rows expected to fail (baselines: test_gate_regression.py)."""

    id: str
    summary: Summary
    failed: set[str]  # GateRow.name of every failed row


CASES = [
    Case("passing run", HEALTHY, set()),
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
    Case("endpoint missing is not measured",
         make_summary(endpoint("portal", "GET /procedures"), endpoint("population", "GET /citizens/{personal_id}", p95=40.0)),
         {"portal POST /dossiers p95_ms", "portal POST /dossiers p99_ms", "portal POST /dossiers error_rate"}),
    Case("service missing is not measured",
         make_summary(endpoint("portal", "POST /dossiers")),
         {"population * p95_ms"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gate_verdicts(case: Case) -> None:
    result = evaluate(case.summary, budgets(BUDGETS))
    assert {r.name for r in result.failed} == case.failed
    assert result.exit_code == (ExitCode.BUDGET_BREACHED if case.failed else ExitCode.OK)
    assert int(result.exit_code) == (1 if case.failed else 0)


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
    # The baseline recorded the same samples: the regression rows compare identical figures.
    samples = {("portal", "POST /dossiers", "01"): latencies(200)}
    baseline_dir = write_recorded_run(tmp_path / "base", "run-0", samples)
    run_dir = write_recorded_run(tmp_path / "run", "run-1", samples)
    budgets_file = tmp_path / "budgets.yaml"
    budgets_file.write_text(BUDGETS, encoding="utf-8")
    result = run_gate(run_dir, budgets_file, baseline_dir=baseline_dir, junit=tmp_path / "out" / "junit.xml")
    assert result.baseline_run_id == "run-0"
    assert [r.verdict for r in result.rows if r.budget == "slower"] == ["PASS"]
    assert load_gate_result(run_dir) == result
    assert (tmp_path / "out" / "junit.xml").exists()
    assert load_gate_result(tmp_path) is None


def test_run_gate_input_errors_map_to_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        run_gate(tmp_path / "missing-run")
    assert exc.value.exit_code == ExitCode.CONFIG_ERROR
    assert str(exc.value) == f"{tmp_path / 'missing-run' / 'summary.json'}: file not found"


# --------------------------------------------------------------------------- selectors beyond service/endpoint


def _lines(result: GateResult) -> list[GateRow]:
    """The rows of the budget and regression lines (the two generator rows left out)."""
    return [r for r in result.rows if r.budget != "generator"]


def _province(code: str, *, requests: int = 500, failures: int = 0, p95: float | None = 300.0) -> ProvinceSummary:
    return ProvinceSummary(code=code, name=f"province {code}", communes_total=10, communes_active=10, requests=requests,
                           failures=failures, p95_ms=p95)


def _per_province(code: str, *, p95: float = 100.0, failures: int = 0) -> EndpointProvinceStats:
    return EndpointProvinceStats(province_code=code, **endpoint("portal", "POST /dossiers", p95=p95,
                                                               failures=failures).model_dump())


def test_every_province_budget_makes_one_row_per_province_and_judges_each() -> None:
    summary = make_summary().model_copy(update={"provinces": [
        _province("01"), _province("04", p95=1600.0), _province("11", requests=100, failures=3), _province("79", p95=None)]})
    result = evaluate(summary, budgets("budgets:\n  - {name: prov, province: '*', p95_ms: 1500, error_rate: 0.02}\n"))
    rows = {r.name: (r.measured, r.verdict, r.note) for r in result.rows if r.budget == "prov"}
    assert rows == {
        "province 01 p95_ms": (300.0, "PASS", ""), "province 01 error_rate": (0.0, "PASS", ""),
        "province 04 p95_ms": (1600.0, "FAIL", ""), "province 04 error_rate": (0.0, "PASS", ""),
        "province 11 p95_ms": (300.0, "PASS", ""), "province 11 error_rate": (0.03, "FAIL", ""),
        "province 79 p95_ms": (None, "FAIL", "not measured"), "province 79 error_rate": (0.0, "PASS", ""),
    }


def test_a_named_province_absent_from_the_run_fails_as_not_measured() -> None:
    summary = make_summary().model_copy(update={"provinces": [_province("01")]})
    result = evaluate(summary, budgets("budgets:\n  - {province: '04', p95_ms: 1500, error_rate: 0.02}\n"))
    assert [(r.name, r.verdict, r.note) for r in result.rows if r.budget == "budgets[0]"] == [
        ("province 04 p95_ms", "FAIL", "not measured: province 04 is not in the run's summary"),
        ("province 04 error_rate", "FAIL", "not measured: province 04 is not in the run's summary"),
    ]
    present = evaluate(summary, budgets("budgets:\n  - {province: '01', error_rate: 0.02}\n"))
    assert [(r.name, r.verdict) for r in present.rows if r.budget == "budgets[0]"] == [("province 01 error_rate", "PASS")]


def test_endpoint_budget_per_province_reads_the_endpoint_province_figures() -> None:
    summary = make_summary().model_copy(update={"endpoint_provinces": [
        _per_province("01"), _per_province("04", p95=900.0), _per_province("11", failures=50)]})
    b = budgets("budgets:\n  - {service: portal, endpoint: POST /dossiers, province: '*', p95_ms: 800, error_rate: 0.01}\n"
                "  - {service: portal, endpoint: POST /dossiers, province: '04', p95_ms: 1000}\n"
                "  - {service: axis, province: '04', p95_ms: 1000}\n")
    result = evaluate(summary, b)
    assert {r.name for r in result.failed} == {
        "portal POST /dossiers province 04 p95_ms",
        "portal POST /dossiers province 11 error_rate",
        "axis * province 04 p95_ms",  # nothing of the axis measured in province 04
    }
    one = [r for r in result.rows if r.budget == "budgets[1]"]
    assert [(r.name, r.measured, r.verdict) for r in one] == [("portal POST /dossiers province 04 p95_ms", 900.0, "PASS")]
    assert len([r for r in result.rows if r.budget == "budgets[0]"]) == 6  # 3 provinces × 2 limits


def test_endpoint_throughput_compares_achieved_with_intended_requests() -> None:
    b = budgets("budgets:\n  - {service: portal, min_throughput: 0.95}\n")
    summary = make_summary(endpoint("portal", "POST /dossiers", count=940, intended_count=1000),
                           endpoint("portal", "GET /procedures", count=950, intended_count=1000),
                           endpoint("portal", "GET /dossiers/{code}", count=10, intended_count=None))
    rows = {r.subject: (r.measured, r.comparison, r.verdict, r.note)
            for r in evaluate(summary, b).rows if r.metric == "throughput"}
    assert rows == {"portal POST /dossiers": (0.94, ">=", "FAIL", ""),
                    "portal GET /procedures": (0.95, ">=", "PASS", ""),
                    "portal GET /dossiers/{code}": (None, ">=", "FAIL", "no intended count recorded")}


def test_an_endpoint_without_requests_fails_its_error_rate_instead_of_dividing_by_zero() -> None:
    result = evaluate(make_summary(endpoint("axis", "GET /inbox", count=0)),
                      budgets("budgets:\n  - {service: axis, error_rate: 0.01}\n"))
    (row,) = [r for r in result.rows if r.budget == "budgets[0]"]
    assert (row.measured, row.verdict, row.note) == (None, "FAIL", "no requests")


def test_missing_selector_lists_every_limit_of_the_budget_as_not_measured() -> None:
    b = budgets("budgets:\n  - {service: axis, measure: intended, p50_ms: 10, p99_ms: 90, min_throughput: 0.9}\n")
    rows = [r for r in evaluate(make_summary(), b).rows if r.budget == "budgets[0]"]
    assert [(r.metric, r.comparison, r.unit) for r in rows] == [
        ("intended p50_ms", "<=", "ms"), ("intended p99_ms", "<=", "ms"), ("throughput", ">=", "ratio")]
    assert {(r.subject, r.verdict, r.measured) for r in rows} == {("axis *", "FAIL", None)}


# --------------------------------------------------------------------------- output details


@pytest.mark.parametrize(("value", "unit", "text"), [
    (None, "ms", "not measured"), (1234.56, "ms", "1,234.6 ms"), (0.0125, "ratio", "1.25 %"), (0.0, "ratio", "0.00 %"),
    (1.0, "flag", "yes"), (0.0, "flag", "no")])
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_table_shows_a_skipped_row_without_measured_or_limit_and_notes_only_off_pass() -> None:
    summary = make_summary(endpoint("portal", "POST /dossiers", p95=151.0),
                           endpoint("population", "GET /citizens/{personal_id}", p95=40.0))
    lines = render_table(evaluate(summary, budgets(BUDGETS))).splitlines()
    header, rule, *body, verdict = lines
    assert header.split() == ["Budget", "Measured", "Limit", "Verdict"]
    assert set(rule.replace(" ", "")) == {"-"}
    skipped = next(x for x in body if x.startswith("slower:"))
    assert skipped.split()[-7:] == ["—", "—", "SKIP", "(no", "baseline", "run", "given)"]
    assert next(x for x in body if "whole run error_rate" in x).rstrip().endswith("PASS")
    assert verdict.endswith("— BUDGET BROKEN (exit 1)")
    assert len({len(x.rsplit("  ", 1)[0]) for x in [header, *body]}) == 1  # the verdict column lines up


def test_junit_keeps_rows_with_the_same_name_apart_and_marks_skips(tmp_path: Path) -> None:
    b = budgets("budgets:\n  - {name: strict, service: portal, endpoint: POST /dossiers, p95_ms: 50}\n"
                "  - {name: lenient, service: portal, endpoint: POST /dossiers, p95_ms: 500}\n"
                "regression:\n  - {p95_growth: 0.1}\n")
    root = ET.parse(write_junit(evaluate(make_summary(), b), tmp_path / "j.xml")).getroot()
    cases = [c for c in root.find("testsuite").findall("testcase") if c.get("classname") != "dientap.gate.generator"]
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("dientap.gate.strict", "portal POST /dossiers p95_ms"),
        ("dientap.gate.lenient", "portal POST /dossiers p95_ms #2"),
        ("dientap.gate.regression[0]", "baseline regression"),
    ]
    assert cases[0].find("failure").text == ("strict: portal POST /dossiers p95_ms\nmeasured: 100.0 ms\n"
                                             "limit: <= 50.0 ms")
    assert cases[1].find("system-out").text == "measured 100.0 ms, limit <= 500.0 ms"
    assert cases[2].find("skipped").get("message") == "no baseline run given"
    assert (root.get("tests"), root.get("failures")) == ("5", "1")  # with the two generator rows
    assert (tmp_path / "j.xml").read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>\n')


def test_run_gate_with_the_shipped_budgets_names_them_and_refuses_an_invalid_baseline(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run", make_journal(), make_summary())
    result = run_gate(run_dir)
    assert result.budgets_source == "reports/budgets.yaml (default)" and result.baseline_run_id is None
    assert load_gate_result(run_dir) == result
    # A baseline is read for its records (histograms and load record), not its summary.
    write_run_dir(tmp_path / "base", make_journal(), make_summary())
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir, baseline_dir=tmp_path / "base")
    assert str(exc.value).startswith(f"{tmp_path / 'base' / 'histograms' / 'latency.hdr'}: file not found")
