"""`dientap gate`, `dientap report` and the end of `dientap run` on recorded run directories.

The run directories are written by the project's own record writers from a synthetic run
(:func:`reports.sample.sample_run`), so every expected verdict below is derived from the
figures the run recorded, never typed in.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # nosec B405 - parses only XML this test's own gate wrote
from pathlib import Path

import pytest
import yaml

from dientap.cli import main
from dientap.commands.run_cmd import finish_run
from kernel.errors import ExitCode
from reports.gate import load_gate_result
from reports.run_files import write_run_dir
from reports.sample import sample_run
from reports.summary import AbortInfo, GeneratorHealth, Summary
from tests.reports.compare_support import latencies, write_recorded_run

LAST_LINE = r"^(\d+) budget lines: (\d+) passed, (\d+) failed, (\d+) skipped — (within budget|BUDGET BROKEN) \(exit (\d)\)$"


def _record(run_dir: Path, run_id: str = "r1", **changes: object) -> Summary:
    """Write a small synthetic run into ``run_dir``; ``changes`` replace summary fields."""
    sample = sample_run(run_id, total_requests=3000, duration_s=10, fault=None)
    summary = sample.summary.model_copy(update=changes)
    write_run_dir(run_dir, sample.journal, summary)
    return summary


def _budgets(path: Path, lines: list[dict], **sections: object) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "budgets": lines, **sections}), encoding="utf-8")
    return path


def _last_line(out: str) -> tuple[int, int, int, int, str, int]:
    match = re.match(LAST_LINE, out.strip().splitlines()[-1])
    assert match, out[-500:]
    total, passed, failed, skipped, verdict, code = match.groups()
    return int(total), int(passed), int(failed), int(skipped), verdict, int(code)


# --------------------------------------------------------------------------- gate


def test_a_run_within_its_budgets_passes_and_writes_gate_json_and_junit(tmp_path, capsys):
    run = tmp_path / "r1"
    summary = _record(run)
    services = sorted({ep.service for ep in summary.endpoints})
    lines = [{"name": f"{s} p95", "service": s, "error_rate": 0.5,
              "p95_ms": 1 + max(ep.p95_ms for ep in summary.endpoints if ep.service == s)} for s in services]
    budgets = _budgets(tmp_path / "budgets.yaml", lines)
    junit = tmp_path / "gate.xml"

    assert main(["gate", str(run), "--budgets", str(budgets), "--junit", str(junit)]) == ExitCode.OK

    rows = 2 + 2 * len(summary.endpoints)  # the generator's two rules, then p95 and errors per endpoint
    assert _last_line(capsys.readouterr().out) == (rows, rows, 0, 0, "within budget", 0)
    result = load_gate_result(run)
    assert result is not None and result.passed and len(result.rows) == rows
    assert result.budgets_source == str(budgets)
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == (str(rows), "0")
    assert len(suite.findall(".//testcase/system-out")) == rows


def test_an_endpoint_over_its_limit_breaks_the_gate_and_is_named(tmp_path, capsys):
    run = tmp_path / "r1"
    summary = _record(run)
    portal = sorted(ep.p95_ms for ep in summary.endpoints if ep.service == "portal")
    limit = portal[-2]  # the slowest portal endpoint(s) are over it, the rest within
    over = {f"portal {ep.name}": ep.p95_ms for ep in summary.endpoints if ep.service == "portal" and ep.p95_ms > limit}
    budgets = _budgets(tmp_path / "budgets.yaml", [{"name": "portal", "service": "portal", "p95_ms": limit}])
    junit = tmp_path / "gate.xml"

    assert main(["gate", str(run), "--budgets", str(budgets), "--junit", str(junit)]) == ExitCode.BUDGET_BREACHED

    out = capsys.readouterr().out
    total, passed, failed, _, verdict, code = _last_line(out)
    assert (failed, verdict, code) == (len(over), "BUDGET BROKEN", 1) and passed == total - failed
    result = load_gate_result(run)
    assert result is not None
    assert {row.subject for row in result.failed} == set(over)
    for subject, p95 in over.items():
        assert any(subject in line and line.rstrip().endswith("FAIL") for line in out.splitlines()), subject
        assert f"{p95:,.1f} ms" in out
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == len(over)
    assert all(f.get("message") == f"measured {p95:,.1f} ms, limit <= {limit:,.1f} ms"
               for f, p95 in zip(failures, over.values(), strict=True))


def test_a_budget_on_something_the_run_did_not_measure_fails(tmp_path, capsys):
    run = tmp_path / "r1"
    _record(run)
    budgets = _budgets(tmp_path / "budgets.yaml", [{"service": "portal", "endpoint": "GET /nowhere", "p95_ms": 100}])
    assert main(["gate", str(run), "--budgets", str(budgets)]) == ExitCode.BUDGET_BREACHED
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "GET /nowhere" in line)
    assert "not measured" in row and "FAIL (not measured: portal GET /nowhere is not in the run's summary)" in row


def test_a_baseline_adds_regression_lines_that_catch_a_slower_endpoint(tmp_path, capsys):
    # Recorded runs (histograms, load record, summary built from them): the same latencies
    # in both, except one endpoint 50 ms slower in r1.
    keys = [("portal", "POST /dossiers", "01"), ("portal", "GET /procedures", "04"), ("axis", "GET /inbox", "01")]
    baseline = write_recorded_run(tmp_path / "r0", "r0", {k: latencies(200, seed=i) for i, k in enumerate(keys)})
    slower = keys[1]
    run = write_recorded_run(tmp_path / "r1", "r1", {k: latencies(200, seed=10 + i, shift_ms=50 if k == slower else 0)
                                                     for i, k in enumerate(keys)})
    budgets = _budgets(tmp_path / "budgets.yaml", [], regression=[{"p95_growth": 0.10, "min_delta_ms": 5}])

    assert main(["gate", str(run), "--budgets", str(budgets), "--baseline", str(baseline)]) == ExitCode.BUDGET_BREACHED

    result = load_gate_result(run)
    assert result is not None and result.baseline_run_id == "r0"
    assert [(r.subject, r.metric) for r in result.failed] == [("portal GET /procedures", "p95_ms regression")]
    assert len(result.rows) == len(keys) + 2
    assert "FAIL (baseline " in capsys.readouterr().out


def test_a_regression_rule_without_a_baseline_is_skipped_not_passed(tmp_path, capsys):
    run = tmp_path / "r1"
    _record(run)
    budgets = _budgets(tmp_path / "budgets.yaml", [{"error_rate": 0.5}], regression=[{"p95_growth": 0.10}])
    assert main(["gate", str(run), "--budgets", str(budgets)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "SKIP (no baseline run given)" in out
    assert _last_line(out)[3] == 1


@pytest.mark.parametrize(("lines", "sections", "with_baseline", "says"), [
    ([], {"readiness": {"amber_factor": 1.5}}, False,
     "budgets: the gate would judge nothing: the file holds readiness thresholds only (the report's colours); "
     "add a line under budgets:, e.g. - {error_rate: 0.01}"),
    ([], {"regression": [{"p95_growth": 0.10}]}, False,
     "budgets: the gate would judge nothing: the file holds regression limits only, and no baseline run is given; "
     "add a line under budgets:, e.g. - {error_rate: 0.01}, or give a baseline run"),
    ([{"error_rate": 0.5}], {}, True,
     "regression: no regression limit to compare the baseline run by; add one, e.g. "
     "regression: [{p95_growth: 0.10, min_delta_ms: 5}], or leave the baseline out"),
], ids=["readiness-only", "regression-only-no-baseline", "baseline-without-regression"])
def test_a_gate_that_would_judge_nothing_is_refused_before_any_verdict(tmp_path, capsys, lines, sections,
                                                                        with_baseline, says):
    """Each of these passed every run: the gate applied the generator's two rules alone (or
    ignored the baseline the user named). Now exit 3, naming the file, and no gate.json."""
    run = tmp_path / "r1"
    _record(run)
    budgets = _budgets(tmp_path / "budgets.yaml", lines, **sections)
    extra = ["--baseline", str(run)] if with_baseline else []
    assert main(["gate", str(run), "--budgets", str(budgets), *extra]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err
    assert f"ERROR: {budgets}: {says}" in err, err
    assert load_gate_result(run) is None


@pytest.mark.parametrize(("changes", "row", "says"), [
    ({"abort": AbortInfo(aborted=True, reason="error rate 31 % over 10 s", at_offset_s=4.0)},
     "generator: run completed", "FAIL (aborted: error rate 31 % over 10 s)"),
    ({"generator": GeneratorHealth(trustworthy=False, reasons=["schedule lag 900 ms", "worker-1 at 99 % CPU"])},
     "generator: load generator trustworthy", "FAIL (schedule lag 900 ms; worker-1 at 99 % CPU)"),
], ids=["aborted", "untrustworthy"])
def test_the_shipped_budgets_fail_an_aborted_or_untrustworthy_run(tmp_path, capsys, changes, row, says):
    run = tmp_path / "r1"
    _record(run, **changes)
    assert main(["gate", str(run)]) == ExitCode.BUDGET_BREACHED
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(row))
    assert line.rstrip().endswith(says)
    result = load_gate_result(run)
    assert result is not None and result.budgets_source == "reports/budgets.yaml (default)"


def _corrupt_summary(run: Path) -> str:
    data = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    data["colour"] = "blue"
    (run / "summary.json").write_text(json.dumps(data), encoding="utf-8")
    return f"ERROR: {run / 'summary.json'}: colour: unknown key"


@pytest.mark.parametrize("mistake", ["no run directory", "bad budgets", "corrupt summary", "no baseline directory"])
def test_unreadable_inputs_are_config_errors_and_write_no_gate_result(tmp_path, capsys, mistake):
    run = tmp_path / "r1"
    _record(run)
    args = ["gate", str(run)]
    if mistake == "no run directory":
        run = tmp_path / "missing"
        args = ["gate", str(run)]
        expected = f"ERROR: {run / 'summary.json'}: file not found"
    elif mistake == "bad budgets":
        budgets = _budgets(tmp_path / "budgets.yaml", [{"service": "portal", "p95_ms": -3}])
        args += ["--budgets", str(budgets)]
        line = budgets.read_text(encoding="utf-8").splitlines().index("- p95_ms: -3") + 1
        expected = f"ERROR: {budgets}:{line}: budgets[0].p95_ms: Input should be greater than 0, got -3"
    elif mistake == "corrupt summary":
        expected = _corrupt_summary(run)
    else:
        write_recorded_run(run, "r1", {("portal", "POST /dossiers", "01"): latencies(50)})
        args += ["--baseline", str(tmp_path / "r0")]
        expected = (f"ERROR: {tmp_path / 'r0'}: no such directory; give the directory of a run, holding "
                    "histograms/latency.hdr and load.json (e.g. runs/latest)")
    assert main(args) == ExitCode.CONFIG_ERROR
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [expected]
    assert captured.out == ""
    assert not (run / "gate.json").exists()


def _huge_count(run: Path) -> str:
    data = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    data["requests"]["total"] = 10**4000  # the gate's failures / requests overflowed a float
    (run / "summary.json").write_text(json.dumps(data), encoding="utf-8")
    return f"ERROR: {run / 'summary.json'}: requests.total: Input should be less than or equal to {2**53}"


def _damaged_process_samples(run: Path) -> str:
    (run / "processes.jsonl").write_text('{"at": 1.0, "process": "portal"}\n', encoding="utf-8")
    return f"ERROR: {run / 'processes.jsonl'}:1: pid: Field required"


@pytest.mark.parametrize(("command", "damage"), [("gate", _huge_count), ("report", _damaged_process_samples)])
def test_a_damaged_record_that_crashed_a_command_is_one_error_line(tmp_path, capsys, command, damage):
    run = tmp_path / "r1"
    _record(run)
    expected = damage(run)
    assert main([command, str(run)]) == ExitCode.CONFIG_ERROR
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [expected]
    assert captured.out == ""
    assert not (run / "gate.json").exists() and not (run / "report.html").exists()


def test_a_gate_against_the_run_itself_is_refused(tmp_path, capsys):
    run = write_recorded_run(tmp_path / "r1", "r1", {("portal", "POST /dossiers", "01"): latencies(200)})
    budgets = _budgets(tmp_path / "budgets.yaml", [], regression=[{"p95_growth": 0.10, "min_delta_ms": 5}])
    assert main(["gate", str(run), "--budgets", str(budgets), "--baseline", str(run)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.strip().splitlines() == [
        f"ERROR: {run}: the baseline is run 'r1', the run it would judge; give the directory of an earlier run"]
    assert not (run / "gate.json").exists()


# --------------------------------------------------------------------------- report


def test_report_writes_html_from_the_records_and_shows_the_gate(tmp_path, capsys):
    run = tmp_path / "r1"
    _record(run)
    assert main(["report", str(run)]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "r1" in html and "The budget gate was not run" in html

    assert main(["gate", str(run)]) == ExitCode.OK
    result = load_gate_result(run)
    assert result is not None
    assert main(["report", str(run)]) == ExitCode.OK
    html = (run / "report.html").read_text(encoding="utf-8")
    assert f"{len(result.rows)} of {len(result.rows)} lines within budget (reports/budgets.yaml (default))" in html
    capsys.readouterr()


@pytest.mark.parametrize("unready", [(), ("04", "11")])
def test_report_as_markdown_names_the_unready_provinces_and_writes_no_file(tmp_path, capsys, unready):
    run = tmp_path / "r1"
    sample = sample_run("r1", total_requests=3000, duration_s=10, fault=None, unready=unready)
    write_run_dir(run, sample.journal, sample.summary)
    assert main(["report", str(run), "--format", "md"]) == ExitCode.OK
    md = capsys.readouterr().out
    ready = 34 - len(unready)
    first = md.splitlines()[0]
    assert first == f"## {'✅' if not unready else '❌'} dientap dry run `r1` — {'PASS' if not unready else 'FAIL'}"
    not_ready = f" (not ready: {', '.join(unready)})" if unready else ""
    assert f"- {ready}/34 provinces ready{not_ready}" in md
    for code in unready:
        assert any(line.startswith(f"| {code} ") for line in md.splitlines()), code
    assert not (run / "report.html").exists()


def test_report_takes_readiness_thresholds_from_a_budgets_file(tmp_path, capsys):
    run = tmp_path / "r1"
    summary = _record(run)
    fastest = min(getattr(p.checks, check).p95_ms for p in summary.provinces for check in type(p.checks).model_fields)
    strict = {check: fastest / 2 for check in type(summary.provinces[0].checks).model_fields}
    budgets = _budgets(tmp_path / "strict.yaml", [], readiness={"amber_factor": 1.0, "p95_ms": strict})

    assert main(["report", str(run), "--format", "md"]) == ExitCode.OK
    assert "- 34/34 provinces ready" in capsys.readouterr().out
    assert main(["report", str(run), "--format", "md", "--budgets", str(budgets)]) == ExitCode.OK
    assert "- 0/34 provinces ready (not ready: " in capsys.readouterr().out


def test_report_with_an_invalid_budgets_file_is_a_config_error(tmp_path, capsys):
    run = tmp_path / "r1"
    _record(run)
    budgets = _budgets(tmp_path / "b.yaml", [], readiness={"amber_factor": 0.5})
    assert main(["report", str(run), "--budgets", str(budgets)]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ERROR: {budgets}:") and "readiness.amber_factor" in err[0]
    assert not (run / "report.html").exists()


def test_gate_and_report_read_records_only_they_open_no_socket_and_start_nothing(tmp_path, run_audited):
    """The journal names the services' URLs; neither command may contact them."""
    _record(tmp_path / "r1")
    runs = run_audited([["gate", "r1"], ["report", "r1"], ["report", "r1", "--format", "md"]], cwd=tmp_path)
    assert [r.code for r in runs] == [ExitCode.OK] * 3, [r.err for r in runs]
    assert [r.events for r in runs] == [[], [], []]
    assert (tmp_path / "r1" / "gate.json").exists() and (tmp_path / "r1" / "report.html").exists()


