"""The live board served for real on 127.0.0.1, against a damaged feed file and hostile
requests: the board keeps its last good feed and answers every request, never with a 5xx."""

from __future__ import annotations

import json
import os
import socket
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent.socket
import pytest

from metrics.board import FEED_FILE, BoardFeed, LiveBoard, write_feed
from scenarios.latency import LatencyRecorder
from scenarios.load_figures import LoadFigures

from .board_wire import raw_exchange

STARTED_AT = 1_800_000_000.0
GOOD_REFRESH_S = 2.0


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[LiveBoard, tuple[str, int]]]:
    """A board with a good feed, served on a loopback port in this thread's gevent hub."""
    figures = LoadFigures(LatencyRecorder())
    figures.started_at = STARTED_AT
    environment = types.SimpleNamespace(dientap=figures, runner=types.SimpleNamespace(state="running"))
    write_feed(tmp_path / FEED_FILE, BoardFeed(run_id="r", profile="smoke", command="run", duration_s=60,
                                               refresh_s=GOOD_REFRESH_S))
    live = LiveBoard(environment, tmp_path / FEED_FILE)
    listener = gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    live.serve(listener)
    try:
        yield live, listener.getsockname()
    finally:
        live.stop()


def _exchange(address: tuple[str, int], request: bytes) -> tuple[bytes, bytes]:
    """Send ``request`` on a fresh connection; the answer's status line and body."""
    head, _, body = raw_exchange(address, request).partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


def _get(address: tuple[str, int], path: str) -> tuple[bytes, bytes]:
    return _exchange(address, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())


def _replace_feed(path: Path, text: str) -> None:
    """Replace the feed file as the command does (a new file moved over it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.mark.parametrize("refresh", ["Infinity", "1e400", "1e300"])
def test_a_feed_with_a_refresh_no_page_can_wait_keeps_the_last_good_one(board: Any, tmp_path: Path, refresh: str) -> None:
    live, address = board
    assert json.loads(_get(address, "/board.json")[1])["refresh_s"] == GOOD_REFRESH_S
    feed = json.loads((tmp_path / FEED_FILE).read_text(encoding="utf-8"))
    feed["refresh_s"] = "__DAMAGED__"
    _replace_feed(tmp_path / FEED_FILE, json.dumps(feed).replace('"__DAMAGED__"', refresh))
    live.finish(linger_s=0)  # the next board.json is computed anew, reading the damaged feed
    status, body = _get(address, "/board.json")
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["refresh_s"] == GOOD_REFRESH_S
    assert live.fresh_for_s < 60  # the figures are computed again within a refresh, not served forever
    status, page = _get(address, "/")
    assert status == b"HTTP/1.1 200 OK" and f'data-refresh-s="{GOOD_REFRESH_S:g}"'.encode() in page


@pytest.mark.parametrize("request_line", [
    b"GET /board.json?x=%00%ff%3Cscript%3E&&=;; HTTP/1.1",
    b"GET /%2e%2e/%00%ff HTTP/1.1",
    b"GET /\xff\xfe HTTP/1.1",
    b"GET http://evil.example/board.json HTTP/1.1",
    b"OPTIONS * HTTP/1.1",
    b"CONNECT 127.0.0.1:80 HTTP/1.1",
    b"G\x01T / HTTP/1.1",
    b"TRACE / HTTP/1.1",
    b"GET / HTTP/2.0",
    b"GET /" + b"a" * 8000 + b" HTTP/1.1",
])
def test_hostile_request_lines_are_answered_without_a_server_error(board: Any, request_line: bytes) -> None:
    _, address = board
    status, body = _exchange(address, request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    code = int(status.split()[1])
    assert code == 200 or 400 <= code < 500, status
    if code != 200:
        assert json.loads(body)["error"]["code"]
