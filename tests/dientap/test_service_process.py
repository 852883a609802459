"""A supervised service process: start, readiness, signals, restart on the same socket, stop, logs.

The child is a tiny HTTP server that serves on the socket the supervisor passes it
(``--fd N``) and answers with its pid, so every step is observed from outside.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dientap.orchestration.process import ServiceProcess, listening_socket
from kernel.errors import ServiceStartError

CHILD = r"""
import json, os, signal, socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

STATUS = int(os.environ.get("CHILD_STATUS", "200"))

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "marker": os.environ.get("CHILD_MARKER")}).encode()
        self.send_response(STATUS)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class InheritedSocketServer(HTTPServer):
    def server_bind(self):  # the supervisor bound and listens already
        self.server_name, self.server_port = "127.0.0.1", self.socket.getsockname()[1]

    def server_activate(self):
        pass

def stop(signum, frame):
    print("stopping on SIGTERM", flush=True)
    raise SystemExit(0)

if os.environ.get("CHILD_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, stop)
server = InheritedSocketServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1]))
print(f"serving as {os.getpid()}", flush=True)
server.serve_forever()
"""

START_S = 60.0  # generous: the machine may be busy; the tests never depend on how long it takes


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory: ``service(env=..., log=True)`` → an unstarted ServiceProcess for the child; closed at teardown."""
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    made: list[ServiceProcess] = []

    def make(env: dict[str, str] | None = None, *, log: bool = True, argv: list[str] | None = None) -> ServiceProcess:
        name = f"child{len(made)}"
        proc = ServiceProcess(name, argv or [sys.executable, str(script)], env=env,
                              log_path=tmp_path / "logs" / f"{name}.log" if log else None)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.close()


def _get(url: str) -> dict:
    response = httpx.get(f"{url}/healthz", timeout=10)
    response.raise_for_status()
    return response.json()


def _log_path(tmp_path: Path, proc: ServiceProcess) -> Path:
    return tmp_path / "logs" / f"{proc.name}.log"


def _log(tmp_path: Path, proc: ServiceProcess) -> str:
    return _log_path(tmp_path, proc).read_text(encoding="utf-8")


@pytest.mark.e2e
def test_a_service_starts_in_its_own_session_serves_its_env_and_stops_gracefully(service, tmp_path):
    proc = service(env={"CHILD_MARKER": "m-42"})
    assert proc.pid is None and proc.proc is None
    assert proc.url == f"http://127.0.0.1:{proc.port}"
    proc.start()
    proc.wait_healthy(START_S)

    answer = _get(proc.url)
    assert answer == {"pid": proc.pid, "marker": "m-42"}
    assert os.getsid(proc.pid) == proc.pid, "a terminal's Ctrl-C must reach the supervisor only"
    assert f"serving as {proc.pid}" in _log(tmp_path, proc)

    proc.stop()
    assert proc.proc is not None and proc.proc.returncode == 0
    assert "stopping on SIGTERM" in _log(tmp_path, proc)


@pytest.mark.e2e
def test_a_restart_keeps_the_port_and_a_request_made_while_down_is_answered(service):
    proc = service()
    proc.start()
    proc.wait_healthy(START_S)
    first_pid, port = proc.pid, proc.port

    proc.kill()
    assert proc.proc is not None and proc.proc.returncode == -signal.SIGKILL
    # The supervisor still holds the listening socket: the kernel accepts the connection
    # into its backlog and the request waits for the next child instead of being refused.
    with socket.create_connection(("127.0.0.1", port), timeout=START_S) as waiting:
        waiting.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        proc.restart(START_S)
        reply = b""
        while chunk := waiting.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert json.loads(body)["pid"] == proc.pid != first_pid
    assert (proc.port, proc.restarts) == (port, 1)
    assert _get(proc.url)["pid"] == proc.pid