# --------------------------------------------------------------------------- the end of `dientap run`


def test_finishing_a_run_links_latest_prints_the_headline_and_renders_the_report(tmp_path, capsys):
    out = tmp_path / "runs"
    first, second = out / "r1", out / "r2"
    _record(first, "r1")
    summary = _record(second, "r2")
    assert finish_run(out, first, 0, 3.2) == ExitCode.OK
    assert finish_run(out, second, 0, 12.4) == ExitCode.OK
    assert (out / "latest").resolve() == second.resolve()
    printed = capsys.readouterr().out
    req = summary.requests
    assert f"{req.total:,} requests ({req.failed:,} failed, {req.rps:.1f}/s)" in printed
    assert f"from {summary.communes.active:,}/{summary.communes.total:,} communes in 34/34 provinces" in printed
    assert f"results: {second}\nreport:  {second / 'report.html'}\ntook 12 s" in printed
    assert (second / "report.html").is_file()


def test_finishing_with_budgets_applies_the_gate_and_still_renders_the_report(tmp_path, capsys):
    out = tmp_path / "runs"
    run = out / "r1"
    summary = _record(run)
    budgets = _budgets(tmp_path / "b.yaml", [{"service": "portal", "p95_ms": min(ep.p95_ms for ep in summary.endpoints) / 2}])
    assert finish_run(out, run, 0, 1.0, budgets=budgets) == ExitCode.BUDGET_BREACHED
    assert "BUDGET BROKEN (exit 1)" in capsys.readouterr().out
    assert (run / "gate.json").is_file() and (run / "report.html").is_file()


