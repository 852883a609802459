"""``board.json``, the JSON the live board's page reads, and the board's HTTP surface (WSGI,
called directly; the e2e test serves it for real to a real browser)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import time
import types
from pathlib import Path
from typing import Any

import gevent.socket
import pytest

from kernel.roster import load_roster
from metrics.board import FEED_FILE, BoardFeed, DrillFeed, FeedStep, LiveBoard, write_feed
from metrics.board.snapshot import BoardSnapshot
from reports.html import READY_LOOK
from reports.summary import READINESS_CHECKS
from scenarios.latency import LatencyRecorder
from scenarios.load_figures import LoadFigures

from .board_wire import raw_exchange

STARTED_AT = 1_800_000_000.0


def _environment(recorder: LatencyRecorder, state: str | None = "running", started: bool = True) -> Any:
    figures = LoadFigures(recorder)
    figures.started_at = STARTED_AT if started else None
    runner = types.SimpleNamespace(state=state) if state is not None else None
    return types.SimpleNamespace(dientap=figures, runner=runner)


def _feed(tmp_path: Path, refresh_s: float = 60.0, drill: DrillFeed | None = None) -> Path:
    path = tmp_path / FEED_FILE
    write_feed(path, BoardFeed(run_id="20261205-101010-ab12", profile="smoke", command="drill" if drill else "run",
                               duration_s=60, refresh_s=refresh_s, drill=drill))
    return path


def _board(recorder: LatencyRecorder, tmp_path: Path, **kw: Any) -> LiveBoard:
    return LiveBoard(_environment(recorder, **kw), _feed(tmp_path), clock=lambda: STARTED_AT + 12.34)


def _call(board: LiveBoard, path: str, method: str = "GET", host: str = "127.0.0.1:8089") -> tuple[str, dict, bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(board.wsgi({"PATH_INFO": path, "REQUEST_METHOD": method, "HTTP_HOST": host}, start_response))
    return seen["status"], seen["headers"], body


@pytest.fixture
def recorder() -> LatencyRecorder:
    rec = LatencyRecorder()
    commune = load_roster().province("04").commune_codes[0]
    for i in range(20):
        rec.record("portal", "GET /procedures", "04", commune, 3_000, None, failed=i < 3, at=1.0)
        rec.record("portal", "POST /auth/token", "01", None, 2_000, None, failed=False, at=1.0)
    # one sign-in of province 08 the target throttled (429 with Retry-After): 08 is "throttled"
    rec.record("portal", "POST /auth/token", "08", None, 2_000, None, failed=False, throttled=True, at=1.0)
    return rec


def test_board_json_has_the_34_rows_in_roster_order_with_the_reports_columns_and_look(recorder, tmp_path):
    status, headers, body = _call(_board(recorder, tmp_path), "/board.json")
    assert status == "200 OK" and headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    board = json.loads(body)
    BoardSnapshot.model_validate(board)  # the documented shape, nothing more, nothing less
    matrix = board["matrix"]
    assert [r["code"] for r in matrix["rows"]] == [p.code for p in load_roster().provinces]
    assert [(c["id"], c["label"]) for c in matrix["checks"]] == list(READINESS_CHECKS)
    assert all([c["check"] for c in r["cells"]] == [c for c, _ in READINESS_CHECKS] for r in matrix["rows"])
    rows = {r["code"]: r for r in matrix["rows"]}
    catalogue = next(c for c in rows["04"]["cells"] if c["check"] == "catalogue")
    assert catalogue["color"] == "red" and catalogue["text"].startswith("85.0 % ok")  # 3 of 20 failed
    assert (rows["04"]["status"], rows["04"]["ready"], rows["04"]["ready_text"], rows["04"]["ready_color"]) == (
        "not ready", *READY_LOOK["not ready"])
    assert rows["01"]["status"] == "not proven" and rows["01"]["ready_color"] == READY_LOOK["not proven"][2]
    assert (rows["08"]["status"], rows["08"]["ready_color"], rows["08"]["throttled"], rows["08"]["throttled_text"]) == (
        "throttled", READY_LOOK["throttled"][2], 1, "1 throttled (100.0 %)")
    assert matrix["throttled"] == 1 and rows["01"]["throttled_text"] == ""
    assert (matrix["ready_count"], matrix["total"], matrix["not_proven"]) == (0, 34, 32)  # 04 not ready, 08 throttled
    assert (matrix["proven_cells"], matrix["total_cells"]) == (3, 204)
    assert board["run"] == {"run_id": "20261205-101010-ab12", "profile": "smoke", "command": "run", "state": "running",
                            "elapsed_s": 12.3, "duration_s": 60.0, "requests": 41, "failures": 3, "throttled": 1}
    communes = board["communes"]
    assert (communes["active"], communes["with_failures"], communes["with_p95"], communes["min_latency_samples"]) == (1, 1, 1, 20)
    (worst,) = communes["worst"]
    assert (worst["failures"], worst["latency_samples"], worst["p95_text"]) == (3, 20, "3.0")  # the report's words
    assert board["drill"] is None and board["refresh_s"] == 60.0


def test_the_drill_timeline_gives_each_step_its_state_and_offsets_from_the_loads_start(recorder, tmp_path):
    steps = [
        FeedStep(name="population outage", backend="http", kind="outage", target="population", at_s=8, end_s=16,
                 started_at=STARTED_AT + 7.5, stopped_at=STARTED_AT + 15.75),
        FeedStep(name="citizens submit", backend="traffic", kind="submission_probe", target="portal", at_s=9, end_s=40,
                 started_at=STARTED_AT + 9.25),
        FeedStep(name="axis slow", backend="http", kind="latency", target="axis", at_s=30, end_s=45),
    ]
    path = _feed(tmp_path, drill=DrillFeed(name="population-outage", title="Population database down", steps=steps))
    board = json.loads(LiveBoard(_environment(recorder), path).json_body())
    assert board["run"]["command"] == "drill"
    assert board["drill"]["name"] == "population-outage"
    assert [(s["name"], s["state"], s["started_s"], s["stopped_s"]) for s in board["drill"]["steps"]] == [
        ("population outage", "over", 7.5, 15.75),
        ("citizens submit", "active", 9.25, None),
        ("axis slow", "planned", None, None),
    ]
    assert [(s["at_s"], s["end_s"]) for s in board["drill"]["steps"]] == [(8, 16), (9, 40), (30, 45)]


@pytest.mark.parametrize(("runner_state", "said"), [
    ("ready", "starting"), ("spawning", "running"), ("running", "running"), ("cleanup", "stopping"),
    ("stopping", "stopping"), ("stopped", "over"), (None, "starting"),
])
def test_the_run_state_follows_the_locust_runner(recorder, tmp_path, runner_state, said):
    board = json.loads(_board(recorder, tmp_path, state=runner_state).json_body())
    assert board["run"]["state"] == said


def test_before_the_load_starts_and_without_a_feed_the_board_still_draws_34_rows(tmp_path):
    env = types.SimpleNamespace(runner=None)  # the harness has not installed its observation yet
    board = json.loads(LiveBoard(env, tmp_path / "no-feed.json").json_body())
    assert len(board["matrix"]["rows"]) == 34
    assert {c["color"] for r in board["matrix"]["rows"] for c in r["cells"]} == {"grey"}
    assert board["run"] == {"run_id": None, "profile": None, "command": None, "state": "starting", "elapsed_s": None,
                            "duration_s": None, "requests": 0, "failures": 0, "throttled": 0}


def test_figures_are_computed_at_most_once_per_refresh_however_many_pages_ask(recorder, tmp_path):
    board = _board(recorder, tmp_path)  # refresh every 60 s
    first = board.json_body()
    recorder.record("portal", "GET /procedures", "04", None, 3_000, None, failed=True, at=2.0)
    assert [board.json_body() for _ in range(5)] == [first] * 5
    assert board.computations == 1
    # The snapshot is served for 0.9 × the refresh, or longer when computing it cost more than
    # the board's work share (a busy machine): wait out what this one was given, not a guess.
    quick = LiveBoard(_environment(recorder), _feed(tmp_path / "quick", refresh_s=0.05), work_share=1.0)
    quick.json_body()
    time.sleep(quick.fresh_for_s + 0.05)  # past it: the next request computes again, and sees the new failure
    again = json.loads(quick.json_body())
    assert quick.computations == 2 and again["run"]["failures"] == 4


def test_a_snapshot_that_cost_more_than_the_boards_share_is_served_longer(recorder, tmp_path):
    yields: list[int] = []
    board = LiveBoard(_environment(recorder), _feed(tmp_path, refresh_s=0.05), pause=lambda: yields.append(1),
                      work_share=1e-6)  # any computation costs more than a millionth of the interval
    board.json_body()
    assert board.last_work_s > 0 and yields  # its own slices were timed, and it yielded between them
    time.sleep(0.1)  # past the refresh interval...
    board.json_body()
    assert board.computations == 1  # ...but not past last_work_s / 1e-6: still the first snapshot


def test_once_the_run_is_over_the_board_says_so_with_fresh_figures(recorder, tmp_path):
    board = _board(recorder, tmp_path)
    assert json.loads(board.json_body())["run"]["state"] == "running"
    recorder.record("portal", "GET /procedures", "04", None, 3_000, None, failed=True, at=2.0)
    assert board.finish(linger_s=0.2) is False  # no page ever fetched: nothing to wait for
    final = json.loads(board.json_body())
    assert final["run"]["state"] == "over" and final["run"]["failures"] == 4


def test_the_page_is_self_contained_and_its_script_and_style_are_the_ones_its_policy_allows(recorder, tmp_path):
    status, headers, body = _call(_board(recorder, tmp_path), "/")
    page = body.decode()
    assert status == "200 OK" and headers["Content-Type"] == "text/html; charset=utf-8"
    assert not re.search(r"(src|href)=\"(?!data:)", page), "the page names an asset to fetch"
    assert "http://" not in page and "https://" not in page and "//" not in re.sub(r"<script>.*</script>", "", page, flags=re.S)
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        (inline,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy, f"the browser would refuse the page's {tag}"
    assert 'data-refresh-s="60"' in page  # the feed's refresh reaches the page's script
    heads = re.findall(r'<th data-check="([a-z_]+)">', page)
    assert heads == [c for c, _ in READINESS_CHECKS]
    assert "innerHTML" not in page  # every figure is drawn as text


def test_other_routes_methods_and_hosts_are_json_errors(recorder, tmp_path):
    board = _board(recorder, tmp_path)
    status, _, body = _call(board, "/metrics")
    assert status.startswith("404") and json.loads(body)["error"]["code"] == "not_found"
    status, headers, body = _call(board, "/board.json", "POST")
    assert status.startswith("405") and headers["Allow"] == "GET, HEAD"
    status, _, body = _call(board, "/", host="board.attacker.example:8089")  # a DNS name rebound to 127.0.0.1
    assert status.startswith("403") and json.loads(body)["error"]["code"] == "forbidden_host"
    for host in ("localhost:8089", "[::1]:8089", "127.0.0.1"):
        assert _call(board, "/", host=host)[0] == "200 OK", host
    assert board.fetches == 0  # none of these was a board.json answer


def test_a_run_that_ends_while_the_board_computes_is_answered_over(recorder, tmp_path):
    ended: list[bool] = []

    def load_turn() -> None:  # the run ends while the board yields to the load between two cells
        if not ended:
            ended.append(board.finish(linger_s=0))

    board = LiveBoard(_environment(recorder), _feed(tmp_path), pause=load_turn)
    assert json.loads(board.json_body())["run"]["state"] == "over"  # what the page finish() waits for gets
    assert json.loads(board.json_body())["run"]["state"] == "over"  # and nothing cached says otherwise


def _served_exchange(board: LiveBoard, request: bytes) -> bytes:
    """``request`` sent to ``board`` served for real in this thread's gevent hub; all it answered."""
    listener = gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    board.serve(listener)
    try:
        return raw_exchange(listener.getsockname(), request)
    finally:
        board.stop()


