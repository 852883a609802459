"""The live board's figures: the report's rule on the running load's recorder.

One rule, two views: for the same recorded requests, the board's matrix and worst communes
equal what ``summary.json`` and ``report.html`` are built from (``reports.summary_build``
and ``reports.readiness``), cell by cell. And the board's own economy: a cell is recomputed
only when its inputs moved, and the computation yields after each recomputed cell.
"""

from __future__ import annotations

import pytest

from kernel.roster import load_roster
from metrics.board.figures import LiveReadiness
from reports.load_record import CommuneCounts, KeyFailures, KeyThrottled, LoadRecord
from reports.readiness import readiness_matrix
from reports.summary import GeneratorHealth, Summary
from reports.summary_build import CHECK_ENDPOINTS, build_summary
from scenarios.latency import LatencyRecorder

ROSTER = load_roster()
MS = 1000  # µs


def _record(recorder: LatencyRecorder, check: str, province: str, n: int, ms: float, *, failed: int = 0,
            commune: str | None = None) -> None:
    """``n`` requests of ``check``'s first endpoint in ``province``, the last ``failed`` of them failed."""
    service, endpoint = CHECK_ENDPOINTS[check][0]
    for i in range(n):
        recorder.record(service, endpoint, province, commune, int(ms * MS), None, failed=i >= n - failed, at=1.0)


def _first_commune(province: str) -> str:
    return ROSTER.province(province).commune_codes[0]


@pytest.fixture
def recorder() -> LatencyRecorder:
    """A load with every colour: Hà Nội all green, one red by errors, one amber and one red by
    latency, a province with one check only, and the rest not on line."""
    rec = LatencyRecorder()
    for check in CHECK_ENDPOINTS:
        _record(rec, check, "01", 30, 12, commune=_first_commune("01"))
        _record(rec, check, "04", 30, 8, commune=_first_commune("04"))
    _record(rec, "catalogue", "04", 4, 9, failed=4, commune=_first_commune("04"))  # 4/34 = 11.8 % failed: red
    _record(rec, "sign_in", "08", 20, 1500)  # p95 above the 1,000 ms limit, within 2×: amber
    _record(rec, "sign_in", "11", 20, 2500)  # p95 above 2× the limit: red
    _record(rec, "status_sync", "12", 5, 3, failed=1, commune=_first_commune("12"))
    for check in CHECK_ENDPOINTS:
        _record(rec, check, "08", 10, 5)
    # the second endpoint of a two-endpoint check is merged into its cell
    rec.record("portal", "GET /dossiers", "01", None, 40 * MS, None, failed=True, at=1.0)
    # Đà Nẵng's sign-ins throttled by the target (429 with Retry-After): counted apart, the province "throttled"
    for _ in range(3):
        rec.record("portal", "POST /auth/token", "48", None, 2 * MS, None, failed=False, throttled=True, at=1.0)
    return rec


def _report_summary(rec: LatencyRecorder) -> Summary:
    """What the run's end makes of the same recorder (scenarios.results.build_load_record's counts)."""
    record = LoadRecord(
        run_id="t", profile="smoke", started_at=0.0, ended_at=60.0,
        key_failures=[KeyFailures(service=s, endpoint=e, province=p, failures=n) for (s, e, p), n in rec.key_failures.items()],
        key_throttled=[KeyThrottled(service=s, endpoint=e, province=p, throttled=n)
                       for (s, e, p), n in rec.key_throttled.items()],
        communes={code: CommuneCounts(requests=c.requests, failures=c.failures) for code, c in rec.communes.items()},
        generator=GeneratorHealth(trustworthy=True),
    )
    return build_summary(record, rec.histograms, ROSTER, rec.commune_sketches())


