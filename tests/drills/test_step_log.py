"""The drill's own journal entries: steps with start, end (even on failure), status, output
and error, recorded before the run's journal exists and re-based onto it at the end."""

from __future__ import annotations

import datetime as dt

import pytest

from drills.step_log import StepLog
from kernel import __version__
from kernel.provenance import build_provenance
from reports.journal import Journal, TargetInfo

T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


def test_a_step_records_start_end_status_and_output() -> None:
    steps = StepLog(T0)
    with steps.step("inject axis slow", backend="network", target="axis") as step:
        step.output = "toxic=latency"
    (event,) = steps.events
    assert (event.kind, event.name, event.status, event.output, event.error) == (
        "drill_step", "inject axis slow", "ok", "toxic=latency", None)
    assert event.detail == {"backend": "network", "target": "axis"}
    assert event.end_t is not None and event.end_t >= event.t


def test_a_failing_step_still_gets_its_end_and_the_error() -> None:
    steps = StepLog(T0)
    with pytest.raises(RuntimeError, match="portal refused"), steps.step("inject portal errors"):
        raise RuntimeError("portal refused the fault")
    (event,) = steps.events
    assert event.status == "error" and event.error == "RuntimeError: portal refused the fault"
    assert event.end_t is not None


def test_ctrl_c_in_a_step_is_recorded_as_interrupted_and_a_failed_status_is_kept() -> None:
    steps = StepLog(T0)
    with pytest.raises(KeyboardInterrupt), steps.step("remove axis slow"):
        raise KeyboardInterrupt
    with steps.step("verify rollback") as step:
        step.status = "failed"
    assert [(e.name, e.status) for e in steps.events] == [("remove axis slow", "interrupted"), ("verify rollback", "failed")]


def test_events_are_rebased_onto_the_run_journal_in_time_order() -> None:
    steps = StepLog(T0 - dt.timedelta(seconds=30))  # the drill started before the load did
    steps.event("fault_start", "axis slow", t=T0 + dt.timedelta(seconds=5), status="ok", backend="network")
    steps.event("note", "proxy ready", t=T0 - dt.timedelta(seconds=2))
    steps.event("fault_stop", "axis slow", t=T0 + dt.timedelta(seconds=12.5), status="ok")
    journal = Journal(provenance=build_provenance(run_id="r", profile="smoke", seed=1, target_kind="embedded", started_at=T0))
    journal.add_event("phase", "load", t=T0 + dt.timedelta(seconds=1))
    steps.into(journal)
    assert [(e.name, e.offset_s) for e in journal.events] == [
        ("proxy ready", -2.0), ("load", 1.0), ("axis slow", 5.0), ("axis slow", 12.5)]
    assert journal.events[2].detail == {"backend": "network"}
    assert steps.events[0].offset_s == 35.0  # the scratch copy keeps its own offsets


def test_the_provenance_of_a_journal_the_drill_writes_itself() -> None:
    provenance = build_provenance(run_id="run-1", profile="golive", seed=7, scale=0.5, target_kind="file",
                                  target_name="staging", started_at=T0)
    assert (provenance.dientap_version, provenance.run_id, provenance.profile, provenance.seed, provenance.scale) == (
        __version__, "run-1", "golive", 7, 0.5)
    assert provenance.target == TargetInfo(kind="file", name="staging")
    assert provenance.started_at == T0 and provenance.command_line == []
    with_argv = build_provenance(run_id="run-1", profile="golive", seed=7, target_kind="file", started_at=T0,
                                 command_line=["dientap", "drill", "sso-outage"])
    assert with_argv.command_line == ["dientap", "drill", "sso-outage"]
