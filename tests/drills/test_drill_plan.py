"""The runner's schedule, fault ids and exit codes (no processes)."""

from __future__ import annotations

from drills.backends import fault_id
from drills.fault_timeline import planned_steps
from drills.model import Drill
from drills.verdict import verdict_exit_code
from kernel.errors import ExitCode


def _drill() -> Drill:
    return Drill.model_validate({
        "title": "t",
        "method": [
            {"name": "second", "backend": "http", "target": "axis", "at_s": 10, "duration_s": 5, "http": {"kind": "outage"}},
            {"name": "first fault!", "backend": "network", "target": "axis", "at_s": 2, "duration_s": 8,
             "network": {"toxic": "down"}},
        ],
    })


def test_steps_run_in_time_order_and_a_removal_comes_before_an_injection_at_the_same_second() -> None:
    steps = [(offset, what, fault.name) for offset, what, fault in planned_steps(_drill())]
    assert steps == [(2, "inject", "first fault!"), (10, "remove", "first fault!"), (10, "inject", "second"),
                     (15, "remove", "second")]


def test_fault_ids_are_safe_for_the_admin_api_and_toxiproxy() -> None:
    drill = _drill()
    assert fault_id(drill.method[1]) == "drill-first-fault"
    assert drill.faulted_services == ["axis"] and drill.network_services() == ["axis"]
    assert drill.fault_end_s() == 15


def test_exit_codes_follow_the_verdict() -> None:
    assert verdict_exit_code("PASS") == ExitCode.OK
    assert verdict_exit_code("FAIL") == ExitCode.BUDGET_BREACHED == 1
    assert verdict_exit_code("ERROR") == ExitCode.INTERNAL_ERROR
