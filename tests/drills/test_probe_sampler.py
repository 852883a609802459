"""The live probe sampler against a real HTTP server that serves Prometheus text and a
health check the test controls: windows over the sampler's own history, restarts,
unreachable metrics, and the sampling thread (loopback, an injected clock)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drills.model import Probe
from drills.probes import ProbeSampler
from tests.support import loopback_http_server

pytestmark = pytest.mark.e2e


@dataclass
class ServiceState:
    """What the fake service answers: its metrics text and the status of each endpoint."""

    metrics: str = ""
    metrics_status: int = 200
    health_status: int = 200


def _metrics(ok: int, errors: int, resets: int = 0, fast: int = 0, slow: int = 0) -> str:
    """The mocks' exposition: a request counter by status class and a latency histogram."""
    route = 'service="portal",route="/dossiers",method="POST"'
    return "\n".join([
        "# TYPE dientap_mock_requests counter",
        f'dientap_mock_requests_total{{{route},status_class="2xx"}} {ok}',
        f'dientap_mock_requests_total{{{route},status_class="5xx"}} {errors}',
        f'dientap_mock_requests_total{{{route},status_class="reset"}} {resets}',
        'dientap_mock_requests_total{service="portal",route="/admin/faults",method="POST",status_class="5xx"} 99',
        "# TYPE dientap_mock_request_duration_seconds histogram",
        f'dientap_mock_request_duration_seconds_bucket{{{route},le="0.1"}} {fast}',
        f'dientap_mock_request_duration_seconds_bucket{{{route},le="1.0"}} {fast + slow}',
        f'dientap_mock_request_duration_seconds_bucket{{{route},le="+Inf"}} {fast + slow}',
        "",
    ])


@pytest.fixture
def service() -> Iterator[tuple[str, ServiceState]]:
    state = ServiceState()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                status, body = state.metrics_status, state.metrics.encode()
            else:
                status, body = state.health_status, b'{"status": "ok"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http_server(Handler) as url:
        yield url, state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ERRORS = Probe(name="errors", kind="error_ratio", route="/dossiers", max=0.3, window_s=2)
P95 = Probe(name="slow", kind="p95_ms", method="POST", max=500, window_s=2)
UP = Probe(name="up", kind="healthy")


def test_each_reading_covers_the_probes_window_of_the_samplers_own_history(service: tuple[str, ServiceState]) -> None:
    url, state = service
    clock = Clock()
    sampler = ProbeSampler({"portal": url}, [ERRORS, P95], clock=clock)
    seen = []
    try:
        for ok, errors, resets, fast, slow in [(100, 0, 0, 100, 0), (150, 40, 10, 100, 100), (170, 50, 10, 120, 100),
                                               (260, 50, 10, 220, 100)]:
            state.metrics = _metrics(ok, errors, resets, fast, slow)
            seen.append([(r.ok, r.measured) for r in sampler.sample_once()])
            clock.now += 1.0
    finally:
        sampler.stop()
    # p95: rank 0.95·n, interpolated linearly inside the bucket that holds it (le 0.1 s, 1 s).
    assert seen == [
        [(True, "0.000 of 100"), (True, "95 ms")],  # no snapshot 2 s old yet: counts from zero
        [(True, "0.250 of 200"), (False, "910 ms")],  # still from zero: 50/200; rank 190 → 0.1 + 0.9·90/100
        # since t=0: 70 ok + 50 errors + 10 resets → 60/130; timings 20 fast + 100 slow, rank 114 → 0.1 + 0.9·94/100
        [(False, "0.462 of 130"), (False, "946 ms")],
        # since t=1: 110 ok + 10 errors → 10/120; timings 120 fast, rank 114 → 0.1·114/120
        [(True, "0.083 of 120"), (True, "95 ms")],
    ]
    assert [r.t for r in sampler.snapshot_readings()][::2] == [1000.0, 1001.0, 1002.0, 1003.0]


def test_a_restarted_service_counts_from_zero(service: tuple[str, ServiceState]) -> None:
    url, state = service
    clock = Clock()
    sampler = ProbeSampler({"portal": url}, [ERRORS], clock=clock)
    try:
        state.metrics = _metrics(500, 0)
        sampler.sample_once()
        clock.now += 3.0
        state.metrics = _metrics(8, 2)  # the process restarted: counters fell
        (reading,) = sampler.sample_once()
    finally:
        sampler.stop()
    assert (reading.ok, reading.measured) == (True, "0.200 of 10")


def test_without_requests_a_window_holds(service: tuple[str, ServiceState]) -> None:
    url, state = service
    clock = Clock()
    state.metrics = _metrics(0, 0)
    sampler = ProbeSampler({"portal": url}, [ERRORS, P95], clock=clock)
    try:
        assert [(r.ok, r.measured) for r in sampler.sample_once()] == [(True, "no requests"), (True, "no requests")]
    finally:
        sampler.stop()


def test_unreadable_metrics_fail_the_metric_probes_but_not_the_health_probe(service: tuple[str, ServiceState]) -> None:
    url, state = service
    clock = Clock()
    state.metrics_status = 500
    sampler = ProbeSampler({"portal": url}, [ERRORS, UP], clock=clock)
    try:
        assert [(r.ok, r.measured) for r in sampler.sample_once()] == [(False, "metrics unreachable"), (True, "healthy")]
        state.metrics_status, state.metrics, state.health_status = 200, _metrics(100, 0), 503
        clock.now += 3.0
        errors, up = sampler.sample_once()
        assert (errors.ok, errors.measured) == (True, "0.000 of 100")  # the failed scrape is no window start
        assert (up.ok, up.measured) == (False, "unhealthy")
    finally:
        sampler.stop()


def test_a_service_that_does_not_answer_is_unhealthy_and_unprobed_services_are_skipped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    axis_up = Probe(name="axis up", kind="healthy", service="axis")
    sampler = ProbeSampler({"portal": closed}, [UP, ERRORS, axis_up])  # no URL for the axis
    try:
        snap = sampler.snapshot("portal")
        assert (snap.reachable, snap.healthy) == (False, False)
        readings = sampler.sample_once()
    finally:
        sampler.stop()
    assert [(r.probe, r.ok, r.measured) for r in readings] == [(0, False, "unhealthy"), (1, False, "metrics unreachable")]


def _probe_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dientap-probes" and t.is_alive()]


def test_the_sampling_thread_reads_every_interval_until_stopped(service: tuple[str, ServiceState]) -> None:
    url, state = service
    state.metrics = _metrics(10, 0)
    assert ProbeSampler({"portal": url}, []).start().snapshot_readings() == []  # no probes: no thread
    before = len(_probe_threads())
    sampler = ProbeSampler({"portal": url}, [UP, ERRORS], interval_s=0.05).start()
    deadline = time.monotonic() + 20
    while len(sampler.snapshot_readings()) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    sampler.stop()
    readings = sampler.snapshot_readings()
    assert len(readings) >= 6 and len(_probe_threads()) == before
    assert [r.probe for r in readings[:6]] == [0, 1, 0, 1, 0, 1]
    assert all(r.ok for r in readings)
    times = [r.t for r in readings[::2]]
    assert times == sorted(times)
