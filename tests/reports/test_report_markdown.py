"""The Markdown summary (a CI comment): escaping, truncation, failed budgets, absent provinces."""

from __future__ import annotations

from pathlib import Path

from reports.gate import evaluate
from reports.markdown import MAX_ENDPOINT_ROWS, markdown_for
from reports.readiness import readiness_matrix
from reports.sample import sample_run
from reports.security_scorecard import SecurityCheckResult, SecurityScorecard
from reports.summary import Summary
from reports.verdict import RunData
from tests.reports.rpt_support import budgets, endpoint

SAMPLE = sample_run("md", total_requests=3000, duration_s=10, fault=None)


def _md(summary: Summary = SAMPLE.summary, gate_text: str | None = None, **journal_update: object) -> str:
    journal = SAMPLE.journal.model_copy(update=journal_update)
    gate = evaluate(summary, budgets(gate_text)) if gate_text is not None else None
    return markdown_for(RunData(Path("."), journal, summary, gate, readiness_matrix(summary)))


def test_names_with_markdown_syntax_cannot_break_the_table() -> None:
    eps = [endpoint("portal", "GET /a|b *bold* `code` [link](x) <br>", count=5000)]
    summary = SAMPLE.summary.model_copy(update={"endpoints": eps, "run_id": "r"})
    row = next(x for x in _md(summary).splitlines() if x.startswith("| portal |"))
    assert row.split(" | ")[1] == r"GET /a\|b \*bold\* \`code\` \[link\](x) \<br\>"
    assert row.count("|") - row.count(r"\|") == 10  # nine columns: the name's pipe is escaped


def test_busiest_endpoints_first_and_the_rest_counted() -> None:
    eps = [endpoint("axis", f"GET /e{i:02d}", count=100 + i) for i in range(MAX_ENDPOINT_ROWS + 3)]
    md = _md(SAMPLE.summary.model_copy(update={"endpoints": eps}))
    rows = [x for x in md.splitlines() if x.startswith("| axis |")]
    assert len(rows) == MAX_ENDPOINT_ROWS
    assert rows[0].startswith("| axis | GET /e17 | 117 |") and rows[-1].startswith("| axis | GET /e03 | 103 |")
    assert "\n… 3 more endpoints in report.html" in md


def test_an_endpoint_without_requests_or_intended_latency_shows_dashes() -> None:
    eps = [endpoint("axis", "GET /inbox", count=0, intended_p95=None, intended_count=None)]
    row = next(x for x in _md(SAMPLE.summary.model_copy(update={"endpoints": eps})).splitlines()
               if x.startswith("| axis |"))
    assert row == "| axis | GET /inbox | 0 | — | 0 | 100.0 | 200.0 | 0 | — |"


def test_failed_budget_lines_are_listed_with_measured_and_limit() -> None:
    short = SAMPLE.summary.model_copy(update={"requests": SAMPLE.summary.requests.model_copy(update={"intended_total": 3000})})
    md = _md(short, gate_text="budgets:\n  - {name: tput, min_throughput: 0.99}\n  - {name: fast, service: axis, "
                              "endpoint: GET /inbox, p95_ms: 1}\n")
    lines = md.splitlines()
    header = lines.index("| Budget | Measured | Limit |")
    failed = lines[header + 2:header + 4]
    assert failed[0] == "| tput: whole run throughput | 98.33 % | ≥ 99.00 % |"  # 2,950 of 3,000 requests
    assert failed[1].startswith("| fast: axis GET /inbox p95\\_ms | ") and failed[1].endswith(" | ≤ 1.0 ms |")
    assert "**Budgets:** 2 of 4 lines within budget." in md


def test_failed_security_checks_are_listed_and_passed_ones_are_not() -> None:
    card = SecurityScorecard(checks=[
        SecurityCheckResult(id="jwt.alg-none", title="alg none refused", owasp="API2:2023", verdict="FAIL",
                            summary="token with alg=none accepted"),
        SecurityCheckResult(id="auth.lockout", title="lockout", owasp="API2:2023", verdict="PASS"),
    ])
    md = _md(security=card)
    assert md.splitlines()[0].startswith("## ❌ ")
    assert "**Security:** 1 of 2 checks passed." in md
    assert "- FAIL `jwt.alg-none` alg none refused: token with alg=none accepted" in md
    assert "auth.lockout" not in md


def test_warn_icon_and_not_proven_count_in_the_headline() -> None:
    provinces = [p.model_copy(update={"checks": p.checks.model_copy(update={"catalogue": None})}) if p.code == "01" else p
                 for p in SAMPLE.summary.provinces]
    md = _md(SAMPLE.summary.model_copy(update={"provinces": provinces}))
    assert md.splitlines()[0] == "## ⚠️ dientap dry run `md` — WARN"
    assert "**33/34 provinces ready** · 1 not proven · 203/204 checks proven · " in md
    assert "| Province | Not ready because |" not in md


def test_a_province_absent_from_the_run_is_not_ready_with_no_check_exercised() -> None:
    provinces = [p for p in SAMPLE.summary.provinces if p.code != "96"]
    md = _md(SAMPLE.summary.model_copy(update={"provinces": provinces}))
    assert "| 96 Tỉnh Cà Mau | no check exercised |" in md
    assert md.splitlines()[2] == "- 33/34 provinces ready (not ready: 96)"
