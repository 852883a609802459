"""Drill files: every problem reported at once, each as file:line: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from drills.catalog import CATALOG_DIR, list_drills, load_drill, resolve_drill
from kernel.errors import ConfigError, UsageError

BROKEN = """\
title: Broken drill
titel: typo
profile: smoke
steady_state_hypothesis:
  probes:
    - {name: p, kind: p95_ms, service: portal}
    - {name: q, kind: error_ratio, service: portl, max: 2}
method:
  - name: one
    backend: http
    target: axis
    at_s: 5
    duration_s: 5x
    network: {toxic: latency}
  - name: two
    backend: network
    target: axis
    at_s: -1
    duration_s: 4
    network: {toxic: latncy, atributes: {}}
  - name: three
    backend: process
    target: portal
    at_s: 2
    duration_s: 3
    process: {action: kill}
    http: {kind: error, rat: 0.5}
expectations:
  exact_lost: {documents: predicted}
  max_lost: -1
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_drill(path)
    return [str(p).replace(str(path), "drill.yaml") for p in info.value.problems]


def test_every_problem_is_reported_at_once_with_file_line_and_field(tmp_path: Path) -> None:
    problems = _problems(tmp_path, BROKEN)
    expected = [
        "drill.yaml:2: titel: unknown key",
        "drill.yaml:6: steady_state_hypothesis.probes[0].max: required for a p95_ms probe",
        "drill.yaml:7: steady_state_hypothesis.probes[1].service: Input should be 'portal', 'population' or 'axis', got 'portl'",
        "drill.yaml:7: steady_state_hypothesis.probes[1].max: an error ratio is between 0 and 1, got 2.0",
        "drill.yaml:13: method[0].duration_s: expected seconds > 0, got '5x'",
        "drill.yaml:9: method[0].http: required when backend is 'http'",
        "drill.yaml:14: method[0].network: only allowed when backend is 'network' (this fault's backend is 'http')",
        "drill.yaml:18: method[1].at_s: expected seconds ≥ 0, got -1",
        "drill.yaml:20: method[1].network.atributes: unknown key",
        "drill.yaml:27: method[2].http.rat: unknown key",
        "drill.yaml:30: expectations.max_lost: Input should be greater than or equal to 0, got -1",
        "drill.yaml:29: expectations.exact_lost: only meaningful with expect_verdict: FAIL (a planted-defect drill)",
    ]
    for line in expected:
        assert line in problems
    assert any(p.startswith("drill.yaml:20: method[1].network.toxic: Input should be 'latency'") for p in problems)
    assert len(problems) == len(expected) + 1


def test_a_step_after_the_end_of_the_load_is_an_error(tmp_path: Path) -> None:
    text = """\
title: Late
duration_s: 10
method:
  - name: late fault
    backend: http
    target: portal
    at_s: 12
    duration_s: 3
    http: {kind: outage}
"""
    assert _problems(tmp_path, text) == ["drill.yaml:7: method[0].at_s: starts at 12 s, after the load ends (10 s)"]


def test_duplicate_fault_names_and_an_empty_method_are_errors(tmp_path: Path) -> None:
    same = """\
title: Twice
method:
  - {name: a, backend: http, target: portal, at_s: 1, duration_s: 1, http: {kind: outage}}
  - {name: a, backend: http, target: axis, at_s: 2, duration_s: 1, http: {kind: outage}}
"""
    assert _problems(tmp_path, same) == ["drill.yaml:1: method: fault names must be unique; 'a' appears twice"]
    empty = "title: Nothing\n"
    assert _problems(tmp_path, empty) == [
        "drill.yaml:1: method: a drill needs at least one step (or a planted weakness in target_weaknesses)"
    ]


def test_latency_fault_needs_its_distribution(tmp_path: Path) -> None:
    text = """\
title: Slow
method:
  - {name: slow, backend: http, target: axis, at_s: 1, duration_s: 2, http: {kind: latency}}
"""
    assert _problems(tmp_path, text) == ["drill.yaml:3: method[0].http.latency: required when kind is 'latency'"]


def test_every_built_in_drill_is_valid_and_listed() -> None:
    names = [entry.name for entry in list_drills()]
    for required in ("population-outage", "axis-latency-spike", "axis-partition", "portal-crash-restart", "sso-outage",
                     "status-sync-backlog", "golive-thundering-herd", "stale-addresses", "certificate-expiry",
                     "lossy-axis"):
        assert required in names
    for path in sorted(CATALOG_DIR.glob("*.yaml")):
        drill = load_drill(path)
        assert drill.title and not drill.title.startswith("INVALID")


def test_unknown_drill_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        resolve_drill("axis-partishun")
    message = str(info.value)
    assert message.startswith("unknown drill 'axis-partishun'; known drills: ")
    assert "axis-partition" in message and message.endswith("; run `dientap drill --list`")


def test_lossy_axis_expects_fail_with_predicted_losses() -> None:
    _name, _path, drill = resolve_drill("lossy-axis")
    assert drill.expectations.expect_verdict == "FAIL"
    assert drill.expectations.exact_lost == {"documents": "predicted"}
    assert drill.target_weaknesses == {"axis": ["lossy_axis"]}


LINK = """\
title: Link
method:
  - name: cut
    backend: network
    target: {target}
    at_s: 1
    duration_s: 2
    network: {{client: portal, toxic: timeout}}
"""


def test_a_portal_link_fault_must_target_the_population_service(tmp_path: Path) -> None:
    assert _problems(tmp_path, LINK.format(target="axis")) == [
        "drill.yaml:3: method[0]: network.client 'portal' needs target 'population' (the only service the portal "
        "calls), got 'axis'"
    ]
    path = tmp_path / "ok.yaml"
    path.write_text(LINK.format(target="population"), encoding="utf-8")
    drill = load_drill(path)
    assert [f.proxy_key for f in drill.method] == ["portal->population"]
    assert drill.portal_links() and drill.network_services() == []  # nothing in front of the load


def test_a_portal_link_fault_needs_the_embedded_mocks(tmp_path: Path) -> None:
    from dientap.orchestration.dryrun import DryRun, DryRunOptions
    from drills.runner import DrillRunner

    name, _path, drill = resolve_drill("identity-link-partition")
    targets = tmp_path / "targets.yaml"
    with pytest.raises(UsageError, match="a real portal's population URL is not dientap's to change"):
        DrillRunner(name, drill, DryRun(DryRunOptions(target=str(targets), out=tmp_path)))