def test_the_served_board_answers_a_malformed_request_in_json(recorder, tmp_path):
    answer = _served_exchange(_board(recorder, tmp_path),
                              b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"]["code"] == "invalid_http"


def test_head_answers_the_headers_without_the_body_on_a_kept_connection(recorder, tmp_path):
    # gevent sends whatever the app returns, even to HEAD: a body after HEAD is read as the
    # next response by a client that keeps the connection. Three HEADs, then a GET, on one
    # connection: four answers, only the last with a body.
    heads = b"".join(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                     for path in ("/", "/board.json", "/nope"))
    answer = _served_exchange(_board(recorder, tmp_path),
                              heads + b"GET /board.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    parts = answer.split(b"\r\n\r\n")
    statuses = [part.split(b"\r\n", 1)[0] for part in parts[:4]]
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]
    assert all(b"Content-Length: 0\r\n" not in part for part in parts[:3])  # each HEAD names its GET's length
    assert json.loads(parts[4])["run"]["state"]


def test_a_host_is_a_loopback_name_and_a_port_and_nothing_more(recorder, tmp_path):
    # Only the part before the last colon was read: these passed as 127.0.0.1, localhost and [::1].
    board = _board(recorder, tmp_path)
    for host in ("[::1]board.attacker.example", "localhost:80@board.attacker.example", "127.0.0.1:8089:1",
                 "localhost:board.attacker.example:8089", "127.0.0.1 .attacker.example:8089"):
        status, _, body = _call(board, "/board.json", host=host)
        assert status.startswith("403") and json.loads(body)["error"]["code"] == "forbidden_host", host
    for host in ("LOCALHOST:8089", "[::1]", "127.0.0.1:65535", ""):
        assert _call(board, "/", host=host)[0] == "200 OK", host
