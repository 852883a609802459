"""A run directory read for rendering, and its overall verdict (the first line of a report).

``load_run(run_dir)`` reads ``journal.json``, ``summary.json`` and, when present,
``gate.json``; it never talks to a target. ``overall_verdict`` folds everything a
leader needs into one of three words:

* **FAIL** — a budget broken, the run aborted, a drill failed, a security check failed,
  or a province not ready;
* **WARN** — none of those, but the load generator was not trustworthy (its figures may
  blame the target for its own lag), a province was throttled by the target (it protected
  itself instead of serving the load: a finding, not a failure) or some readiness cell is amber;
* **PASS** — otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reports.gate import GateResult, load_gate_result
from reports.journal import Journal
from reports.readiness import ReadinessMatrix, ReadinessThresholds, readiness_matrix
from reports.run_files import load_journal_of, load_summary
from reports.summary import Summary

__all__ = ["RunData", "OverallVerdict", "load_run", "overall_verdict"]


@dataclass(frozen=True)
class RunData:
    """Everything a report shows, loaded from one run directory."""

    run_dir: Path
    journal: Journal
    summary: Summary
    gate: GateResult | None
    matrix: ReadinessMatrix


@dataclass(frozen=True)
class OverallVerdict:
    """PASS / WARN / FAIL with the reasons, most important first."""

    level: Literal["PASS", "WARN", "FAIL"]
    reasons: list[str] = field(default_factory=list)


def load_run(run_dir: str | Path, thresholds: ReadinessThresholds | None = None) -> RunData:
    """Load a run directory (ConfigError naming the file when a record is missing or invalid)."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    journal = load_journal_of(run_dir, summary)
    return RunData(run_dir, journal, summary, load_gate_result(run_dir), readiness_matrix(summary, thresholds))


def overall_verdict(run: RunData) -> OverallVerdict:
    """Fold gate, abort, readiness, drill, security and generator health into one verdict."""
    fail: list[str] = []
    warn: list[str] = []
    s, j, m = run.summary, run.journal, run.matrix
    if s.abort.aborted:
        fail.append(f"run aborted: {s.abort.reason or 'no reason recorded'}")
    if run.gate is not None and not run.gate.passed:
        fail.append(f"budget broken: {len(run.gate.failed)} of {len(run.gate.rows)} budget lines failed")
    # A run without load (e.g. a security suite run alone) measured no province: the
    # readiness rule has nothing to judge, and "0/34 ready" would be a false alarm.
    loaded = s.requests.total > 0
    if loaded and m.not_ready:
        codes = ", ".join(r.code for r in m.not_ready)
        fail.append(f"{m.ready_count}/{m.total} provinces ready (not ready: {codes})")
    if j.drill is not None and j.drill.verdict != "PASS":
        fail.append(f"drill {j.drill.name}: {j.drill.verdict}")
    if j.security is not None:
        bad = [c.id for c in j.security.checks if c.verdict != "PASS"]
        if bad:
            fail.append(f"security: {len(bad)} of {len(j.security.checks)} checks did not pass ({', '.join(bad[:5])})")
    if not s.generator.trustworthy:
        why = "; ".join(s.generator.reasons) or "no reason recorded"
        warn.append(f"load generator untrustworthy — figures may show its own lag: {why}")
    if loaded and m.throttled:
        hard = "; ".join(f"{r.code}: {r.throttled_text}" for r in m.throttled[:5])
        more = f" and {len(m.throttled) - 5} more" if len(m.throttled) > 5 else ""
        warn.append(f"{len(m.throttled)} provinces throttled by the target (423/429 with Retry-After): {hard}{more}")
    if loaded and m.not_proven:
        codes = ", ".join(r.code for r in m.not_proven)
        warn.append(f"{len(m.not_proven)} provinces not proven: a check was not exercised in this run ({codes}); "
                    f"{m.proven_cells}/{m.total_cells} checks proven")
    amber = sum(1 for r in m.rows for c in r.cells if c.color == "amber")
    if amber:
        warn.append(f"{amber} readiness cells amber (slow or occasional errors)")
    if fail:
        return OverallVerdict("FAIL", fail + warn)
    if warn:
        return OverallVerdict("WARN", warn)
    ok = [f"{m.ready_count}/{m.total} provinces ready"] if loaded else ["no load in this run: readiness not judged"]
    if run.gate is not None:
        ok.append(f"all {len(run.gate.rows)} budget lines within budget")
    return OverallVerdict("PASS", ok)
