"""HTTP faults through the real mocks' ``/admin/faults``: injected, seen by clients and by
the steady-state probes, removed, rolled back and counted (embedded cluster on loopback)."""

from __future__ import annotations

import time

import httpx
import pytest

from dientap.orchestration import MockCluster
from drills.backends import HttpFaultBackend, fault_id
from drills.model import Fault, Probe
from drills.probes import ProbeSampler
from kernel.allowlist import Allowlist
from kernel.errors import TargetNotAllowed, UsageError

pytestmark = pytest.mark.e2e


def _fault(name: str, target: str = "portal", **http: object) -> Fault:
    return Fault.model_validate({"name": name, "backend": "http", "target": target, "at_s": 1, "duration_s": 5,
                                 "http": http})


def _active(cluster: MockCluster, service: str) -> list[dict]:
    headers = {"Authorization": f"Bearer {cluster.config.admin_token}"}
    return httpx.get(f"{cluster.urls[service]}/admin/faults", headers=headers, timeout=10).json()["faults"]


@pytest.fixture
def backend(clean_cluster: MockCluster):  # noqa: ANN201 - an HttpFaultBackend, closed afterwards
    http = HttpFaultBackend(clean_cluster.urls, clean_cluster.config.admin_token, Allowlist())
    yield http
    http.close()


def test_a_province_scoped_error_fails_that_province_only_until_removed(
    clean_cluster: MockCluster, backend: HttpFaultBackend
) -> None:
    portal = clean_cluster.urls["portal"]
    fault = _fault("Hà Nội errors", kind="error", route="/procedures", province="01", status=500)
    detail = backend.inject(fault)
    assert detail == {"id": "drill-H-N-i-errors-5c36144b", "kind": "error", "route": "/procedures", "rate": 1.0,
                      "province": "01", "status": 500}
    (rule,) = _active(clean_cluster, "portal")
    assert (rule["id"], rule["kind"], rule["province"], rule["status"]) == ("drill-H-N-i-errors-5c36144b", "error", "01", 500)
    hanoi = httpx.get(f"{portal}/procedures", params={"province": "01"}, timeout=10)
    assert hanoi.status_code == 500 and hanoi.json()["error"]["code"] == "injected_fault"
    assert httpx.get(f"{portal}/procedures", params={"province": "04"}, timeout=10).status_code == 200
    assert backend.remove(fault) == "removed"
    assert httpx.get(f"{portal}/procedures", params={"province": "01"}, timeout=10).status_code == 200
    assert backend.remove(fault) == "already gone"  # e.g. the service restarted and forgot it


def test_a_latency_fault_is_described_by_its_distribution_and_slows_the_route(
    clean_cluster: MockCluster, backend: HttpFaultBackend
) -> None:
    fixed = _fault("slow catalogue", kind="latency", route="/procedures", latency={"ms": 300})
    assert backend.inject(fixed)["latency"] == "fixed 300 ms"
    started = time.perf_counter()
    assert httpx.get(f"{clean_cluster.urls['portal']}/procedures", params={"province": "01"}, timeout=10).status_code == 200
    assert time.perf_counter() - started >= 0.29  # a lower bound: a busy machine only adds to it
    spiky = _fault("axis spike", target="axis", kind="latency",
                   latency={"distribution": "lognormal", "median_ms": 400, "sigma": 1.0})
    assert backend.inject(spiky)["latency"] == "lognormal 400 ms"
    (rule,) = _active(clean_cluster, "axis")
    assert rule["latency"]["distribution"] == "lognormal" and rule["latency"]["median_ms"] == 400


def test_rollback_clears_every_service_whoever_set_the_fault(clean_cluster: MockCluster, backend: HttpFaultBackend) -> None:
    backend.inject(_fault("portal outage", kind="outage"))
    backend.inject(_fault("axis resets", target="axis", kind="reset", rate=0.5))
    headers = {"Authorization": f"Bearer {clean_cluster.config.admin_token}"}
    httpx.post(f"{clean_cluster.urls['axis']}/admin/faults", headers=headers, timeout=10,
               json={"id": "set-by-hand", "kind": "error", "route": "/documents"}).raise_for_status()
    assert backend.active() == {"population": 0, "axis": 2, "portal": 1}
    assert backend.clear_all() == {"population": 0, "axis": 2, "portal": 1}
    assert backend.active() == {"population": 0, "axis": 0, "portal": 0}
    assert _active(clean_cluster, "axis") == []


