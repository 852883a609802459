"""Hostile or damaged strings from a run's records in the gate's JUnit XML, the Markdown
summary and the comparison's Markdown: each output stays what its reader can read."""

from __future__ import annotations

import os
from pathlib import Path

import lxml.html
import pytest
from lxml import etree
from markdown_it import MarkdownIt

from kernel.errors import ConfigError
from reports.compare import compare_runs
from reports.compare_render import render_markdown as render_compare_markdown
from reports.drill_result import DrillResult, FaultWindow, ReconciliationRow
from reports.gate import GATE_FILE, GateResult, GateRow, load_gate_result, run_gate, write_junit
from reports.markdown import markdown_for
from reports.readiness import readiness_matrix
from reports.run_files import write_run_dir
from reports.sample import sample_run
from reports.security_scorecard import SecurityCheckResult, SecurityScorecard
from reports.summary import AbortInfo, GeneratorHealth, Summary
from reports.verdict import RunData
from tests.reports.compare_support import latencies, recorded_run
from tests.reports.rpt_support import endpoint, make_journal, make_summary

# Every class of character XML 1.0 forbids (C0 controls but tab/LF/CR, a lone surrogate, the
# two non-characters), beside a CDATA end and markup, as a hostile target's answer may hold them.
XML_ILLEGAL = "\x00\x01\x08\x0b\x0c\x0e\x1b\x1f\ufffe\uffff"
HOSTILE = f"malformed answer: {XML_ILLEGAL} ]]> <x a='1'>&amp;</x>"


def _escaped(text: str) -> str:
    """``text`` as the JUnit file shows it: each forbidden character a visible escape."""
    return text.translate({ord(c): f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in XML_ILLEGAL})


def test_junit_stays_parseable_xml_when_records_hold_characters_xml_forbids(tmp_path: Path) -> None:
    summary = make_summary(endpoint("portal", f"POST /dossiers {HOSTILE}", p95=900.0), run_id=f"run-{XML_ILLEGAL}")
    summary = summary.model_copy(update={
        "abort": AbortInfo(aborted=True, reason=HOSTILE),
        "generator": GeneratorHealth(trustworthy=False, reasons=[HOSTILE])})
    # As the load wrote them: through summary.json and journal.json, read back by the gate.
    write_run_dir(tmp_path, make_journal(summary.run_id), summary)
    junit = tmp_path / "junit.xml"
    run_gate(tmp_path, junit=junit)
    root = etree.parse(str(junit)).getroot()  # what a CI server does with it: a refusal raises
    assert root.find("testsuite").get("name") == "dientap.gate." + _escaped(summary.run_id)
    failures = {case.get("name"): case.find("failure") for case in root.iter("testcase")}
    assert failures["run completed"].text.endswith("aborted: " + _escaped(HOSTILE))  # ]]> and markup kept as text
    assert failures["load generator trustworthy"].text.endswith(_escaped(HOSTILE))
    assert f"portal POST /dossiers {_escaped(HOSTILE)} p95_ms" in failures


def test_junit_shows_a_lone_surrogate_instead_of_failing_to_encode(tmp_path: Path) -> None:
    # UTF-8 cannot encode one and XML 1.0 forbids it; records and budgets refuse them, the file
    # is written whatever it is handed.
    row = GateRow(budget="submit \ud800", subject="portal", metric="p95_ms", measured=1.0, limit=2.0, comparison="<=",
                  unit="ms", verdict="PASS")
    junit = write_junit(GateResult(run_id="r", rows=[row]), tmp_path / "junit.xml")
    (case,) = etree.parse(str(junit)).getroot().iter("testcase")
    assert case.get("classname") == "dientap.gate.submit \\ud800"  # a visible escape


def test_a_budget_name_holding_a_lone_surrogate_is_refused_before_any_verdict(tmp_path: Path) -> None:
    write_run_dir(tmp_path, make_journal(), make_summary())
    budgets_file = tmp_path / "budgets.yaml"
    budgets_file.write_text('budgets:\n  - {name: "submit \\ud800", service: portal, p95_ms: 100}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        run_gate(tmp_path, budgets_file, junit=tmp_path / "junit.xml")
    assert [str(p) for p in exc.value.problems] == [
        f"{budgets_file}:2: budgets[0].name: 'submit \\ud800' holds a lone surrogate at 7, which is no character"]
    assert not (tmp_path / GATE_FILE).exists() and not (tmp_path / "junit.xml").exists()


def test_a_budgets_file_whose_path_is_not_utf8_is_named_in_gate_json(tmp_path: Path) -> None:
    write_run_dir(tmp_path, make_journal(), make_summary())
    budgets_file = os.fsdecode(os.fsencode(tmp_path) + b"/budgets-\xe9.yaml")  # a Latin-1 name
    Path(budgets_file).write_text("budgets:\n  - {error_rate: 0.5}\n", encoding="utf-8")
    result = run_gate(tmp_path, budgets_file)
    assert result.budgets_source == f"{tmp_path}/budgets-\ufffd.yaml"
    assert load_gate_result(tmp_path) == result


# --------------------------------------------------------------------------- Markdown (a CI comment)


def _rendered(markdown: str) -> lxml.html.HtmlElement:
    """``markdown`` rendered as GitHub's renderer does (CommonMark with tables), parsed as HTML."""
    return lxml.html.fragment_fromstring(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown),
                                         create_parent="div")