@pytest.mark.e2e
def test_a_frozen_service_is_still_stopped_gracefully(service, tmp_path):
    proc = service()
    proc.start()
    proc.wait_healthy(START_S)
    proc.signal(signal.SIGSTOP)
    proc.stop()  # SIGCONT first: a stopped process cannot run its SIGTERM handler
    assert proc.proc is not None and proc.proc.returncode == 0
    assert "stopping on SIGTERM" in _log(tmp_path, proc)


@pytest.mark.e2e
def test_a_service_that_ignores_sigterm_is_killed_after_the_grace_period(service, tmp_path):
    proc = service(env={"CHILD_IGNORE_TERM": "1"})
    proc.start()
    proc.wait_healthy(START_S)
    proc.stop(timeout_s=0.5)
    assert proc.proc is not None and proc.proc.returncode == -signal.SIGKILL
    assert "stopping on SIGTERM" not in _log(tmp_path, proc)


@pytest.mark.e2e
def test_a_service_that_exits_while_starting_names_its_code_and_log(service, tmp_path):
    proc = service(argv=[sys.executable, "-c", "import sys; print('no config here', file=sys.stderr); sys.exit(5)"])
    proc.start()
    log = re.escape(str(_log_path(tmp_path, proc)))
    with pytest.raises(ServiceStartError, match=rf"^child0 exited with code 5 while starting; see {log}$"):
        proc.wait_healthy(START_S)
    assert "no config here" in _log(tmp_path, proc)


@pytest.mark.e2e
def test_a_service_that_answers_but_not_200_is_not_ready_and_says_what_it_answered(service):
    proc = service(env={"CHILD_STATUS": "503"}, log=False)
    proc.start()
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:  # until it serves at all; then readiness is about the status alone
        try:
            if httpx.get(f"{proc.url}/healthz", timeout=5).status_code == 503:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    # 1 s, not less: the deadline starts before the poller's HTTPS-capable client is built (tens of
    # ms, far more on a busy machine), and a wait that ends before the first poll has no answer to name.
    with pytest.raises(ServiceStartError, match=rf"child0 not ready at {re.escape(proc.url)}/healthz after 1 s \(HTTP 503\)$"):
        proc.wait_healthy(1.0)


@pytest.mark.e2e
def test_close_releases_the_port(service):
    proc = service()
    proc.start()
    proc.wait_healthy(START_S)
    port = proc.port
    proc.close()
    assert proc.proc is not None and proc.proc.poll() is not None
    again = listening_socket("127.0.0.1", port)  # raises EADDRINUSE while any copy is still open
    again.close()


def test_a_service_never_started_closes_cleanly_and_names_an_ipv6_url():
    proc = ServiceProcess("idle", ["unused"])
    port = proc.port
    proc.close()
    listening_socket("127.0.0.1", port).close()
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        v6 = ServiceProcess("v6", ["unused"], host="::1")
    except OSError:
        pytest.skip("::1 cannot be bound here")
    try:
        assert v6.url == f"http://[::1]:{v6.port}"
    finally:
        v6.close()


SUPERVISOR = r"""
import sys, time
from dientap.orchestration.process import ServiceProcess
proc = ServiceProcess("orphan", [sys.executable, sys.argv[1]])
proc.start()
proc.wait_healthy(60)
print(proc.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its reaper is missing


@pytest.mark.e2e
def test_a_child_dies_with_its_killed_supervisor(tmp_path):
    """PR_SET_PDEATHSIG: no service outlives a supervisor that was SIGKILLed."""
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(script)], stdout=subprocess.PIPE, text=True,
                                  cwd=Path(__file__).resolve().parents[2])
    assert supervisor.stdout is not None
    child = 0
    try:
        child = int(supervisor.stdout.readline())
        assert _alive(child)
        supervisor.kill()
        supervisor.wait(60)
        deadline = time.monotonic() + 60
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the service outlived its supervisor"
    finally:
        supervisor.kill()
        supervisor.wait(60)
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
