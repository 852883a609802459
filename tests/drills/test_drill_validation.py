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


ONE_STEP = """\
title: Edges
method:
  - {{name: a, backend: {backend}, target: axis, at_s: {at_s}, duration_s: 2, {spec}}}
"""


def test_a_number_too_large_for_any_float_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # float(10**400) raises OverflowError: it ended `dientap validate` with a traceback and exit 70.
    text = ONE_STEP.format(backend="http", at_s="9" * 400, spec="http: {kind: outage}")
    assert _problems(tmp_path, text) == ["drill.yaml:3: method[0].at_s: expected seconds ≥ 0, got an integer of 400 digits"]


@pytest.mark.parametrize(("network", "problem"), [
    ("{toxic: latency, attributes: {latncy: 500}}",
     "method[0].network.attributes: latncy: unknown attribute of a latency toxic; give latency, jitter"),
    ("{toxic: slicer, attributes: {average_size: 0}}", "method[0].network.attributes: average_size must be >= 1"),
    ("{toxic: down, attributes: {latency: 5}}",
     "method[0].network.attributes: a 'down' proxy takes no attributes (it refuses connections)"),
    ("{toxic: timeout, attributes: {timeout: -1}}",
     "method[0].network.attributes.timeout: Input should be greater than or equal to 0, got -1"),
    (f"{{toxic: latency, attributes: {{latency: {10**30}}}}}",
     f"method[0].network.attributes.latency: Input should be less than or equal to 2147483647, got {10**30}"),
], ids=["misspelt", "slicer-zero", "down-with-attributes", "negative", "huge"])
def test_network_attributes_are_judged_as_the_fault_proxy_judges_them(tmp_path: Path, network: str, problem: str) -> None:
    # Unchecked, each of these passed validation and the proxy refused it mid-drill (exit 70).
    text = ONE_STEP.format(backend="network", at_s=1, spec=f"network: {network}")
    assert _problems(tmp_path, text) == [f"drill.yaml:3: {problem}"]


def test_an_exact_lost_count_cannot_be_negative(tmp_path: Path) -> None:
    text = ("title: x\ntarget_weaknesses: {axis: [lossy_axis]}\n"
            "expectations: {expect_verdict: FAIL, exact_lost: {documents: -5}}\n")
    assert _problems(tmp_path, text) == [
        "drill.yaml:3: expectations.exact_lost: expected a count ≥ 0 or 'predicted' for each kind, got documents: -5"
    ]


def test_an_empty_weakness_list_plants_nothing(tmp_path: Path) -> None:
    assert _problems(tmp_path, "title: x\ntarget_weaknesses: {portal: []}\n") == [
        "drill.yaml:1: method: a drill needs at least one step (or a planted weakness in target_weaknesses)"
    ]


def test_a_drill_path_that_is_no_regular_file_says_why(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    expected = {
        str(tmp_path / "folder.yaml"): "is a directory; expected a YAML file",
        str(tmp_path / "loop.yaml"): "cannot read: Too many levels of symbolic links",
        str(tmp_path / "gone.yaml"): "file not found",
        "/dev/null": "not a regular file (a device or a pipe); expected a YAML file",  # never read: think /dev/zero
    }
    for given, why in expected.items():
        with pytest.raises(ConfigError) as info:
            resolve_drill(given)
        assert [str(p) for p in info.value.problems] == [f"{given}: {why}"]


def test_a_built_in_drill_is_a_file_of_the_catalogue_itself() -> None:
    with pytest.raises(UsageError, match=r"^unknown drill 'readiness/old-tier'; known drills: "):
        resolve_drill("readiness/old-tier")  # the go-live night's readiness profile, not a drill


def test_a_control_character_in_a_named_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # A NUL in `profile:` reached os.stat: ValueError, a traceback and exit 70 from `dientap validate`.
    text = ONE_STEP.format(backend="http", at_s=1, spec="http: {kind: outage}")
    text += 'profile: "my-load\\0.yaml"\nreadiness: "tier\\x07.yaml"\n'
    assert _problems(tmp_path, text) == [
        "drill.yaml:4: profile: a file or profile name holds no control character, got 'my-load\\x00.yaml'",
        "drill.yaml:5: readiness: a file or profile name holds no control character, got 'tier\\x07.yaml'",
    ]


def test_step_names_that_give_the_target_one_id_are_refused(tmp_path: Path) -> None:
    # The target keeps one rule (or toxic) per id: "portal down" replaced "portal-down", and the
    # first removal ended both.
    text = """\
title: Same ids
method:
  - {name: portal down, backend: http, target: portal, at_s: 1, duration_s: 4, http: {kind: outage}}
  - {name: portal-down, backend: http, target: portal, at_s: 2, duration_s: 4, http: {kind: error}}
  - {name: portal  down!, backend: http, target: axis, at_s: 2, duration_s: 4, http: {kind: error}}
"""
    assert _problems(tmp_path, text) == [
        "drill.yaml:4: method[1].name: gives the target the same id as method[0] 'portal down' (drill-portal-down); "
        "name the steps apart by more than spaces and punctuation",
        "drill.yaml:5: method[2].name: gives the target the same id as method[0] 'portal down' (drill-portal-down); "
        "name the steps apart by more than spaces and punctuation",
    ]


def test_steps_that_hold_one_process_or_one_proxy_down_must_not_overlap(tmp_path: Path) -> None:
    # Overlapping, the first removal restarted, resumed or brought up what the other step still
    # held down, and the journal said that step was in force until its own end.
    text = """\
title: Overlaps
method:
  - {name: freeze, backend: process, target: portal, at_s: 2, duration_s: 6, process: {action: pause}}
  - {name: crash, backend: process, target: portal, at_s: 4, duration_s: 2, process: {action: kill}}
  - {name: crash later, backend: process, target: portal, at_s: 8, duration_s: 2, process: {action: kill}}
  - {name: axis crash, backend: process, target: axis, at_s: 4, duration_s: 2, process: {action: kill}}
  - {name: cut, backend: network, target: axis, at_s: 1, duration_s: 5, network: {toxic: down}}
  - {name: cut again, backend: network, target: axis, at_s: 5, duration_s: 5, network: {toxic: down}}
  - {name: slow, backend: network, target: axis, at_s: 5, duration_s: 5, network: {toxic: latency}}
"""
    assert _problems(tmp_path, text) == [
        "drill.yaml:4: method[1].at_s: 4–6 s overlaps method[0] 'freeze' (2–8 s) on the portal process; "
        "start it at 8 s or later",
        "drill.yaml:8: method[5].at_s: 5–10 s overlaps method[4] 'cut' (1–6 s) on the axis proxy (down); "
        "start it at 6 s or later",
    ]