def test_the_board_matrix_is_the_reports_matrix_for_the_same_records(recorder):
    board = LiveReadiness().matrix(recorder)
    report = readiness_matrix(_report_summary(recorder))
    assert board == report
    # ...and the fixture really exercises every colour and every status, so the equality says something
    assert {c.color for r in board.rows for c in r.cells} == {"green", "amber", "red", "grey"}
    assert {r.status for r in board.rows} == {"ready", "not ready", "throttled", "not proven"}
    cells = {(r.code, c.check): c for r in board.rows for c in r.cells}
    assert cells[("04", "catalogue")].color == "red" and "4 failed" in cells[("04", "catalogue")].reason
    assert cells[("08", "sign_in")].color == "amber" and cells[("11", "sign_in")].color == "red"
    assert cells[("01", "status_sync")].reason.startswith("31 requests, 1 failed")  # both endpoints in one cell
    assert len(board.rows) == 34 and board.total == 34


def test_the_worst_communes_are_the_reports_with_their_p95(recorder):
    live = LiveReadiness()
    board = live.communes(recorder)
    assert board == _report_summary(recorder).communes
    assert [w.code for w in board.worst] == [_first_commune(p) for p in ("12", "04", "01")]  # 20 %, 4/64, then none
    p95 = {w.code: w.p95_ms for w in board.worst}
    assert p95[_first_commune("01")] == pytest.approx(12, rel=0.01)  # 180 requests of 12 ms: within the sketch's 1 %
    assert p95[_first_commune("12")] is None  # 5 requests: too few for a p95
    assert (board.active, board.with_failures, board.with_p95) == (3, 2, 2)
    # a commune's row is remade only when its counts or its sketch moved
    assert live.communes_remade == 3
    live.communes(recorder)
    assert live.communes_remade == 0
    _record(recorder, "sign_in", "12", 20, 50, commune=_first_commune("12"))
    again = live.communes(recorder)
    assert live.communes_remade == 1 and again == _report_summary(recorder).communes
    assert {w.code: w.p95_ms for w in again.worst}[_first_commune("12")] == pytest.approx(50, rel=0.01)


def test_a_cell_is_recomputed_only_when_its_inputs_moved(recorder):
    live = LiveReadiness()
    live.matrix(recorder)
    assert live.recomputed == 34 * len(CHECK_ENDPOINTS)
    live.matrix(recorder)
    assert live.recomputed == 0  # nothing moved: every cell from the cache
    _record(recorder, "catalogue", "01", 1, 5)
    recorder.record("axis", "GET /inbox", "04", None, 5 * MS, None, failed=True, at=2.0)  # a failure moves a cell too
    after = live.matrix(recorder)
    assert live.recomputed == 2
    assert after == readiness_matrix(_report_summary(recorder))


def test_a_failing_check_turns_its_cell_red_and_its_province_not_ready():
    rec = LatencyRecorder()
    for check in CHECK_ENDPOINTS:
        _record(rec, check, "79", 40, 10)
    live = LiveReadiness()
    before = {r.code: r for r in live.matrix(rec).rows}["79"]
    assert before.status == "ready" and {c.color for c in before.cells} == {"green"}
    _record(rec, "dossier_submit", "79", 3, 10, failed=3)  # 3 of 43 = 7 % failed
    after = {r.code: r for r in live.matrix(rec).rows}["79"]
    assert after.status == "not ready"
    assert [c.check for c in after.cells if c.color == "red"] == ["dossier_submit"]


def test_the_computation_yields_after_each_recomputed_cell(recorder):
    yields: list[int] = []
    live = LiveReadiness(pause=lambda: yields.append(1))
    live.matrix(recorder)
    assert len(yields) == live.recomputed == 34 * len(CHECK_ENDPOINTS)
    live.matrix(recorder)
    assert len(yields) == 34 * len(CHECK_ENDPOINTS)  # nothing recomputed, no yield needed


def test_totals_count_every_request_once(recorder):
    totals = LiveReadiness.totals(recorder)
    assert totals.requests == recorder.requests
    assert totals.failures == recorder.failures == sum(recorder.key_failures.values())
    assert totals.throttled == recorder.throttled == 3


def test_a_throttled_province_is_throttled_on_the_board_as_in_the_report(recorder):
    board = LiveReadiness().matrix(recorder)
    assert [(r.code, r.status, r.throttled_text) for r in board.throttled] == [("48", "throttled", "3 throttled (100.0 %)")]
    cell = next(r for r in board.rows if r.code == "48").cells[0]
    assert cell.figure is not None and (cell.figure.failures, cell.figure.throttled) == (0, 3)
