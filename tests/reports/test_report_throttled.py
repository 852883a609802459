"""Throttled by the target (423/429 with Retry-After): counted apart from failures in
summary.json, said per province in the readiness matrix (count and share; such a province
is not "ready"), and shown by the HTML report, the Markdown summary and the verdict —
from the run's records only."""

from __future__ import annotations

from pathlib import Path

from kernel.hdr import SparseHistogram
from kernel.latency_records import HistogramKey, dump_histograms
from kernel.roster import load_roster
from reports.budgets import load_budgets
from reports.gate import evaluate
from reports.html import render_html
from reports.load_record import KeyFailures, KeyThrottled, LoadRecord, load_load_record, write_load_record
from reports.markdown import markdown_for
from reports.readiness import ReadinessThresholds, readiness_matrix
from reports.summary import GeneratorHealth, Summary
from reports.summary_build import CHECK_ENDPOINTS, HISTOGRAMS_DIR, build_summary, summary_from_run_dir
from reports.verdict import RunData, overall_verdict
from tests.reports.rpt_support import make_journal

ROSTER = load_roster()
HANOI, CAO_BANG, HUE = "01", "04", "46"
SIGN_IN = ("portal", "POST /auth/token")


def _histograms() -> dict[HistogramKey, SparseHistogram]:
    """100 requests of 5 ms on the first endpoint of every check, in three provinces."""
    out = {}
    for province in (HANOI, CAO_BANG, HUE):
        for endpoints in CHECK_ENDPOINTS.values():
            hist = SparseHistogram()
            hist.record(5000, 100)
            out[HistogramKey(*endpoints[0], province, "service")] = hist
    return out


def _record() -> LoadRecord:
    # Hà Nội: 40 of its 600 requests throttled (sign-ins), nothing failed. Cao Bằng: 10 sign-ins
    # failed and 6 throttled. Huế: neither.
    return LoadRecord(
        run_id="throttled", profile="golive", started_at=1000.0, ended_at=1060.0,
        key_failures=[KeyFailures(service="portal", endpoint="POST /auth/token", province=CAO_BANG, failures=10)],
        key_throttled=[KeyThrottled(service="portal", endpoint="POST /auth/token", province=HANOI, throttled=40),
                       KeyThrottled(service="portal", endpoint="POST /auth/token", province=CAO_BANG, throttled=6)],
        generator=GeneratorHealth(trustworthy=True),
    )


def _summary() -> Summary:
    return build_summary(_record(), _histograms(), ROSTER)


def _run(summary: Summary, thresholds: ReadinessThresholds | None = None) -> RunData:
    return RunData(Path("."), make_journal(), summary, None, readiness_matrix(summary, thresholds))


def test_the_summary_counts_throttled_requests_apart_from_failures() -> None:
    s = _summary()
    assert (s.requests.total, s.requests.failed, s.requests.throttled) == (1800, 10, 46)
    sign_in = next(e for e in s.endpoints if (e.service, e.name) == SIGN_IN)
    assert (sign_in.count, sign_in.failures, sign_in.throttled) == (300, 10, 46)
    by_code = {p.code: p for p in s.provinces}
    assert (by_code[HANOI].requests, by_code[HANOI].failures, by_code[HANOI].throttled) == (600, 0, 40)
    assert (by_code[CAO_BANG].failures, by_code[CAO_BANG].throttled, by_code[HUE].throttled) == (10, 6, 0)
    cell = by_code[HANOI].checks.sign_in
    assert cell is not None and (cell.requests, cell.failures, cell.throttled) == (100, 0, 40)


def test_a_throttled_province_is_not_ready_and_the_matrix_says_how_hard() -> None:
    m = readiness_matrix(_summary())
    rows = {r.code: r for r in m.rows}
    assert rows[HUE].status == "ready"
    assert rows[HANOI].status == "throttled" and not rows[HANOI].ready
    assert rows[HANOI].throttled_text == "40 throttled (6.7 %)"
    # Cao Bằng's sign-in cell is red (10 % failed): not ready, and still said to be throttled.
    assert rows[CAO_BANG].status == "not ready" and rows[CAO_BANG].throttled_text == "6 throttled (1.0 %)"
    assert [r.code for r in m.throttled] == [HANOI, CAO_BANG]  # the hardest throttled first
    assert m.ready_count == 1
    sign_in = rows[HANOI].cells[0]
    assert sign_in.color == "green" and "40 throttled by the target (40.00 %)" in sign_in.reason


def test_the_readiness_threshold_can_tolerate_some_throttling() -> None:
    rows = {r.code: r for r in readiness_matrix(_summary(), ReadinessThresholds(max_throttled_rate=0.067)).rows}
    assert rows[HANOI].status == "ready"  # 6.67 % ≤ 6.7 %
    rows = {r.code: r for r in readiness_matrix(_summary(), ReadinessThresholds(max_throttled_rate=0.066)).rows}
    assert rows[HANOI].status == "throttled"


