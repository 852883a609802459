"""The drill file model: what each step, probe and expectation means, and the errors a
drill file gets (each naming file:line: field)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drills.catalog import load_drill
from drills.fault_model import MAX_DRILL_SECONDS, MAX_TRAFFIC_REQUESTS
from drills.model import Drill, Fault, Probe
from kernel.errors import ConfigError


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_drill(path)
    return [str(p).replace(str(path), "drill.yaml") for p in info.value.problems]


def _load(tmp_path: Path, text: str) -> Drill:
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    return load_drill(path)


def _fault(**fields: object) -> Fault:
    return Fault.model_validate({"name": "f", "target": "axis", "at_s": 1, "duration_s": 2, **fields})


@pytest.mark.parametrize(("fields", "line"), [
    ({"kind": "p95_ms", "max": 800}, "portal p95 ≤ 800 ms"),
    ({"kind": "p95_ms", "route": "/dossiers", "method": "POST", "max": 1000}, "portal POST /dossiers p95 ≤ 1000 ms"),
    ({"kind": "error_ratio", "service": "axis", "route": "/documents", "max": 0.05}, "axis /documents error ratio ≤ 0.05"),
    ({"kind": "healthy", "service": "population"}, "population healthy"),
])
def test_a_probe_describes_itself_in_one_journal_line(fields: dict[str, object], line: str) -> None:
    assert Probe.model_validate({"name": "p", **fields}).describe() == line


def test_each_backend_names_its_kind_and_only_faults_change_the_target() -> None:
    http = _fault(backend="http", http={"kind": "outage"})
    network = _fault(backend="network", target="population", network={"toxic": "reset_peer", "client": "portal"})
    process = _fault(backend="process", process={"action": "pause"})
    traffic = _fault(backend="traffic", target="portal", at_s=0, duration_s=30, traffic={"action": "officer_login_storm"})
    assert [f.kind for f in (http, network, process, traffic)] == ["outage", "reset_peer", "pause", "officer_login_storm"]
    assert [f.is_fault for f in (http, network, process, traffic)] == [True, True, True, False]
    assert (http.proxy_key, network.proxy_key) == ("axis", "portal->population")
    assert http.end_s == 3.0 and traffic.end_s == 30.0


def test_drill_side_traffic_is_neither_a_fault_nor_a_faulted_service() -> None:
    drill = Drill.model_validate({"title": "t", "method": [
        {"name": "burst", "backend": "traffic", "target": "axis", "at_s": 0, "duration_s": 40,
         "traffic": {"action": "document_burst"}},
        {"name": "slow", "backend": "network", "target": "portal", "at_s": 2, "duration_s": 5,
         "network": {"toxic": "latency", "attributes": {"latency": 100}}},
        {"name": "link", "backend": "network", "target": "population", "at_s": 3, "duration_s": 9,
         "network": {"toxic": "timeout", "client": "portal"}},
    ]})
    assert [f.name for f in drill.faults] == ["slow", "link"]
    assert drill.faulted_services == ["population", "portal"]
    assert drill.fault_end_s() == 12.0  # the 40 s of traffic do not count
    assert drill.needs("traffic") and drill.needs("network") and not drill.needs("http")
    assert drill.network_services() == ["portal"] and drill.portal_links()
    assert drill.rollbacks == ["clear_http_faults", "reset_proxy", "resume_processes"]  # all by default


def test_a_drill_with_only_traffic_has_no_fault_end() -> None:
    drill = Drill.model_validate({"title": "t", "method": [
        {"name": "storm", "backend": "traffic", "target": "portal", "at_s": 1, "duration_s": 4,
         "traffic": {"action": "officer_login_storm"}}]})
    assert drill.faults == [] and drill.faulted_services == [] and drill.fault_end_s() == 0.0


def test_a_planted_weakness_alone_is_a_drill(tmp_path: Path) -> None:
    drill = _load(tmp_path, """\
title: Lossy
target_weaknesses: {axis: [lossy_axis]}
expectations: {expect_verdict: FAIL, exact_lost: {documents: predicted, receipts: 3}}
""")
    assert drill.method == [] and drill.target_weaknesses == {"axis": ["lossy_axis"]}
    assert drill.expectations.exact_lost == {"documents": "predicted", "receipts": 3}


def test_traffic_bounds_and_statuses_are_checked_where_they_are_written(tmp_path: Path) -> None:
    problems = _problems(tmp_path, f"""\
title: Bounds
method:
  - name: storm
    backend: traffic
    target: portal
    at_s: 1
    duration_s: 5
    traffic:
      action: submission_probe
      count: {MAX_TRAFFIC_REQUESTS + 1}
      expect_status: [201, 600]
      min_success_ratio: 1.5
