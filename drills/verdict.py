"""A drill's verdict: the steady-state hypothesis checked before, during and after the
faults, the drill file's expectations (recovery, error budget, reconciliation, rollback),
and the exit code the verdict maps to.

PASS → 0; FAIL → 1 (``ExitCode.BUDGET_BREACHED``, also for a planted-defect drill that
fails as expected); ERROR → 70 (the drill could not run, was interrupted, or a
planted-defect drill did not fail the way it must).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from drills.fault_timeline import AppliedFault
from drills.model import Drill, Probe
from drills.probes import ProbeReading, client_recovery, client_window
from drills.reconcile import passes
from kernel.errors import ExitCode
from kernel.stopping import SIGNAL_DURING_ROLLBACK
from reports._record import Verdict
from reports.drill_result import DrillResult, FaultWindow, HypothesisCheck, ReconciliationRow
from reports.run_files import load_journal

__all__ = ["DrillFacts", "judge_drill", "verdict_exit_code"]

UTC = dt.UTC


def verdict_exit_code(verdict: str) -> ExitCode:
    """PASS → 0, FAIL → 1 (BUDGET_BREACHED / DRILL_FAILED), ERROR → 70."""
    return {"PASS": ExitCode.OK, "FAIL": ExitCode.BUDGET_BREACHED}.get(verdict, ExitCode.INTERNAL_ERROR)


@dataclass
class DrillFacts:
    """What happened in one drill run, as the verdict needs it."""

    applied: list[AppliedFault]
    readings: list[ProbeReading]
    rows: list[ReconciliationRow]
    notes: list[str]  # reconciliation and rollback notes
    leftovers: dict[str, int]  # what the rollback left behind
    unverified: int | None  # dossiers accepted without identity check (None: not checked)
    interrupted: bool
    error: str | None
    predicted_lost: list[str] = field(default_factory=list)  # document ids a planted lossy defect drops
    retried: int = 0  # dossiers the load had acknowledged only after a retry with the same key
    replayed: int = 0  # of those, answered as the replay of an earlier attempt that had landed


def judge_drill(name: str, drill: Drill, run_dir: Path, facts: DrillFacts) -> DrillResult:
    """The drill's result: every broken expectation named, and the verdict."""
    exp = drill.expectations
    applied, rows, notes, leftovers = facts.applied, facts.rows, facts.notes, facts.leftovers
    interrupted, error = facts.interrupted, facts.error
    broken: list[str] = []
    try:
        journal_start = load_journal(run_dir).provenance.started_at
    except Exception:  # noqa: BLE001 - no journal (interrupted): offsets from the first step
        journal_start = next((a.started for a in applied if a.started), dt.datetime.now(UTC))
    hypothesis = _hypothesis_checks(drill.steady_state_hypothesis.probes, applied, facts.readings,
                                    journal_start.timestamp())
    broken += [f"hypothesis {c.phase}: {c.probe} — measured {c.measured}" for c in hypothesis if not c.ok]
    faults: list[FaultWindow] = []
    fault_windows: list[FaultWindow] = []  # the real faults (traffic actions excluded)
    for state in applied:
        if state.started is None:
            continue
        detail = dict(state.detail)
        detail["backend"] = state.fault.backend
        if state.traffic is not None:
            detail.update({"sent": state.traffic.sent, "as_expected": state.traffic.as_expected, **state.traffic.detail})
            if not state.traffic.ok:
                broken.append(f"{state.fault.name}: {state.traffic.summary()}")
        faults.append(FaultWindow(
            name=state.fault.name, kind=state.fault.kind, target=state.fault.target,
            start_offset_s=round((state.started - journal_start).total_seconds(), 3),
            end_offset_s=round((state.stopped - journal_start).total_seconds(), 3) if state.stopped else None,
            detail=detail))
        if state.fault.is_fault:
            fault_windows.append(faults[-1])
    recovery = None
    if not interrupted and error is None:
        try:
            journal = load_journal(run_dir)
        except Exception:  # noqa: BLE001
            journal = None
        services = list(exp.recovery_services or drill.faulted_services)
        if journal is not None and fault_windows and services:
            end = max(w.end_offset_s or 0.0 for w in fault_windows)
            recovery = client_recovery(journal, services, end, max_error_ratio=exp.recovery_error_ratio,
                                       max_p95_ms=exp.recovery_p95_ms)
            if exp.recovery_time_s is not None:
                if recovery is None:
                    broken.append(f"recovery: {', '.join(services)} not back within tolerance before the load ended "
                                  f"(limit {exp.recovery_time_s:g} s)")
                elif recovery > exp.recovery_time_s:
                    broken.append(f"recovery took {recovery:.1f} s > {exp.recovery_time_s:g} s")
            if exp.error_budget_during_fault is not None:
                for window in fault_windows:
                    seen = client_window(journal, [window.target], window.start_offset_s,
                                         window.end_offset_s or window.start_offset_s)
                    if seen.error_ratio is not None and seen.error_ratio > exp.error_budget_during_fault:
                        broken.append(f"error budget during {window.name}: {seen.failures}/{seen.requests} failed "
                                      f"({seen.error_ratio:.2f} > {exp.error_budget_during_fault:g})")
        lost = sum(r.lost for r in rows)
        duplicated = sum(r.duplicated for r in rows)
        if not passes(rows, max_lost=exp.max_lost, max_duplicated=exp.max_duplicated):
            broken.append(f"reconciliation: {lost} lost, {duplicated} duplicated "
                          f"(allowed {exp.max_lost} lost, {exp.max_duplicated} duplicated)")
        if not rows:
            broken.append("reconciliation: nothing could be compared (" + "; ".join(notes or ["no ledgers"]) + ")")
        if facts.retried < exp.min_retried_submissions:
            broken.append(f"retries: {facts.retried} dossier(s) acknowledged after a retry with the same key "
                          f"(expected at least {exp.min_retried_submissions})")
        if facts.replayed < exp.min_replayed_submissions:
            broken.append(f"retries: {facts.replayed} retried submission(s) answered as a replay "
                          f"(expected at least {exp.min_replayed_submissions})")
        if facts.unverified:
            broken.append(f"{facts.unverified} dossier(s) accepted without a matching identity verification")
    if leftovers:
        broken.append("rollback left faults behind: " + ", ".join(f"{k}={v}" for k, v in leftovers.items()))
    # A signal kernel.stopping noted (not raised) while the faults were being rolled back.
    broken += [f"note: {n}" for n in notes if SIGNAL_DURING_ROLLBACK in n]
    verdict: Verdict = "FAIL" if broken else "PASS"
    if interrupted:
        verdict, error = "ERROR", "interrupted (SIGINT/SIGTERM); every fault was rolled back" + (
            "" if not leftovers else " — EXCEPT the ones listed")
    elif error is not None:
        verdict = "ERROR"
    elif exp.expect_verdict == "FAIL":
        verdict, error = _planted_verdict(drill, verdict, rows, facts.predicted_lost)
    return DrillResult(name=name, title=drill.title, verdict=verdict, hypothesis=hypothesis,
                       faults=faults, reconciliation=rows,
                       recovery_time_s=round(recovery, 2) if recovery is not None else None,
                       expectations=broken, error=error)