def test_the_verdict_warns_naming_the_throttled_provinces_and_how_hard() -> None:
    verdict = overall_verdict(_run(_summary()))
    assert verdict.level == "FAIL"  # Cao Bằng is not ready; the throttling is a warning beside it
    assert ("2 provinces throttled by the target (423/429 with Retry-After): 01: 40 throttled (6.7 %); "
            "04: 6 throttled (1.0 %)") in verdict.reasons


def test_the_html_report_marks_throttled_rows_and_counts_them_apart() -> None:
    html = render_html(_run(_summary()))
    row = html.split(f'<tr data-province="{HANOI}"', 1)[1].split("</tr>", 1)[0]
    assert row.startswith(' data-ready="throttled"')
    assert row.endswith('<td class="cell amber">throttled<br><small class="throttled">40 throttled (6.7 %) by the target'
                        "</small></td>")
    assert '<span id="throttled-count">2</span> throttled by the target' in html
    assert "1,800 requests, 10 failed, 46 throttled by the target" in html


def test_the_markdown_summary_lists_the_throttled_provinces() -> None:
    md = markdown_for(_run(_summary()))
    assert "1,800 requests, 10 failed, 46 throttled by the target" in md
    assert "**1/34 provinces ready** · 31 not proven · 2 throttled by the target ·" in md
    table = md.split("| Province | Throttled by the target | Status |", 1)[1].split("\n\n", 1)[0]
    assert table.strip().splitlines()[1:] == ["| 01 Thành phố Hà Nội | 40 (6.7 %) | throttled |",
                                              "| 04 Tỉnh Cao Bằng | 6 (1.0 %) | not ready |"]


def test_load_json_carries_the_throttled_and_an_older_one_reads_as_none(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_load_record(run_dir, _record())
    dump_histograms(_histograms(), run_dir / HISTOGRAMS_DIR)
    assert summary_from_run_dir(run_dir, ROSTER) == _summary()
    older = _record().model_copy(update={"key_throttled": []})
    text = older.model_dump_json()
    assert '"key_throttled":[]' in text
    (run_dir / "load.json").write_text(text.replace(',"key_throttled":[]', ""), encoding="utf-8")
    assert load_load_record(run_dir).key_throttled == []
    assert summary_from_run_dir(run_dir, ROSTER).requests.throttled == 0


BUDGETS = """\
version: 1
budgets:
  - name: whole run
    error_rate: 0.01
    max_throttled_rate: 0.02
  - name: sign-in
    service: portal
    endpoint: POST /auth/token
    max_throttled_rate: 0.1
  - name: every province
    province: "*"
    max_throttled_rate: 0.05
"""


def test_budgets_limit_throttling_apart_from_errors(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(BUDGETS, encoding="utf-8")
    rows = {(r.budget, r.subject, r.metric): r for r in evaluate(_summary(), load_budgets(path)).rows}
    whole_errors, whole = rows[("whole run", "whole run", "error_rate")], rows[("whole run", "whole run", "throttled_rate")]
    assert whole_errors.verdict == "PASS" and whole_errors.measured == 10 / 1800  # the errors budget holds...
    assert whole.verdict == "FAIL" and whole.measured == 46 / 1800 and whole.limit == 0.02  # ...the throttling one breaks
    assert whole.note == "46 of 1,800 requests throttled by the target"
    sign_in = rows[("sign-in", "portal POST /auth/token", "throttled_rate")]
    assert (sign_in.verdict, sign_in.measured) == ("FAIL", 46 / 300)
    provinces = {subject: r for (budget, subject, metric), r in rows.items() if budget == "every province"}
    assert len(provinces) == 34
    assert (provinces["province 01"].verdict, provinces["province 01"].measured) == ("FAIL", 40 / 600)
    assert (provinces["province 04"].verdict, provinces["province 04"].measured) == ("PASS", 6 / 600)
    assert provinces["province 46"].verdict == "PASS"
    assert provinces["province 79"].verdict == "FAIL" and provinces["province 79"].note == "no requests"


def test_a_budget_on_an_endpoint_the_run_did_not_measure_fails_its_throttling_row_too(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("version: 1\nbudgets:\n  - {service: portal, endpoint: POST /nowhere, max_throttled_rate: 0.1}\n",
                    encoding="utf-8")
    (row,) = [r for r in evaluate(_summary(), load_budgets(path)).rows if r.budget != "generator"]
    assert (row.metric, row.verdict, row.measured) == ("throttled_rate", "FAIL", None)
    assert row.note == "not measured: portal POST /nowhere is not in the run's summary"