""")
    assert problems[0].startswith(f"drill.yaml:10: method[0].traffic.count: Input should be less than or equal to "
                                  f"{MAX_TRAFFIC_REQUESTS}")
    assert "drill.yaml:11: method[0].traffic.expect_status: HTTP statuses are 100..599, got 600" in problems
    assert any(p.startswith("drill.yaml:12: method[0].traffic.min_success_ratio: ") for p in problems)
    assert len(problems) == 3


def test_seconds_are_numbers_within_the_drill_bound(tmp_path: Path) -> None:
    problems = _problems(tmp_path, f"""\
title: Seconds
method:
  - {{name: a, backend: http, target: portal, at_s: true, duration_s: 2, http: {{kind: outage}}}}
  - {{name: b, backend: http, target: portal, at_s: 1, duration_s: {MAX_DRILL_SECONDS + 1}, http: {{kind: outage}}}}
  - {{name: c, backend: http, target: portal, at_s: 1, duration_s: 0, http: {{kind: outage}}}}
""")
    assert problems == [
        "drill.yaml:3: method[0].at_s: expected seconds ≥ 0, got True",
        f"drill.yaml:4: method[1].duration_s: expected seconds > 0 and ≤ {MAX_DRILL_SECONDS}, got {MAX_DRILL_SECONDS + 1}",
        f"drill.yaml:5: method[2].duration_s: expected seconds > 0 and ≤ {MAX_DRILL_SECONDS}, got 0",
    ]


def test_an_unknown_backend_is_one_error_not_a_cascade(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
title: Typo
method:
  - name: a
    backend: htp
    target: portal
    at_s: 1
    duration_s: 2
    http: {kind: outage}
""")
    assert len(problems) == 1
    assert problems[0].startswith("drill.yaml:4: method[0].backend: Input should be 'http', 'network', 'process' or")
    assert problems[0].endswith("got 'htp'")


def test_http_fault_shapes_are_the_fault_apis_own(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
title: Shapes
method:
  - name: a
    backend: http
    target: portal
    at_s: 1
    duration_s: 2
    http:
      kind: latency
      latency: {distribution: uniform, min_ms: 500, max_ms: 100}
      province: "1"
      status: 302
""")
    assert "drill.yaml:10: method[0].http.latency: latency.max_ms must be ≥ latency.min_ms for a uniform distribution" \
        in problems
    assert any(p.startswith("drill.yaml:11: method[0].http.province: String should match pattern") for p in problems)
    assert any(p.startswith("drill.yaml:12: method[0].http.status: Input should be greater than or equal to 400")
               for p in problems)
    assert len(problems) == 3


def test_rollbacks_probes_and_expectations_are_checked_too(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
title: Rest
steady_state_hypothesis:
  probes:
    - {name: slow window, kind: healthy, window_s: 301}
method:
  - {name: a, backend: process, target: portal, at_s: 1, duration_s: 2, process: {action: stop}}
rollbacks: [clear_http_faults, restart_everything]
expectations: {recovery_services: [], error_budget_during_fault: 2}
""")
    assert any(p.startswith("drill.yaml:4: steady_state_hypothesis.probes[0].window_s: ") for p in problems)
    assert "drill.yaml:6: method[0].process.action: Input should be 'kill' or 'pause', got 'stop'" in problems
    assert any(p.startswith("drill.yaml:7: rollbacks[1]: Input should be 'clear_http_faults', 'reset_proxy' or "
                            "'resume_processes'") for p in problems)
    assert any(p.startswith("drill.yaml:8: expectations.recovery_services: ") for p in problems)
    assert any(p.startswith("drill.yaml:8: expectations.error_budget_during_fault: ") for p in problems)
    assert len(problems) == 5


def test_a_step_exactly_at_the_end_of_the_load_is_late_too(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
title: Edge
duration_s: 10
method:
  - {name: on time, backend: http, target: portal, at_s: 9.5, duration_s: 3, http: {kind: outage}}
  - name: at the end
    backend: http
    target: portal
    at_s: 10
    duration_s: 3
    http: {kind: outage}
""")
    assert problems == ["drill.yaml:8: method[1].at_s: starts at 10 s, after the load ends (10 s)"]


def test_a_drill_may_set_its_clients_request_timeout(tmp_path: Path) -> None:
    base = ("title: t\nmethod:\n  - {name: f, backend: process, target: portal, at_s: 1, duration_s: 6, "
            "process: {action: pause}}\n")
    assert _load(tmp_path, base).request_timeout_s is None  # the run's default (kernel.defaults.REQUEST_TIMEOUT_S)
    drill = _load(tmp_path, base + "request_timeout_s: 2\nexpectations: {min_retried_submissions: 1}\n")
    assert drill.request_timeout_s == 2 and drill.expectations.min_retried_submissions == 1
    problems = _problems(tmp_path, base + "request_timeout_s: 0\nexpectations: {min_replayed_submissions: -1}\n")
    assert problems == ["drill.yaml:4: request_timeout_s: Input should be greater than 0, got 0",
                        "drill.yaml:5: expectations.min_replayed_submissions: Input should be greater than or equal to 0, "
                        "got -1"]
