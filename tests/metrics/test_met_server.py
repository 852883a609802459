"""The exporter's HTTP surface and the run's Prometheus process lifecycle."""

from __future__ import annotations

import json
import shutil
import time
import types
from pathlib import Path

import httpx
import pytest

from dientap.orchestration.prometheus import PrometheusServer
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