def _planted_verdict(drill: Drill, verdict: Verdict, rows: list[ReconciliationRow],
                     predicted: list[str]) -> tuple[Verdict, str | None]:
    """A planted-defect drill must FAIL, and with exactly the expected losses, to prove the checker."""
    if verdict != "FAIL":
        return "ERROR", "this drill plants a defect and must FAIL, but everything passed: the checker missed it"
    by_kind = {r.item_kind: r for r in rows}
    for kind, expected in drill.expectations.exact_lost.items():
        row = by_kind.get(kind)
        found = row.lost if row else 0
        if expected == "predicted":
            if row is None or sorted(row.lost_ids) != predicted[: len(row.lost_ids)] or found != len(predicted):
                return "ERROR", (f"planted defect: expected exactly the {len(predicted)} predicted lost {kind}, "
                                 f"the checker found {found}")
        elif found != expected:
            return "ERROR", f"planted defect: expected exactly {expected} lost {kind}, the checker found {found}"
    return "FAIL", None


def _hypothesis_checks(probes: list[Probe], applied: list[AppliedFault], readings: list[ProbeReading],
                      origin: float) -> list[HypothesisCheck]:
    """Each probe's last reading before the first fault, its readings during any fault
    (probes marked ``during``) and its last reading after the last; offsets from ``origin``
    (epoch seconds)."""
    # Drill-side traffic counts as a window too: a login storm is "during" like a fault.
    starts = [a.started.timestamp() for a in applied if a.started]
    windows = [(a.started.timestamp(), a.stopped.timestamp() if a.stopped else float("inf"))
               for a in applied if a.started]
    first = min(starts) if starts else float("inf")
    checks: list[HypothesisCheck] = []
    for index, probe in enumerate(probes):
        mine = [r for r in readings if r.probe == index]
        before = [r for r in mine if r.ended < first]  # the whole scrape before the fault
        if before:
            checks.append(_phase_check("before", probe.describe(), before[-1:], origin))
        if probe.during:
            during = [r for r in mine if any(s <= r.t <= e for s, e in windows)]
            if during:
                checks.append(_phase_check("during", probe.describe(), during, origin))
        last_end = max((e for _s, e in windows), default=0.0)
        after = [r for r in mine if r.t > last_end]
        if after:
            checks.append(_phase_check("after", probe.describe(), after[-1:], origin))
    return checks


def _phase_check(phase: Literal["before", "during", "after"], probe: str, readings: list[ProbeReading],
                 origin: float) -> HypothesisCheck:
    worst = next((r for r in readings if not r.ok), readings[-1])
    held = sum(1 for r in readings if r.ok)
    measured = worst.measured if len(readings) == 1 else f"{worst.measured} (held {held}/{len(readings)} s)"
    return HypothesisCheck(phase=phase, probe=probe, offset_s=round(worst.t - origin, 1), expected=probe,
                           measured=measured, ok=all(r.ok for r in readings))
