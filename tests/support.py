"""Helpers shared by tests (import as ``from tests.support import ...``)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import Callable, Collection, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from dientap.orchestration import MockCluster
from drills.backends import TrafficBackend
from drills.backends.protocol import FaultOutcome
from drills.backends.traffic import TrafficContext
from drills.model import Fault
from kernel.allowlist import Allowlist


class JsonHandler(BaseHTTPRequestHandler):
    """A loopback test server's handler that answers in JSON (``self.reply``), keeps the
    connection alive, and logs nothing; ``self.drop()`` closes the connection unanswered."""

    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm on, the body
    # waits for the client's delayed ACK (40 ms an answer on loopback).
    disable_nagle_algorithm = True

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self) -> None:
        self.close_connection = True  # no answer at all: the client sees the connection close

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def log_message(self, *args: object) -> None:
        pass


def traffic_action_against(handler: type[BaseHTTPRequestHandler], fault: Fault, *, window_s: float,
                           admin_token: str | None = None) -> FaultOutcome:
    """Run one drill-traffic action against a loopback server answering with ``handler`` (as
    every service the action calls), as the drill runner does: started, then stopped."""
    with loopback_http_server(handler) as url:
        backend = TrafficBackend(TrafficContext(
            urls={"portal": url, "axis": url}, secret="s", seed=1, population_size=100, pki_dir=None, run_id="r1",
            allowlist=Allowlist(), admin_token=admin_token), timeout_s=5.0)
        try:
            backend.start(fault, time.monotonic() + window_s)
            return backend.stop(fault)
        finally:
            backend.close()


def all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run ``calls`` on threads of their own, released together by a barrier (a race made
    reliable: every call is in flight before any is sent); their answers, in order."""
    barrier = threading.Barrier(len(calls))

    def run(fn: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return fn()

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@contextlib.contextmanager
def loopback_http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real threading HTTP server answering with ``handler`` on a free loopback port, for
    the block: yields its base URL (``http://127.0.0.1:PORT``), then shuts it down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def admin_client(cluster: MockCluster, service: str) -> httpx.Client:
    """An httpx client for ``service`` that carries the cluster's admin token."""
    return httpx.Client(
        base_url=cluster.urls[service],
        headers={"Authorization": f"Bearer {cluster.config.admin_token}"},
        timeout=10.0,
    )


def fuzz_openapi(
    base_url: str,
    headers_for: Callable[[str], dict[str, str]],
    *,
    skip: Collection[str] = (),
    max_examples: int = 25,
    only_prefix: str = "",
    error_form: Callable[[dict], bool] | None = None,
) -> tuple[set[str], list[int]]:
    """Fuzz every operation of ``base_url``'s own ``/openapi.json``: no input may give a 5xx,
    and every error must be the JSON error shape. Returns (operation labels, statuses seen).

    Schemathesis generates the cases and Hypothesis runs them (the Schemathesis pytest
    plugin does not load under this pytest, so the loop is ours). ``headers_for(path)``
    gives the credentials of each operation; labels in ``skip`` (e.g. ``POST /auth/logout``,
    which would revoke the fuzzer's own token) are left out, and so are paths outside
    ``only_prefix``. ``error_form(body)`` tells an error body of a face with its own form
    (default: the mocks' ``{"error": {"code", "message"}}``). Call it from a test that has
    ``monkeypatch.chdir(tmp_path)``: Schemathesis keeps a cache in the working directory.
    """
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    session = requests.Session()
    statuses: list[int] = []
    operations = [op for op in (result.ok() for result in schema.get_all_operations()) if op.path.startswith(only_prefix)]
    for operation in operations:
        if operation.label in skip:
            continue
        headers = headers_for(operation.path)

        @given(case=operation.as_strategy())
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, session=session, headers=headers)  # noqa: B023 - check() runs in this iteration
            statuses.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                if error_form is not None:
                    assert error_form(response.json()), f"{where}: {response.text[:300]}"
                else:
                    error = response.json()["error"]
                    assert error["code"] and error["message"], where
                assert "Traceback" not in response.text, where

        check()
    return {op.label for op in operations}, statuses


@contextlib.contextmanager
def team_mocks(tmp_path: Path, *, population: int, officers_per_commune: int) -> Iterator[tuple[MockCluster, str, Path]]:
    """The mocks as a team runs them for ``--target`` (``dientap mocks``, real processes),
    with the targets file that aims a run at them: yields (cluster, admin token, targets file)."""
    from dientap.orchestration.mockcluster import MockClusterConfig

    config = MockClusterConfig(data_dir=tmp_path / "mocks", population_size=population, log_dir=tmp_path / "logs",
                               extra_settings={"portal": {"officers_per_commune": officers_per_commune}})
    with MockCluster(config) as cluster:
        targets = tmp_path / "targets.yaml"
        targets.write_text(
            "name: team-mocks\n"
            + "".join(f"{name}: {{base_url: '{url}'}}\n" for name, url in cluster.urls.items())
            + f"pki_dir: {tmp_path / 'mocks' / 'axis' / 'pki'}\n",
            encoding="utf-8",
        )
        yield cluster, config.admin_token, targets
