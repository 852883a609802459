"""report.html and the Markdown summary, built from the fixture run directories."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from reports.drill_result import DrillResult, FaultWindow, ReconciliationRow
from reports.gate import run_gate
from reports.html import render_report
from reports.markdown import render_markdown
from reports.readiness import ReadinessThresholds
from reports.run_files import load_journal, load_summary, write_journal, write_run_dir, write_summary
from tests.reports.rpt_support import make_journal, make_summary


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