def test_without_an_admin_token_faults_are_refused_and_nothing_is_asked(clean_cluster: MockCluster) -> None:
    backend = HttpFaultBackend(clean_cluster.urls, None, Allowlist())
    try:
        with pytest.raises(UsageError, match=r"HTTP faults need the target's admin token \(targets file: "
                                             r"credentials.admin_token_env\)"):
            backend.inject(_fault("outage", kind="outage"))
        with pytest.raises(UsageError):
            backend.remove(_fault("outage", kind="outage"))
        assert backend.clear_all() == {} and backend.active() == {}
    finally:
        backend.close()


def test_a_wrong_admin_token_is_a_refusal_that_names_the_service_and_fault(clean_cluster: MockCluster) -> None:
    backend = HttpFaultBackend(clean_cluster.urls, "not-the-token", Allowlist())
    try:
        with pytest.raises(RuntimeError, match=r"^axis refused the fault drill-axis-down: HTTP 401 "):
            backend.inject(_fault("axis down", target="axis", kind="outage"))
        assert backend.active() == {"population": -1, "axis": -1, "portal": -1}  # unreadable, not "none"
        assert _active(clean_cluster, "axis") == []
    finally:
        backend.close()


def test_an_unreachable_service_is_reported_by_the_rollback_and_not_asked_again(clean_cluster: MockCluster) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    urls = {"portal": clean_cluster.urls["portal"], "ghost": closed}
    backend = HttpFaultBackend(urls, clean_cluster.config.admin_token, Allowlist(), timeout_s=2.0)
    try:
        backend.inject(_fault("outage", kind="outage", route="/feedback"))
        assert backend.clear_all() == {"portal": 1, "ghost": "ConnectError"}
        assert backend.unreachable == {"ghost"}
        assert backend.active() == {"portal": 0, "ghost": -1}
    finally:
        backend.close()


def test_only_allowlisted_hosts_are_faulted() -> None:
    urls = {"portal": "http://127.0.0.1:9", "axis": "https://axis.staging.example:8443"}
    with pytest.raises(TargetNotAllowed, match="axis host 'axis.staging.example' is not on the allowlist"):
        HttpFaultBackend(urls, "token", Allowlist())
    HttpFaultBackend(urls, "token", Allowlist(["axis.staging.example"])).close()  # named: allowed, nothing sent


def test_the_error_ratio_probe_sees_injected_errors_in_the_real_metrics(
    clean_cluster: MockCluster, backend: HttpFaultBackend
) -> None:
    now = [1000.0]
    probes = [Probe(name="catalogue errors", kind="error_ratio", route="/procedures", max=0.1),
              Probe(name="feedback fast", kind="p95_ms", route="/feedback", method="POST", max=500),
              Probe(name="portal up", kind="healthy")]
    sampler = ProbeSampler(clean_cluster.urls, probes, clock=lambda: now[0])
    try:
        sampler.sample_once()
        backend.inject(_fault("catalogue down", kind="error", route="/procedures", province="79", status=503))
        portal = clean_cluster.urls["portal"]
        statuses = [httpx.get(f"{portal}/procedures", params={"province": p}, timeout=10).status_code
                    for p in ["79"] * 6 + ["01"] * 4]
        assert statuses == [503] * 6 + [200] * 4
        now[0] += 5.0
        errors, feedback, health = sampler.sample_once()
        assert (errors.ok, errors.measured) == (False, "0.600 of 10")
        assert (feedback.ok, feedback.measured) == (True, "no requests")
        assert (health.ok, health.measured) == (True, "healthy")
        assert len(sampler.snapshot_readings()) == 6
    finally:
        sampler.stop()


def test_fault_ids_are_slugs_the_admin_api_accepts() -> None:
    assert fault_id(_fault("axis: slow (p95 > 2s)!", kind="outage")) == "drill-axis:-slow-p95-2s"
    assert fault_id(_fault("!!!", kind="outage")) == "drill-fault"
    assert len(fault_id(_fault("x" * 120, kind="outage"))) == 63  # cut, so the full name's hash is appended
    assert fault_id(_fault("x" * 120, kind="outage")) != fault_id(_fault("x" * 119 + "y", kind="outage"))


def test_two_faults_with_distinct_names_are_two_rules_on_the_target(
    clean_cluster: MockCluster, backend: HttpFaultBackend
) -> None:
    first = _fault("lỗi cổng", kind="error", route="/feedback", status=500)  # "portal error"
    second = _fault("lối cổng", kind="outage", route="/procedures")  # a different name, one accent apart
    backend.inject(first)
    backend.inject(second)
    assert len(_active(clean_cluster, "portal")) == 2