def test_an_aborted_run_exits_1_and_an_untrustworthy_one_warns(tmp_path, capsys):
    out = tmp_path / "runs"
    _record(out / "aborted", abort=AbortInfo(aborted=True, reason="p95 over 5 s for 30 s"))
    _record(out / "lagging", generator=GeneratorHealth(trustworthy=False, reasons=["lag 2 s", "CPU 100 %"]))
    assert finish_run(out, out / "aborted", 0, 1.0) == ExitCode.BUDGET_BREACHED
    assert capsys.readouterr().err.strip() == "ABORTED: p95 over 5 s for 30 s"
    assert finish_run(out, out / "lagging", 0, 1.0) == ExitCode.OK
    assert ("WARNING: the load generator fell behind; latency figures are not trustworthy: lag 2 s; CPU 100 %"
            in capsys.readouterr().out)


def test_a_run_that_sent_no_request_exits_1_naming_the_logs(tmp_path, capsys):
    out = tmp_path / "runs"
    sample = sample_run("r0", total_requests=3000, duration_s=10, fault=None).summary
    nothing = sample.requests.model_copy(update={"total": 0, "failed": 0, "throttled": 0, "rps": 0.0, "intended_total": 0})
    _record(out / "r0", "r0", requests=nothing)
    assert finish_run(out, out / "r0", 0, 1.0) == ExitCode.BUDGET_BREACHED
    err = capsys.readouterr().err.strip()
    assert err == f"ERROR: the load sent no request — every actor stopped before its first one; see {out / 'r0' / 'logs'}"


def test_a_run_that_wrote_no_summary_is_an_internal_error_and_not_linked(tmp_path, capsys):
    out = tmp_path / "runs"
    run = out / "r1"
    (run / "logs").mkdir(parents=True)
    assert finish_run(out, run, 3, 1.0) == ExitCode.INTERNAL_ERROR
    assert capsys.readouterr().err.strip() == f"ERROR: the run wrote no summary (Locust exited with 3); logs in {run / 'logs'}"
    assert not (out / "latest").exists()
