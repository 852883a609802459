"""A drill's verdict from what happened: hypothesis phases, recovery, error budget,
reconciliation, rollback, interruption and planted defects (a journal in a run directory,
no processes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from drills.fault_timeline import AppliedFault
from drills.model import Drill
from drills.probes import ProbeReading
from drills.verdict import DrillFacts, judge_drill
from kernel.provenance import build_provenance
from reports.drill_result import ReconciliationRow
from reports.journal import Journal, LatencySample, LatencySeries, Timeseries
from reports.run_files import write_journal

T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
CLEAN = ReconciliationRow(item_kind="dossiers", ok=40, lost=0, duplicated=0, unexpected=0, recovered=0)


def _drill(expectations: dict[str, object] | None = None, probes: list[dict[str, object]] | None = None) -> Drill:
    return Drill.model_validate({
        "title": "Portal outage",
        "steady_state_hypothesis": {"probes": probes or []},
        "method": [
            {"name": "portal outage", "backend": "http", "target": "portal", "at_s": 2, "duration_s": 3,
             "http": {"kind": "outage", "route": "/dossiers"}},
            {"name": "storm", "backend": "traffic", "target": "portal", "at_s": 6, "duration_s": 2,
             "traffic": {"action": "officer_login_storm"}},
        ],
        "expectations": expectations or {},
    })


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _applied(drill: Drill, *, storm_ok: bool = True) -> list[AppliedFault]:
    from drills.backends import TrafficOutcome

    outage, storm = drill.method
    traffic = TrafficOutcome("officer_login_storm", sent=10, as_expected=10 if storm_ok else 4)
    if not storm_ok:
        traffic.unexpected["429 throttled"] = 6
    return [AppliedFault(outage, _at(2), _at(5), detail={"id": "drill-portal-outage", "kind": "outage"}),
            AppliedFault(storm, _at(6), _at(8), traffic=traffic)]


def _run_dir(tmp_path: Path, per_second: list[tuple[int, int, float]] | None = None, service: str = "portal") -> Path:
    """A run directory whose journal saw ``(count, failures, p95)`` each second from offset 0."""
    samples = [LatencySample(offset_s=i, count=c, failures=f, p95_ms=p) for i, (c, f, p) in enumerate(per_second or [])]
    journal = Journal(provenance=build_provenance(run_id="r", profile="smoke", seed=1, target_kind="embedded", started_at=T0),
                      timeseries=Timeseries(series=[LatencySeries(service=service, endpoint="POST /dossiers",
                                                                  samples=samples)]))
    write_journal(tmp_path, journal)
    return tmp_path


def _facts(applied: list[AppliedFault], **overrides: object) -> DrillFacts:
    fields: dict[str, object] = {"applied": applied, "readings": [], "rows": [CLEAN], "notes": [], "leftovers": {},
                                 "unverified": 0, "interrupted": False, "error": None}
    fields.update(overrides)
    return DrillFacts(**fields)


GOOD = [(10, 0, 50.0)] * 12


def test_everything_held_is_a_pass_with_the_faults_on_the_journal_timeline(tmp_path: Path) -> None:
    drill = _drill({"recovery_time_s": 5})
    result = judge_drill("portal-outage", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill)))
    assert result.verdict == "PASS" and result.expectations == [] and result.error is None
    outage, storm = result.faults
    assert (outage.start_offset_s, outage.end_offset_s, outage.kind) == (2.0, 5.0, "outage")
    assert outage.detail == {"id": "drill-portal-outage", "kind": "outage", "backend": "http"}
    assert storm.detail == {"backend": "traffic", "sent": 10, "as_expected": 10}
    assert result.recovery_time_s == 0.0  # good from the first second after the outage
    assert result.reconciliation == [CLEAN]


def test_a_fault_that_never_started_is_not_on_the_timeline(tmp_path: Path) -> None:
    drill = _drill()
    applied = _applied(drill)
    applied[1] = AppliedFault(drill.method[1])
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(applied))
    assert [f.name for f in result.faults] == ["portal outage"]


def test_hypothesis_is_checked_before_during_and_after_with_the_worst_reading_during(tmp_path: Path) -> None:
    drill = _drill(probes=[{"name": "up", "kind": "healthy", "during": True},
                           {"name": "fast", "kind": "p95_ms", "max": 500}])
    t = T0.timestamp()
    readings = [ProbeReading(t + 0.5, 0, True, "healthy"), ProbeReading(t + 1.5, 0, True, "healthy"),
                ProbeReading(t + 3, 0, True, "healthy"), ProbeReading(t + 4, 0, False, "unhealthy"),
                ProbeReading(t + 6.5, 0, True, "healthy"), ProbeReading(t + 9, 0, True, "healthy"),
                ProbeReading(t + 1, 1, True, "120 ms"), ProbeReading(t + 3, 1, False, "900 ms"),
                ProbeReading(t + 9, 1, True, "150 ms")]
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill), readings=readings))
    checks = [(c.phase, c.probe, c.ok, c.measured, c.offset_s) for c in result.hypothesis]
    assert checks == [
        ("before", "portal healthy", True, "healthy", 1.5),  # the last reading before the first fault
        ("during", "portal healthy", False, "unhealthy (held 2/3 s)", 4.0),  # the storm's window counts too
        ("after", "portal healthy", True, "healthy", 9.0),
        ("before", "portal p95 ≤ 500 ms", True, "120 ms", 1.0),  # not a `during` probe: 900 ms is not judged
        ("after", "portal p95 ≤ 500 ms", True, "150 ms", 9.0),
    ]
    assert result.verdict == "FAIL"
    assert result.expectations == ["hypothesis during: portal healthy — measured unhealthy (held 2/3 s)"]


def test_a_scrape_answered_after_the_first_fault_began_is_no_reading_before_it(tmp_path: Path) -> None:
    """portal-crash-restart failed its hypothesis "before" on a busy machine: the scrape began
    0.2 s before the SIGKILL, was cut off by it, and counted as the portal unhealthy before."""
    drill = _drill(probes=[{"name": "up", "kind": "healthy"}])
    t = T0.timestamp()
    readings = [ProbeReading(t + 1, 0, True, "healthy", until=t + 1.1),
                ProbeReading(t + 1.8, 0, False, "unhealthy", until=t + 2.3),  # the fault began at +2
                ProbeReading(t + 9, 0, True, "healthy", until=t + 9.1)]
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill), readings=readings))
    assert [(c.phase, c.ok, c.measured, c.offset_s) for c in result.hypothesis] == [
        ("before", True, "healthy", 1.0), ("after", True, "healthy", 9.0)]


def test_a_fault_still_active_leaves_no_after_phase(tmp_path: Path) -> None:
    drill = _drill(probes=[{"name": "up", "kind": "healthy"}])
    applied = _applied(drill)
    applied[0].stopped = None
    t = T0.timestamp()
    readings = [ProbeReading(t + 1, 0, True, "healthy"), ProbeReading(t + 30, 0, True, "healthy")]
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(applied, readings=readings))
    assert [c.phase for c in result.hypothesis] == ["before"]
    assert result.faults[0].end_offset_s is None


@pytest.mark.parametrize(("per_second", "broken", "recovery"), [
    ([(10, 10, 50.0)] * 9 + [(10, 0, 50.0)] * 3, "recovery took 4.0 s > 2 s", 4.0),
    ([(10, 0, 50.0)] * 5 + [(10, 0, 3000.0)] * 7, "recovery: portal not back within tolerance before the load ended "
                                                   "(limit 2 s)", None),
])
def test_recovery_is_judged_from_what_the_load_saw(tmp_path: Path, per_second: list[tuple[int, int, float]],
                                                  broken: str, recovery: float | None) -> None:
    drill = _drill({"recovery_time_s": 2})
    result = judge_drill("d", drill, _run_dir(tmp_path, per_second), _facts(_applied(drill)))
    assert result.verdict == "FAIL" and result.expectations == [broken]
    assert result.recovery_time_s == recovery


def test_recovery_can_be_judged_on_other_services_than_the_faulted_ones(tmp_path: Path) -> None:
    drill = _drill({"recovery_time_s": 2, "recovery_services": ["axis"]})
    bad_portal = [(10, 10, 50.0)] * 12  # the portal never recovers; the axis is not in the journal at all
    result = judge_drill("d", drill, _run_dir(tmp_path, bad_portal), _facts(_applied(drill)))
    assert result.expectations == ["recovery: axis not back within tolerance before the load ended (limit 2 s)"]


def test_the_error_budget_during_a_fault_counts_only_its_window(tmp_path: Path) -> None:
    per_second = [(10, 0, 50.0)] * 2 + [(10, 7, 50.0)] * 3 + [(10, 9, 50.0)] + [(10, 0, 50.0)] * 6
    drill = _drill({"error_budget_during_fault": 0.5})
    result = judge_drill("d", drill, _run_dir(tmp_path, per_second), _facts(_applied(drill)))
    assert result.expectations == ["error budget during portal outage: 21/30 failed (0.70 > 0.5)"]
    within = _drill({"error_budget_during_fault": 0.7})
    assert judge_drill("d", within, _run_dir(tmp_path, per_second), _facts(_applied(within))).verdict == "PASS"


def test_drill_traffic_that_did_not_answer_as_expected_breaks_the_drill(tmp_path: Path) -> None:
    drill = _drill()
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill, storm_ok=False)))
    assert result.expectations == ["storm: officer_login_storm: 4/10 answers as expected; unexpected: 429 throttled ×6"]


def test_reconciliation_unverified_dossiers_and_leftovers_are_each_named(tmp_path: Path) -> None:
    drill = _drill({"max_duplicated": 1})
    lossy = ReconciliationRow(item_kind="documents", ok=9, lost=2, duplicated=1, unexpected=0, recovered=0,
                              lost_ids=["d1", "d2"])
    facts = _facts(_applied(drill), rows=[CLEAN, lossy], unverified=3, leftovers={"http:portal": 1, "network:axis": -1})
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), facts)
    assert result.verdict == "FAIL"
    assert result.expectations == [
        "reconciliation: 2 lost, 1 duplicated (allowed 0 lost, 1 duplicated)",
        "3 dossier(s) accepted without a matching identity verification",
        "rollback left faults behind: http:portal=1, network:axis=-1",
    ]


@pytest.mark.parametrize(("notes", "why"), [
    (["no admin token for the target: nothing to reconcile against"],
     "reconciliation: nothing could be compared (no admin token for the target: nothing to reconcile against)"),
    ([], "reconciliation: nothing could be compared (no ledgers)"),
])
def test_nothing_to_compare_is_not_a_pass(tmp_path: Path, notes: list[str], why: str) -> None:
    drill = _drill()
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill), rows=[], notes=notes))
    assert result.verdict == "FAIL" and result.expectations == [why]


def test_an_interrupted_drill_is_an_error_that_says_what_was_left_behind(tmp_path: Path) -> None:
    drill = _drill({"recovery_time_s": 1})
    clean = judge_drill("d", drill, tmp_path, _facts(_applied(drill), rows=[], interrupted=True))
    assert clean.verdict == "ERROR"
    assert clean.error == "interrupted (SIGINT/SIGTERM); every fault was rolled back"
    assert clean.expectations == []  # neither recovery nor reconciliation is judged after Ctrl-C
    assert clean.recovery_time_s is None
    assert clean.faults[0].start_offset_s == 0.0  # no journal: offsets from the first fault
    dirty = judge_drill("d", drill, tmp_path, _facts(_applied(drill), rows=[], interrupted=True,
                                                    leftovers={"process:portal": 1}))
    assert dirty.error == "interrupted (SIGINT/SIGTERM); every fault was rolled back — EXCEPT the ones listed"
    assert dirty.expectations == ["rollback left faults behind: process:portal=1"]


def test_a_drill_that_could_not_run_is_an_error_with_its_reason(tmp_path: Path) -> None:
    drill = _drill()
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD),
                         _facts(_applied(drill), rows=[], error="RuntimeError: locust exited with 2"))
    assert (result.verdict, result.error, result.expectations) == ("ERROR", "RuntimeError: locust exited with 2", [])


def test_a_signal_received_during_the_rollback_is_reported(tmp_path: Path) -> None:
    drill = _drill()
    # The exact note kernel.stopping.STOP.protected() records (asserted in tests/kernel/test_stopping.py).
    note = "SIGINT received during the rollback; the rollback finished first"
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill), notes=[note]))
    assert f"note: {note}" in result.expectations


LOSSY = {"expect_verdict": "FAIL", "exact_lost": {"documents": "predicted", "receipts": 2}}


def _lost(kind: str, ids: list[str]) -> ReconciliationRow:
    return ReconciliationRow(item_kind=kind, ok=100, lost=len(ids), duplicated=0, unexpected=0, recovered=0,
                             lost_ids=ids)


def test_a_planted_defect_that_fails_exactly_as_predicted_is_a_fail_without_error(tmp_path: Path) -> None:
    drill = _drill(LOSSY)
    rows = [_lost("documents", ["d07", "d31"]), _lost("receipts", ["r1", "r2"])]
    result = judge_drill("lossy", drill, _run_dir(tmp_path, GOOD),
                         _facts(_applied(drill), rows=rows, predicted_lost=["d07", "d31"]))
    assert (result.verdict, result.error) == ("FAIL", None)
    assert "reconciliation: 4 lost, 0 duplicated (allowed 0 lost, 0 duplicated)" in result.expectations


@pytest.mark.parametrize(("rows", "error"), [
    ([_lost("documents", ["d07", "d99"]), _lost("receipts", ["r1", "r2"])],
     "planted defect: expected exactly the 2 predicted lost documents, the checker found 2"),
    ([_lost("documents", ["d07"]), _lost("receipts", ["r1", "r2"])],
     "planted defect: expected exactly the 2 predicted lost documents, the checker found 1"),
    ([_lost("receipts", ["r1", "r2"]), _lost("dossiers", ["x"])],
     "planted defect: expected exactly the 2 predicted lost documents, the checker found 0"),
    ([_lost("documents", ["d07", "d31"]), _lost("receipts", ["r1"])],
     "planted defect: expected exactly 2 lost receipts, the checker found 1"),
])
def test_a_planted_defect_caught_wrongly_is_an_error(tmp_path: Path, rows: list[ReconciliationRow], error: str) -> None:
    drill = _drill(LOSSY)
    result = judge_drill("lossy", drill, _run_dir(tmp_path, GOOD),
                         _facts(_applied(drill), rows=rows, predicted_lost=["d07", "d31"]))
    assert (result.verdict, result.error) == ("ERROR", error)


def test_a_planted_defect_the_checker_missed_is_an_error(tmp_path: Path) -> None:
    drill = _drill(LOSSY)
    result = judge_drill("lossy", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill), predicted_lost=["d07"]))
    assert result.verdict == "ERROR"
    assert result.error == "this drill plants a defect and must FAIL, but everything passed: the checker missed it"


@pytest.mark.parametrize(("retried", "replayed", "broken"), [
    (3, 1, []),
    (0, 0, ["retries: 0 dossier(s) acknowledged after a retry with the same key (expected at least 2)",
            "retries: 0 retried submission(s) answered as a replay (expected at least 1)"]),
    (2, 0, ["retries: 0 retried submission(s) answered as a replay (expected at least 1)"]),
])
def test_a_freeze_drill_needs_submissions_retried_with_the_same_key(
    tmp_path: Path, retried: int, replayed: int, broken: list[str]
) -> None:
    drill = _drill({"min_retried_submissions": 2, "min_replayed_submissions": 1})
    result = judge_drill("d", drill, _run_dir(tmp_path, GOOD), _facts(_applied(drill), retried=retried, replayed=replayed))
    assert result.expectations == broken
    assert result.verdict == ("PASS" if not broken else "FAIL")
