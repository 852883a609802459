"""The exporter's HTTP surface and the run's Prometheus process lifecycle."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import time
import types
from collections.abc import Iterator
from pathlib import Path

import gevent
import gevent.socket
import httpx
import pytest

import metrics.drill_state_server
import metrics.guarded_server
from dientap.orchestration.prometheus import PrometheusServer
from metrics.drill_state import DrillState
from metrics.exporter import MetricsExporter, attach_from_env
from scenarios.latency import LatencyRecorder
from scenarios.load_figures import LoadFigures

needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None,
                                      reason="prometheus not installed (Debian package `prometheus`)")


def _call(exporter: MetricsExporter, path: str, method: str = "GET") -> tuple[str, dict, bytes]:
    seen: dict = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(exporter.wsgi({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return seen["status"], seen["headers"], body


@pytest.fixture
def exporter() -> MetricsExporter:
    recorder = LatencyRecorder()
    recorder.record("axis", "POST /documents", "01", None, 5_000, None, False, at=1.0)
    env = types.SimpleNamespace(dientap=LoadFigures(recorder), runner=None)
    return MetricsExporter(env, process_metrics=False)


def test_metrics_route_serves_text_format(exporter: MetricsExporter) -> None:
    status, headers, body = _call(exporter, "/metrics")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b'dientap_requests_total{service="axis",endpoint="POST /documents",province="01"} 1' in body
    assert exporter.scrapes == 1


def test_unknown_route_and_method_are_json_errors(exporter: MetricsExporter) -> None:
    status, _, body = _call(exporter, "/nope")
    assert status.startswith("404") and json.loads(body)["error"]["code"] == "not_found"
    status, _, body = _call(exporter, "/metrics", "POST")
    assert status.startswith("405") and json.loads(body)["error"]["message"] == "use GET /metrics"


@pytest.fixture
def served(exporter: MetricsExporter, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The exporter served for real in this thread's gevent hub (the test talks to it through
    gevent's sockets), with a short idle timeout and a cap of 2 connections."""
    monkeypatch.setattr(metrics.guarded_server, "CONNECTION_IDLE_S", 0.3)
    monkeypatch.setattr(metrics.guarded_server, "MAX_CONNECTIONS", 2)
    exporter.serve(0, "127.0.0.1")
    yield exporter.server.server_port
    exporter.stop()


def _exchange(port: int, request: bytes, reset: bool = False) -> bytes:
    conn = gevent.socket.create_connection(("127.0.0.1", port))
    conn.settimeout(5)
    conn.sendall(request)
    if reset:  # gone at once, with a reset: the answer is written to a dead socket
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        return b""
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    conn.close()
    return answer


def test_a_malformed_request_is_a_json_400_and_no_traceback(served: int, capfd: pytest.CaptureFixture[str]) -> None:
    many_headers = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n"
    answer = _exchange(served, many_headers)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Content-Type: application/json" in head
    assert json.loads(body)["error"] == {"code": "invalid_http", "field": None,
                                         "message": "the request is not valid HTTP/1.1: got more than 100 headers"}
    for _ in range(10):
        _exchange(served, b"HELLO\r\n\r\n", reset=True)
    gevent.sleep(0.1)
    assert "Traceback" not in capfd.readouterr().err


def test_head_answers_the_headers_without_the_body_on_a_kept_connection(served: int) -> None:
    # gevent sends whatever the app returns, even to HEAD: a body after HEAD is read as the
    # next response by a client that keeps the connection (httpx: "illegal status line").
    # So HEAD, a 404's HEAD, then GET, on one connection: three answers, only the last with a body.
    heads = b"".join(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for path in ("/metrics", "/nope"))
    answer = _exchange(served, heads + b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    parts = answer.split(b"\r\n\r\n")
    statuses = [part.split(b"\r\n", 1)[0] for part in parts[:3]]
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]
    assert all(b"Content-Length: 0\r\n" not in part for part in parts[:2])  # each HEAD names its GET's length
    assert b"dientap_requests_total{" in parts[3]


def test_other_methods_are_refused_with_the_allowed_ones(exporter: MetricsExporter) -> None:
    status, headers, _ = _call(exporter, "/metrics", "OPTIONS")
    assert status.startswith("405") and headers["Allow"] == "GET, HEAD"


def test_a_request_line_past_gevents_limit_is_a_json_414(served: int) -> None:
    # gevent refuses a request line of 8 KB or more itself, with an empty body.
    answer = _exchange(served, b"GET /metrics?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 ") and b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "uri_too_long"


def test_idle_connections_are_closed_and_capped(served: int, exporter: MetricsExporter) -> None:
    idle = [gevent.socket.create_connection(("127.0.0.1", served)) for _ in range(5)]
    gevent.sleep(0.1)
    assert len(exporter.server.pool) == 2  # the other three wait in the backlog, not in this process
    idle[0].settimeout(5)  # far above CONNECTION_IDLE_S: a connection never closed times out here
    assert idle[0].recv(1) == b""  # closed by the exporter once idle for CONNECTION_IDLE_S
    answer = _exchange(served, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    for conn in idle:
        conn.close()


@pytest.fixture
def drill_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The drill-state server with a 0.3-s idle timeout, as ``dientap drill --prometheus``
    starts it in a process that is not a gevent one → its port."""
    monkeypatch.setattr(metrics.guarded_server, "CONNECTION_IDLE_S", 0.3)
    DrillState.set_active("state server test", "latency", True)
    url, server = metrics.drill_state_server.start_drill_state_server()
    yield int(url.rsplit(":", 1)[1].split("/")[0])
    server.shutdown()
    DrillState.set_active("state server test", "latency", False)


def _plain_exchange(port: int, request: bytes) -> bytes:
    """``request`` on a plain (not gevent) socket, as another process would send it; all answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):  # the 5-s timeout is never reached: the server closes first
            answer += chunk
    return answer


# The drill's fault state is served by the load's own guarded server (on a hub of its own
# thread): prometheus_client's threaded server, used before, had no bound, answered in HTML
# and printed a traceback for a client that stalled.
def test_the_drill_state_server_is_the_guarded_one(drill_state: int, capfd: pytest.CaptureFixture[str]) -> None:
    answer = _plain_exchange(drill_state, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b'dientap_drill_fault_active{fault="state server test",kind="latency"} 1.0' in answer
    assert _plain_exchange(drill_state, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n") == b""  # stalled: dropped
    head, _, body = _plain_exchange(drill_state, b"GARBAGE\r\n\r\n").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"]["code"] == "invalid_http"
    assert "Traceback" not in capfd.readouterr().err


def test_listen_env_must_be_host_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIENTAP_METRICS_LISTEN", "9646")
    with pytest.raises(ValueError, match="DIENTAP_METRICS_LISTEN: expected host:port, got '9646'"):
        attach_from_env(types.SimpleNamespace(runner=None))
    monkeypatch.delenv("DIENTAP_METRICS_LISTEN")
    assert attach_from_env(types.SimpleNamespace(runner=None)) is None


@pytest.mark.e2e
@needs_prometheus
def test_prometheus_starts_ready_on_loopback_and_stops(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "prom", {"harness": "http://127.0.0.1:9/metrics"}, storage_dir=tmp_path / "tsdb")
    try:
        url = server.start()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
        rules = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {g["name"] for g in rules} == {"dientap-recording", "dientap-slo-alerts"}
    finally:
        began = time.monotonic()
        server.stop()
    assert time.monotonic() - began < 10
    assert server.proc is not None and server.proc.poll() is not None
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/-/ready", timeout=2)
    assert (tmp_path / "tsdb").is_dir()
