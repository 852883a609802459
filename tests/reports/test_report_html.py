"""report.html and the Markdown summary, built from the fixture run directories."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from reports.drill_result import DrillResult, FaultWindow, ReconciliationRow
from reports.gate import GateResult, evaluate, run_gate
from reports.html import render_html, render_report
from reports.journal import TargetInfo, TargetService
from reports.markdown import render_markdown
from reports.readiness import ReadinessThresholds, readiness_matrix
from reports.run_files import load_journal, load_summary, write_journal, write_run_dir, write_summary
from reports.sample import sample_run
from reports.security_scorecard import SecurityCheckResult, SecurityScorecard
from reports.summary import AbortInfo, Summary
from reports.verdict import RunData
from tests.reports.rpt_support import budgets, make_journal, make_summary


class MatrixParser(HTMLParser):
    """Collects the readiness matrix (data-province rows, cell colours) and every URL attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.ready: dict[str, str] = {}
        self.urls: list[str] = []
        self.ids: dict[str, str] = {}
        self._row: str | None = None
        self._capture: str | None = None
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        for key in ("src", "href", "xlink:href", "action", "data"):
            if a.get(key):
                self.urls.append(a[key] or "")
        if tag == "tr" and a.get("data-province"):
            self._row = a["data-province"]
            self.rows[self._row] = {}
            self.ready[self._row] = a.get("data-ready") or ""
        if tag == "td" and self._row and a.get("data-check"):
            classes = (a.get("class") or "").split()
            self.rows[self._row][a["data-check"] or ""] = next(c for c in classes if c != "cell")
        if a.get("id") in ("ready-count", "verdict", "not-proven-count", "proven-cells"):
            self._capture = a["id"]
            self.ids[self._capture] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        if tag in ("span", "div") and self._capture:
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture:
            self.ids[self._capture] += data


def parse(path: Path) -> MatrixParser:
    parser = MatrixParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


CHECKS = {"sign_in", "catalogue", "dossier_submit", "status_sync", "population_lookup", "document_exchange"}


