"""Rolling a drill back: every active fault removed, every backend's rollback run (the
declared ones first), and the result verified by asking each backend — against the real
embedded mocks and dientap's fault proxy on loopback."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import httpx
import pytest

from dientap.orchestration import MockCluster
from drills.backends import HttpFaultBackend, InjectedFaultBackend, NetworkFaultBackend, ProcessFaultBackend
from drills.fault_timeline import AppliedFault, FaultInjector
from drills.model import Fault
from drills.rollback import roll_back
from drills.step_log import StepLog
from kernel.allowlist import Allowlist

pytestmark = pytest.mark.e2e

T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


def _fault(name: str, backend: str, target: str, spec: dict[str, object]) -> Fault:
    return Fault.model_validate({"name": name, "backend": backend, "target": target, "at_s": 1, "duration_s": 5,
                                 backend: spec})


def _steps(injector: FaultInjector) -> list[tuple[str, str | None, str | None]]:
    return [(e.name, e.status, e.output) for e in injector.steps.events if e.kind == "drill_step"]


@pytest.fixture
def backends(clean_cluster: MockCluster) -> Iterator[dict]:
    cluster = clean_cluster
    net = NetworkFaultBackend(Allowlist(), run_tag="rb")
    net.plumb("axis", cluster.urls["axis"])
    process = ProcessFaultBackend(cluster.services)
    http = HttpFaultBackend(cluster.urls, cluster.config.admin_token, Allowlist())
    yield {"http": http, "network": net, "process": process}
    process.clear_all()  # whatever the test did, no mock stays frozen
    http.close()
    net.close()


def test_every_active_fault_is_removed_and_the_rollback_verified(clean_cluster: MockCluster, backends: dict) -> None:
    injector = FaultInjector(backends, StepLog(T0), lambda line: None)
    applied = [AppliedFault(_fault("portal errors", "http", "portal", {"kind": "error", "route": "/feedback"})),
               AppliedFault(_fault("axis slow", "network", "axis", {"toxic": "latency", "attributes": {"latency": 5}})),
               AppliedFault(_fault("population frozen", "process", "population", {"action": "pause"})),
               AppliedFault(_fault("never started", "http", "axis", {"kind": "outage"}))]
    for state in applied[:3]:
        injector.inject(state)
    headers = {"Authorization": f"Bearer {clean_cluster.config.admin_token}"}
    httpx.post(f"{clean_cluster.urls['axis']}/admin/faults", headers=headers, timeout=10,
               json={"id": "left-by-someone", "kind": "error", "route": "/documents"}).raise_for_status()

    left = roll_back(applied, injector, ["reset_proxy"], embedded=True)

    assert left == {}
    assert _steps(injector)[3:] == [
        ("remove portal errors", "ok", "removed"),
        ("remove axis slow", "ok", "removed"),
        ("remove population frozen", "ok", "resumed (SIGCONT)"),
        ("rollback network", "ok", "axis: 0"),  # declared first
        ("rollback http", "ok", "population: 0, axis: 1, portal: 0"),  # every backend's rollback runs regardless
        ("rollback process", "ok", "nothing to do"),
        ("verify rollback", "ok", "nothing left behind"),
    ]
    assert applied[3].stopped is None  # a fault never injected is not "removed"
    for service, url in clean_cluster.urls.items():
        assert httpx.get(f"{url}/admin/faults", headers=headers, timeout=10).json()["faults"] == [], service
    assert httpx.get(f"{clean_cluster.urls['population']}/healthz", timeout=10).status_code == 200


def test_faults_the_drill_could_not_remove_one_by_one_are_caught_by_the_blanket_rollback(
    clean_cluster: MockCluster, backends: dict
) -> None:
    injector = FaultInjector(backends, StepLog(T0), lambda line: None)
    state = AppliedFault(_fault("axis down", "network", "axis", {"toxic": "down"}))
    injector.inject(state)
    state.stopped = T0  # as if its removal were recorded but never reached the proxy
    assert backends["network"].leftover() == {"axis": 1}
    assert roll_back([state], injector, [], embedded=True) == {}
    names = [name for name, _status, _output in _steps(injector)]
    assert names[1:] == ["rollback http", "rollback network", "rollback process", "verify rollback"]
    assert backends["network"].leftover() == {"axis": 0}


def _closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(("embedded", "left", "output"), [
    (False, {"http:portal": -1}, "LEFT BEHIND (-1: could not check): http:portal=-1"),
    (True, {}, "nothing left behind"),  # an embedded mock that stopped answering took its faults with it
])
def test_a_service_that_cannot_be_checked_is_left_behind_unless_it_is_an_embedded_mock(
    embedded: bool, left: dict[str, int], output: str
) -> None:
    http = HttpFaultBackend({"portal": _closed_url()}, "token", Allowlist(), timeout_s=2.0)
    injector = FaultInjector({"http": http}, StepLog(T0), lambda line: None)
    try:
        assert roll_back([], injector, ["clear_http_faults"], embedded=embedded) == left
    finally:
        http.close()
    rollback, verify = injector.steps.events
    assert (rollback.name, rollback.output) == ("rollback http", "portal: ConnectError")
    assert (verify.status, verify.output) == ("failed" if left else "ok", output)
    if embedded:
        assert verify.detail["http:portal"] == "unreachable: embedded mock stopping, its faults end with it"
    else:
        assert verify.detail["http:portal"] == -1


class _BrokenBackend(InjectedFaultBackend):
    """A fault backend whose removal and rollback both fail (e.g. its control API went away)."""

    def __init__(self) -> None:
        self.cleared = False

    def inject(self, fault: Fault) -> dict[str, str | int | float | bool | None]:
        return {"pid": 1}

    def remove(self, fault: Fault) -> str:
        raise OSError("control socket closed")

    def clear_all(self) -> dict[str, int | str]:
        raise OSError("control socket closed")


def test_a_failing_removal_or_rollback_is_recorded_and_the_others_still_run(backends: dict) -> None:
    backends["process"] = _BrokenBackend()
    injector = FaultInjector(backends, StepLog(T0), lambda line: None)
    frozen = AppliedFault(_fault("portal frozen", "process", "portal", {"action": "pause"}))
    slow = AppliedFault(_fault("axis slow", "network", "axis", {"toxic": "latency", "attributes": {"latency": 5}}))
    injector.inject(frozen)
    injector.inject(slow)
    assert roll_back([frozen, slow], injector, ["resume_processes", "reset_proxy"], embedded=True) == {}
    steps = {name: (status, error) for name, status, error in
             [(e.name, e.status, e.error) for e in injector.steps.events if e.kind == "drill_step"]}
    assert steps["remove portal frozen"] == ("error", "OSError: control socket closed")
    assert steps["remove axis slow"] == ("ok", None)  # the next removal still ran
    assert steps["rollback process"] == ("error", "OSError: control socket closed")
    assert steps["rollback network"][0] == "ok" and steps["rollback http"][0] == "ok"
    assert frozen.stopped is not None  # the stop is written even when the removal failed
    order = [e.name for e in injector.steps.events if e.name.startswith("rollback ")]
    assert order == ["rollback process", "rollback network", "rollback http"]
