"""SIGSTOP/SIGCONT on a real child process, without the mocks (fast): while frozen its
socket still accepts connections (the kernel completes the handshake) and nothing answers;
the kernel's own state letter in /proc says "T"; a request sent during the freeze is
answered once it resumes; and the rollback of an interrupted drill — the fault started,
never stopped — always sends SIGCONT."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dientap.orchestration import ServiceProcess
from drills.backends import ProcessFaultBackend
from drills.fault_timeline import AppliedFault, FaultInjector
from drills.model import Fault
from drills.rollback import roll_back
from drills.step_log import StepLog

# Answers "ok" to each connection's first bytes, on the listening socket it inherits (--fd N).
_ANSWERER = (
    "import socket, sys\n"
    "listener = socket.socket(fileno=int(sys.argv[-1]))\n"
    "while True:\n"
    "    conn, _ = listener.accept()\n"
    "    conn.recv(64)\n"
    "    conn.sendall(b'ok')\n"
    "    conn.close()\n"
)


def _state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` from /proc (R running, S sleeping, T stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def _until(predicate, what: str, timeout_s: float = 10.0) -> None:  # noqa: ANN001 - a no-argument callable
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    pytest.fail(f"not {what} within {timeout_s:g} s")


def _ask(port: int, timeout_s: float) -> socket.socket:
    """Connect and send a request (the handshake needs no help from the process)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    conn.sendall(b"ping")
    return conn


def _pause(target: str = "portal") -> Fault:
    return Fault.model_validate({"name": f"{target} frozen", "backend": "process", "target": target, "at_s": 1,
                                 "duration_s": 5, "process": {"action": "pause"}})


@pytest.fixture
def answerer(tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess("portal", [sys.executable, "-c", _ANSWERER], log_path=tmp_path / "answerer.log")
    proc.start()
    try:
        with _ask(proc.port, 10.0) as conn:  # up and answering before the test freezes it
            assert conn.recv(2) == b"ok"
        yield proc
    finally:
        proc.signal(signal.SIGCONT)  # whatever the test did, so close() can stop it
        proc.close()


def test_a_frozen_process_accepts_but_never_answers_until_resumed(answerer: ServiceProcess) -> None:
    backend = ProcessFaultBackend({"portal": answerer})
    pid = answerer.pid
    assert pid is not None
    assert backend.inject(_pause()) == {"signal": "SIGSTOP", "pid": pid}
    _until(lambda: _state(pid) == "T", "stopped")
    assert backend.leftover() == {"portal": 1}
    conn = _ask(answerer.port, 0.3)  # accepted by the kernel: connect and send succeed
    with pytest.raises(TimeoutError):
        conn.recv(2)  # ... and nothing answers
    assert _state(pid) == "T"
    assert backend.remove(_pause()) == "resumed (SIGCONT)"
    _until(lambda: _state(pid) != "T", "resumed")
    conn.settimeout(10.0)
    assert conn.recv(2) == b"ok"  # the request sent during the freeze is answered after it
    conn.close()
    assert backend.leftover() == {} and answerer.pid == pid  # the same process: frozen, not restarted


def test_the_rollback_of_an_interrupted_drill_resumes_a_frozen_process(answerer: ServiceProcess) -> None:
    """What the runner's ``finally:`` does after Ctrl-C mid-freeze: the fault started, never stopped."""
    backend = ProcessFaultBackend({"portal": answerer})
    steps = StepLog(dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    injector = FaultInjector({"process": backend}, steps, lambda line: None)
    state = AppliedFault(_pause())
    injector.inject(state)
    pid = answerer.pid
    assert pid is not None
    _until(lambda: _state(pid) == "T", "stopped")
    assert state.started is not None and state.stopped is None
    leftovers = roll_back([state], injector, ["resume_processes"], embedded=True)
    assert leftovers == {}
    assert _state(pid) != "T"
    with _ask(answerer.port, 10.0) as conn:
        assert conn.recv(2) == b"ok"
    outputs = {e.name: e.output for e in steps.events if e.kind == "drill_step"}
    assert outputs["verify rollback"] == "nothing left behind"


def test_resuming_twice_is_harmless_and_nothing_is_left(answerer: ServiceProcess) -> None:
    backend = ProcessFaultBackend({"portal": answerer})
    pid = answerer.pid
    assert pid is not None
    backend.inject(_pause())
    _until(lambda: _state(pid) == "T", "stopped")
    assert backend.clear_all() == {"portal": "resumed"}
    assert backend.clear_all() == {}  # a second rollback finds nothing to do
    _until(lambda: _state(pid) != "T", "resumed")
    assert backend.leftover() == {}