def test_healthy_run_shows_34_of_34_ready_and_pass(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    page = parse(render_report(run_dir))
    assert len(page.rows) == 34
    assert all(set(cells) == CHECKS for cells in page.rows.values())
    assert {c for cells in page.rows.values() for c in cells.values()} == {"green"}
    assert page.ids["ready-count"] == "34/34"
    assert page.ids["verdict"].startswith("PASS")


def test_unready_run_shows_exactly_provinces_04_and_11_red(fixture_run) -> None:
    run_dir = fixture_run("unready-04-11")
    page = parse(render_report(run_dir))
    red_rows = {code for code, cells in page.rows.items() if "red" in cells.values()}
    assert red_rows == {"04", "11"}
    assert {code for code, ready in page.ready.items() if ready == "no"} == {"04", "11"}
    assert page.rows["04"]["catalogue"] == "red" and page.rows["04"]["sign_in"] == "red"
    assert page.rows["04"]["population_lookup"] == "green"
    assert page.ids["ready-count"] == "32/34"
    assert page.ids["verdict"].startswith("FAIL")
    assert "not ready: 04, 11" in page.ids["verdict"]


def test_an_unexercised_check_is_not_proven_and_an_absent_province_not_ready(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    summary = load_summary(run_dir)
    provinces = [p for p in summary.provinces if p.code != "96"]
    first = provinces[0].model_copy(update={"checks": provinces[0].checks.model_copy(update={"document_exchange": None})})
    write_summary(run_dir, summary.model_copy(update={"provinces": [first, *provinces[1:]]}))
    page = parse(render_report(run_dir))
    assert page.rows[first.code]["document_exchange"] == "grey"
    # Not exercised is not proven: the province is neither ready nor counted as ready.
    assert page.ready[first.code] == "not-proven"
    assert set(page.rows["96"].values()) == {"grey"} and page.ready["96"] == "no"
    assert page.ids["ready-count"] == "32/34"
    assert page.ids["not-proven-count"] == "1"
    assert page.ids["proven-cells"] == f"{32 * 6 + 5}/{34 * 6}"


def test_thresholds_change_the_colours(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    strict = ReadinessThresholds(p95_ms={"sign_in": 1.0})
    page = parse(render_report(run_dir, strict))
    assert {cells["sign_in"] for cells in page.rows.values()} == {"red"}


def test_page_is_self_contained(fixture_run) -> None:
    page_path = render_report(fixture_run("healthy"))
    html = page_path.read_text(encoding="utf-8")
    page = parse(page_path)
    assert page.urls and all(u.startswith("#") for u in page.urls)  # only in-page SVG references
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert html.count("<svg") == 2  # latency and throughput charts, inline
    assert "svg" in page.tags and "style" in page.tags


def test_report_sections_present(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    run_gate(run_dir)
    html = render_report(run_dir).read_text(encoding="utf-8")
    for anchor in ("readiness", "charts", "throughput", "endpoints", "communes", "budgets", "drill", "security", "timeline"):
        assert f'id="{anchor}"' in html
    assert "axis-latency-spike" in html  # the fault, in the chart legend and the drill table
    assert "POST /dossiers" in html and "p95 (int.)" in html
    assert "auth.lockout" in html and "API2:2023 Broken Authentication" in html
    assert "lines within budget" in html
    assert "01 Thành phố Hà Nội<br><small>126/126 communes on line</small>" in html  # UTF-8 names intact


def test_strings_from_records_are_escaped(fixture_run) -> None:
    run_dir = fixture_run("unready-04-11")
    summary = load_summary(run_dir)
    evil = '<script>alert("x")</script>'
    provinces = [summary.provinces[0].model_copy(update={"name": evil}), *summary.provinces[1:]]
    endpoints = [summary.endpoints[0].model_copy(update={"name": f"GET /x?{evil}"}), *summary.endpoints[1:]]
    write_summary(run_dir, summary.model_copy(update={"provinces": provinces, "endpoints": endpoints, "run_id": evil}))
    journal = load_journal(run_dir)
    write_journal(run_dir, journal.model_copy(update={"provenance": journal.provenance.model_copy(update={"run_id": evil})}))
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_markdown_summary(fixture_run) -> None:
    run_dir = fixture_run("unready-04-11")
    run_gate(run_dir)
    md = render_markdown(run_dir)
    lines = md.splitlines()
    assert lines[0] == "## ❌ dientap dry run `fixture-unready` — FAIL"
    assert "**32/34 provinces ready**" in md
    row04 = next(x for x in lines if x.startswith("| 04 "))
    assert "Sign-in:" in row04 and "catalogue not published" in row04
    assert any(x.startswith("| 11 ") for x in lines)
    assert "| portal | POST /dossiers |" in md
    assert "lines within budget." in md
    assert "| every province p95 and errors: province 04 error\\_rate |" in md


def test_markdown_healthy_mentions_drill_and_security(fixture_run) -> None:
    md = render_markdown(fixture_run("healthy"))
    assert md.splitlines()[0] == "## ✅ dientap dry run `fixture-healthy` — PASS"
    assert "**Drill** `axis-latency-spike`: PASS · lost 0 · duplicated 0 · recovery 4.5 s" in md
    assert "**Security:** 2 of 2 checks passed." in md


def test_failed_drill_shows_lost_ids_and_a_fault_never_removed(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    journal = load_journal(run_dir)
    drill = DrillResult(name="lossy-axis", title="Lossy axis", verdict="FAIL", recovery_time_s=None,
                        faults=[FaultWindow(name="drop-documents", kind="drop", target="axis POST /documents",
                                            start_offset_s=5.0)],
                        reconciliation=[ReconciliationRow(item_kind="documents", ok=97, lost=2, duplicated=0, unexpected=0,
                                                          recovered=0, lost_ids=["doc-17", "doc-42"])],
                        expectations=["lost = 0: 2 documents lost"])
    write_journal(run_dir, journal.model_copy(update={"drill": drill}))
    html = render_report(run_dir).read_text(encoding="utf-8")
    page = parse(run_dir / "report.html")
    assert page.ids["verdict"].startswith("FAIL") and "drill lossy-axis: FAIL" in page.ids["verdict"]
    assert "doc-17, doc-42" in html and "never removed" in html and "lost = 0: 2 documents lost" in html
    assert "recovery time not measured" in html


def test_element_ids_are_unique(fixture_run) -> None:
    html = render_report(fixture_run("healthy")).read_text(encoding="utf-8")
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) > 20 and len(ids) == len(set(ids))


def test_minimal_run_without_series_or_provinces_still_renders(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "min", make_journal(), make_summary())
    page = parse(render_report(run_dir))
    assert page.ids["ready-count"] == "0/34"
    assert {c for cells in page.rows.values() for c in cells.values()} == {"grey"}
    assert "No time series recorded." in (run_dir / "report.html").read_text(encoding="utf-8")
    assert "**0/34 provinces ready**" in render_markdown(run_dir)


def test_a_run_without_load_is_not_judged_on_readiness(fixture_run):
    """A security suite run alone has an empty summary: no '0/34 ready' false alarm."""
    from reports.run_files import load_summary, write_summary
    from reports.verdict import load_run, overall_verdict

    run_dir = fixture_run("healthy")
    summary = load_summary(run_dir)
    empty = summary.model_copy(update={"requests": summary.requests.model_copy(update={"total": 0, "failed": 0}),
                                       "provinces": []})
    write_summary(run_dir, empty)
    verdict = overall_verdict(load_run(run_dir))
    assert verdict.level == "PASS"
    assert verdict.reasons == ["no load in this run: readiness not judged"]


def test_header_times_read_to_the_second_in_utc(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    html = render_report(run_dir).read_text(encoding="utf-8")
    started = load_journal(run_dir).provenance.started_at
    assert started.strftime("%Y-%m-%d %H:%M:%S UTC") in html
    assert started.isoformat() not in html  # no raw ISO with microseconds and offset


def test_a_rate_axis_with_no_failures_runs_from_zero_not_minus_five_hundredths() -> None:
    from matplotlib.figure import Figure

    from reports.charts import rate_axis

    none, some = Figure().subplots(1, 2)
    none.plot([0, 1, 2], [0, 0, 0])
    some.plot([0, 1, 2], [0, 3, 1])
    rate_axis(none)
    rate_axis(some)
    assert none.get_ylim() == (0, 1)
    assert some.get_ylim()[0] == 0 and some.get_ylim()[1] >= 3


# --------------------------------------------------------------------------- sections rendered from in-memory runs


def _page(summary: Summary | None = None, gate: GateResult | None = None, **journal_update: object) -> str:
    """report.html of a small sample run, with the journal fields in ``journal_update`` replaced."""
    sample = sample_run("h", total_requests=3000, duration_s=10, fault=None)
    summary = summary or sample.summary
    journal = sample.journal.model_copy(update=journal_update)
    return render_html(RunData(Path("."), journal, summary, gate, readiness_matrix(summary)))


def _section(html: str, anchor: str) -> str:
    """The HTML from the heading with ``id=anchor`` up to the next second-level heading."""
    start = html.index(f'id="{anchor}"')
    end = html.find("<h2", start)
    return html[start:end if end != -1 else None]


def test_a_long_timeline_is_cut_and_says_how_many_events_are_left_out() -> None:
    journal = make_journal()
    start = journal.provenance.started_at
    for i in range(305):
        journal.add_event("note", f"event-{i}", t=start + timedelta(seconds=i), step=i)
    html = _page(events=journal.events)
    timeline = _section(html, "timeline")
    assert timeline.count("<tr>") == 1 + 300  # header row + the first 300 events
    assert "event-299" in timeline and "event-300" not in timeline
    assert "… and 5 more events in journal.json." in html
    assert "step=299" in timeline


def test_aborted_run_and_untrustworthy_generator_are_spelled_out() -> None:
    summary = sample_run("h", total_requests=3000, duration_s=10, fault=None).summary
    summary = summary.model_copy(update={
        "abort": AbortInfo(aborted=True, reason="error rate 61.0% above 50.0% for 15 s (window 10 s)", at_offset_s=7.0),
        "generator": summary.generator.model_copy(update={"trustworthy": False, "reasons": ["w1: CPU above 90 %"],
                                                          "cpu_percent": {"w2": 97.4, "w1": 55.0}})})
    generator = _section(_page(summary), "generator")
    assert '<span class="FAIL">untrustworthy</span>: w1: CPU above 90 %' in generator
    assert "CPU w1 55 %, w2 97 %" in generator
    assert '<span class="FAIL">Aborted</span>: error rate 61.0% above 50.0% for 15 s (window 10 s)' in generator


def test_budget_table_lists_failures_first_and_names_source_and_baseline() -> None:
    sample = sample_run("h", total_requests=3000, duration_s=10, fault=None)
    gate = evaluate(sample.summary, budgets("budgets:\n  - {error_rate: 0.5}\n  - {service: axis, endpoint: GET /inbox, "
                                            "p95_ms: 1}\nregression:\n  - {p95_growth: 0.1}\n"),
                    budgets_source="ci/budgets.yaml")
    section = _section(_page(gate=gate), "budgets")
    verdicts = re.findall(r'<span class="(PASS|FAIL|SKIP)">', section)
    assert verdicts == ["FAIL", "SKIP", "PASS", "PASS", "PASS"]
    assert "4 of 5 lines within budget (ci/budgets.yaml)." in section
    skip_row = section[section.index("regression[0]"):]
    assert skip_row.split("</tr>")[0].count("<td>—</td>") == 2  # neither measured nor limit for a skipped line
    with_baseline = gate.model_copy(update={"baseline_run_id": "20261204-180100-c143"})
    assert "(ci/budgets.yaml, baseline 20261204-180100-c143)." in _section(_page(gate=with_baseline), "budgets")


def test_drill_lost_ids_are_cut_at_twenty_and_a_drill_error_is_shown() -> None:
    drill = DrillResult(name="lossy", title="Lossy", verdict="ERROR", error="proxy on 127.0.0.1:9 refused",
                        faults=[FaultWindow(name="drop", kind="drop", target="axis", start_offset_s=1.0, end_offset_s=4.0)],
                        reconciliation=[ReconciliationRow(item_kind="documents", ok=70, lost=25, duplicated=0,
                                                          unexpected=0, recovered=0,
                                                          lost_ids=[f"doc-{i}" for i in range(25)])])
    section = _section(_page(drill=drill), "drill")
    assert ", ".join(f"doc-{i}" for i in range(20)) + " …" in section and "doc-20" not in section
    assert "<pre>proxy on 127.0.0.1:9 refused</pre>" in section
    assert "never removed" not in section and "<td class=\"num\">4.0</td>" in section


def test_security_checks_that_did_not_pass_come_first() -> None:
    card = SecurityScorecard(checks=[
        SecurityCheckResult(id="a.pass", title="ok", owasp="API1:2023", verdict="PASS"),
        SecurityCheckResult(id="z.fail", title="broken", owasp="API2:2023", verdict="FAIL", detected_after_s=3.25),
    ])
    section = _section(_page(security=card), "security")
    assert section.index("z.fail") < section.index("a.pass")
    assert "1 of 2 checks passed." in section and "3.2 s" in section


def test_provenance_lists_target_services_hosts_and_command() -> None:
    journal = make_journal()
    provenance = journal.provenance.model_copy(update={
        "target": TargetInfo(kind="file", name="staging", services=[
            TargetService(name="portal", base_url="https://ops:pw@staging-dvc.example.vn")]),
        "hosts": ["lg-1", "lg-2"], "command_line": ["dientap", "run", "peak", "--scale", "4"]})
    html = _page(provenance=provenance)
    assert "target staging ·" in html
    section = _section(html, "provenance")
    assert "Services: portal https://staging-dvc.example.vn<br>Hosts: lg-1, lg-2" in section
    assert "<code>dientap run peak --scale 4</code>" in section and "pw" not in section


def test_drill_names_every_lost_duplicated_and_unexpected_item_by_key_within_a_bound() -> None:
    row = ReconciliationRow(item_kind="dossiers", ok=40, lost=1, duplicated=1, unexpected=23, recovered=0,
                            lost_ids=["00004-250701-0001"],
                            duplicated_ids=["00004-250701-0009 (key k-7, also 00004-250701-0008)"],
                            unexpected_ids=[f"00004-250701-{i:04d}" for i in range(100, 123)])
    drill = DrillResult(name="portal-crash", title="Portal crash", verdict="FAIL", reconciliation=[row])
    section = _section(_page(drill=drill), "drill")
    assert "Named by key" in section
    assert "lost 1: 00004-250701-0001" in section
    assert "duplicated 1: 00004-250701-0009 (key k-7, also 00004-250701-0008)" in section
    shown = ", ".join(f"00004-250701-{i:04d}" for i in range(100, 120))
    assert f"unexpected 23 (first 20 of 23): {shown} …" in section and "00004-250701-0120" not in section
