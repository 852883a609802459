"""Process faults on the embedded mocks: SIGKILL and a restart on the same socket,
SIGSTOP and SIGCONT, the rollback of both, and what is reported left behind (real mock
processes on loopback)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

from dientap.orchestration import MockCluster, ServiceProcess
from drills.backends import ProcessFaultBackend
from drills.model import Fault
from kernel.errors import UsageError

pytestmark = pytest.mark.e2e


def _fault(target: str, action: str) -> Fault:
    return Fault.model_validate({"name": f"{target} {action}", "backend": "process", "target": target, "at_s": 1,
                                 "duration_s": 5, "process": {"action": action}})


def _state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (R, S, T stopped, Z ...); "gone" once reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return stat.rpartition(")")[2].split()[0]


def _until(predicate, what: str, timeout_s: float = 20.0) -> None:  # noqa: ANN001 - a no-argument callable
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"not {what} within {timeout_s:g} s")


def _healthy(url: str, timeout: float = 10.0) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("services", [None, {}])
def test_process_faults_need_the_embedded_mocks(services: dict | None) -> None:
    with pytest.raises(UsageError, match=r"process faults need the embedded mocks \(--target embedded\)"):
        ProcessFaultBackend(services)


def test_a_killed_service_is_restarted_on_the_same_socket(drill_cluster: MockCluster) -> None:
    backend = ProcessFaultBackend(drill_cluster.services)
    portal = drill_cluster.services["portal"]
    old_pid, restarts = portal.pid, portal.restarts
    assert old_pid is not None
    assert backend.inject(_fault("portal", "kill")) == {"signal": "SIGKILL", "pid": old_pid}
    assert _state(old_pid) == "gone"  # killed and reaped: no shutdown hook ran
    assert backend.leftover() == {"portal": 1}
    outcome = backend.remove(_fault("portal", "kill"))
    assert portal.pid not in (None, old_pid)
    assert outcome == f"restarted (pid {portal.pid}, restarts {restarts + 1})"
    assert _healthy(drill_cluster.urls["portal"])  # the same URL: the supervisor kept the socket
    assert backend.leftover() == {}


def test_a_paused_service_is_frozen_until_it_is_resumed(drill_cluster: MockCluster) -> None:
    backend = ProcessFaultBackend(drill_cluster.services)
    axis = drill_cluster.services["axis"]
    pid = axis.pid
    assert pid is not None
    assert backend.inject(_fault("axis", "pause")) == {"signal": "SIGSTOP", "pid": pid}
    try:
        _until(lambda: _state(pid) == "T", "stopped")
        assert not _healthy(drill_cluster.urls["axis"], timeout=0.5)  # accepted by the kernel, never answered
        assert backend.leftover() == {"axis": 1}
    finally:
        assert backend.remove(_fault("axis", "pause")) == "resumed (SIGCONT)"
    _until(lambda: _state(pid) != "T", "resumed")
    assert axis.pid == pid and _healthy(drill_cluster.urls["axis"])
    assert backend.leftover() == {}


def test_rollback_resumes_the_paused_and_restarts_the_killed(drill_cluster: MockCluster) -> None:
    backend = ProcessFaultBackend(drill_cluster.services)
    population_pid = drill_cluster.services["population"].pid
    assert population_pid is not None
    backend.inject(_fault("population", "pause"))
    backend.inject(_fault("portal", "kill"))
    _until(lambda: _state(population_pid) == "T", "stopped")
    assert backend.leftover() == {"population": 1, "portal": 1}
    assert backend.clear_all() == {"population": "resumed", "portal": "restarted"}
    assert backend.leftover() == {}
    for service in ("population", "portal"):
        assert _healthy(drill_cluster.urls[service]), service
    assert backend.clear_all() == {}  # nothing more to do


def _doomed(tmp_path: Path) -> ServiceProcess:
    """A service whose every start exits at once with code 3 (a mock that cannot come back)."""
    proc = ServiceProcess("axis", [sys.executable, "-c", "import time, sys; time.sleep(30); sys.exit(3)"],
                          log_path=tmp_path / "doomed.log")
    proc.start()
    proc.argv = [sys.executable, "-c", "import sys; sys.exit(3)"]  # from now on, restarts fail
    return proc


def test_a_restart_that_fails_is_reported_and_the_other_rollbacks_still_run(
    drill_cluster: MockCluster, tmp_path: Path
) -> None:
    doomed = _doomed(tmp_path)
    services = {"axis": doomed, "portal": drill_cluster.services["portal"]}
    try:
        backend = ProcessFaultBackend(services)
        backend.inject(_fault("axis", "kill"))
        backend.inject(_fault("portal", "pause"))
        done = backend.clear_all()
        assert done["portal"] == "resumed"
        assert done["axis"] == "restart failed: axis exited with code 3 while starting; see " + str(tmp_path / "doomed.log")
        assert _healthy(drill_cluster.urls["portal"])
    finally:
        doomed.close()


def test_a_service_that_could_not_be_restarted_is_left_behind(tmp_path: Path) -> None:
    doomed = _doomed(tmp_path)
    try:
        backend = ProcessFaultBackend({"axis": doomed})
        backend.inject(_fault("axis", "kill"))
        assert backend.clear_all()["axis"].startswith("restart failed: ")
        assert doomed.proc is not None and doomed.proc.poll() is not None  # it is down
        assert backend.leftover() == {"axis": 1}
    finally:
        doomed.close()