SAMPLE = sample_run("md", total_requests=3000, duration_s=10, fault=None)
# What a hostile target may put in a name it answers with: line endings CommonMark reads as the
# end of a line (a lone CR too), a pipe, backticks, a link, an image and HTML.
NAME = "GET /a\rb\r\nc\nd|e `f`` ![pixel](https://evil.example/p.png) [x](https://evil.example) <img src=x>"


def _markdown(summary: Summary, drill: DrillResult | None = None, security: SecurityScorecard | None = None) -> str:
    journal = SAMPLE.journal.model_copy(update={"drill": drill, "security": security})
    return markdown_for(RunData(Path("."), journal, summary, None, readiness_matrix(summary)))


def test_the_markdown_summary_shows_hostile_names_as_text_in_one_table_row() -> None:
    eps = [endpoint("portal", NAME, count=5000), endpoint("portal", "GET /procedures", count=10)]
    summary = SAMPLE.summary.model_copy(update={"endpoints": eps, "run_id": "run `1` <img src=x>",
                                                "profile": "smoke_test"})
    page = _rendered(_markdown(summary))
    endpoints = next(t for t in page.iter("table") if t.findtext(".//th") == "Service")
    rows = endpoints.findall("./tbody/tr")
    assert [len(r.findall("td")) for r in rows] == [9, 9]  # a line ending ended no row, a pipe split no cell
    assert rows[0].findall("td")[1].text_content() == NAME.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    assert page.find(".//img") is None and page.find(".//a") is None
    codes = [c.text_content() for c in page.iter("code")]
    assert codes[:2] == ["run `1` <img src=x>", "smoke_test"]  # code spans hold the text as it is


def test_the_markdown_summary_names_drill_cut_over_and_security_check_as_recorded() -> None:
    cutover = FaultWindow(name="cut-over", kind="district_cutover", target="portal", start_offset_s=9.0,
                          end_offset_s=13.0, detail={"batches": 1, "province_79": 5})
    migrated = ReconciliationRow(item_kind="migrated_dossiers", ok=0, lost=1, duplicated=1, unexpected=0, recovered=0,
                                 lost_ids=[NAME], duplicated_ids=["D1\r- injected list item"])
    drill = DrillResult(name="axis_partition`s", title="t", verdict="FAIL", faults=[cutover], reconciliation=[migrated])
    card = SecurityScorecard(checks=[SecurityCheckResult(id="auth.jwt_none", title="t", owasp="API2", verdict="FAIL",
                                                         summary=NAME)])
    markdown = _markdown(SAMPLE.summary, drill, card)
    page = _rendered(markdown)
    codes = [c.text_content() for c in page.iter("code")]
    assert "axis_partition`s" in codes and "auth.jwt_none" in codes  # no backslash shown, no span broken
    assert page.find(".//img") is None and page.find(".//a") is None
    items = [li.text_content() for li in page.iter("li")]
    assert "duplicated by the migration: D1 - injected list item" in items  # the CR began no list item
    assert not any(i.startswith("injected") for i in items)


def test_the_comparison_markdown_keeps_hostile_names_and_profiles_inside_their_cells(tmp_path: Path) -> None:
    # Line endings cannot reach a comparison (latency.hdr holds one key a line); HTML can.
    name = "GET /a|b </details> <img src=x> [x](https://evil.example) `c`"
    key = ("portal", name, "01")
    baseline = recorded_run(tmp_path, "a", {key: latencies(300, seed=1)})
    current = recorded_run(tmp_path, "b", {key: latencies(300, seed=2, shift_ms=50)}, profile="smoke_2 <img src=y>")
    page = _rendered(render_compare_markdown(compare_runs(baseline, current)))
    assert page.find(".//img") is None and page.find(".//a") is None
    (fold,) = page.findall(".//details")  # the name closed no fold: both tables, every line, as they were
    cells = [row.findall("td")[0].text_content() for row in page.iter("tr") if row.findall("td")]
    assert cells.count(f"endpoint portal {name}") == 2 and len(fold.findall(".//tbody/tr")) == 2
    assert "runs differ: profile smoke vs smoke_2 <img src=y>" in page.text_content()
