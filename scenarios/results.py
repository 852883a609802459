"""Turn what a run recorded into ``summary.json``, ``journal.json`` and the histograms.

Runs in the process that holds the merged recorder (the master, or the local runner) at
the end of the run. Figures come from the exact HDR histograms; the report and the gate
later read only these files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from kernel import __version__
from kernel.roster import Roster
from reports.journal import Journal, JournalEvent, Provenance, TargetInfo, TargetKind, TargetService
from reports.run_files import write_run_dir
from reports.summary import (
    AbortInfo,
    CheckFigure,
    CommunesSummary,
    CommuneStats,
    ProvinceChecks,
    ProvinceSummary,
    RequestTotals,
    Summary,
)
from scenarios.abort import AbortDecision
from scenarios.lag import GeneratorSnapshot, generator_health
from scenarios.latency import LatencyRecorder
from scenarios.runconfig import RunConfig
from scenarios.world import World

__all__ = ["RunOutcome", "CHECK_ENDPOINTS", "build_summary", "build_journal", "write_results"]

# Which endpoints make up each cell of the readiness matrix.
CHECK_ENDPOINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "sign_in": (("portal", "POST /auth/token"),),
    "catalogue": (("portal", "GET /procedures"),),
    "dossier_submit": (("portal", "POST /dossiers"),),
    "status_sync": (("portal", "POST /dossiers/{code}/transitions"), ("portal", "GET /dossiers")),
    "population_lookup": (("population", "POST /citizens/verify"), ("population", "GET /citizens/{personal_id}")),
    "document_exchange": (
        ("axis", "POST /documents"),
        ("axis", "GET /inbox"),
        ("axis", "POST /inbox/{id}/ack"),
        ("axis", "POST /documents/{id}/receipts"),
    ),
}
WORST_COMMUNES = 10
# The kinds a journal knows; any other run-config kind is journalled as a targets file.
_TARGET_KINDS: dict[str, TargetKind] = {"embedded": "embedded", "file": "file", "url": "url"}


@dataclass
class RunOutcome:
    """How the run ended, as the harness saw it."""

    started_at: float
    ended_at: float
    abort: AbortDecision | None = None
    snapshots: list[GeneratorSnapshot] = field(default_factory=list)
    missing_workers: list[str] = field(default_factory=list)


def _p95(recorder: LatencyRecorder, *, province: str | None = None) -> tuple[int, float | None]:
    summary = recorder.merged(province=province).summary()
    return summary.count, (summary.p95_ms if summary.count else None)


def _check_figure(recorder: LatencyRecorder, check: str, province: str) -> CheckFigure | None:
    requests = failures = 0
    merged = None
    for service, endpoint in CHECK_ENDPOINTS[check]:
        hist = recorder.merged(service, endpoint, province)
        if hist.total == 0:
            continue
        requests += hist.total
        failures += recorder.failures_of(service, endpoint, province)
        if merged is None:
            merged = hist
        else:
            merged.add(hist)
    if requests == 0:
        return None
    return CheckFigure(requests=requests, failures=failures, p95_ms=merged.summary().p95_ms if merged else None)


def build_summary(config: RunConfig, roster: Roster, recorder: LatencyRecorder, outcome: RunOutcome) -> Summary:
    """The whole-run figures of ``summary.json``."""
    duration = max(outcome.ended_at - outcome.started_at, 1e-9)
    endpoints = recorder.endpoint_stats()
    total = sum(e.count for e in endpoints)
    failed = sum(e.failures for e in endpoints)
    provinces = []
    for province in roster.provinces:
        count, p95 = _p95(recorder, province=province.code)
        active = sum(1 for c in province.commune_codes if recorder.communes.get(c) and recorder.communes[c].requests)
        provinces.append(
            ProvinceSummary(
                code=province.code,
                name=province.name,
                communes_total=len(province.commune_codes),
                communes_active=active,
                requests=count,
                failures=recorder.failures_of(province=province.code),
                p95_ms=p95,
                checks=ProvinceChecks(**{check: _check_figure(recorder, check, province.code) for check in CHECK_ENDPOINTS}),
            )
        )
    touched = [(code, c) for code, c in recorder.communes.items() if c.requests]
    worst = sorted(touched, key=lambda item: (-item[1].failures / item[1].requests, -item[1].failures, item[0]))
    worst_stats = []
    for code, counts in worst[:WORST_COMMUNES]:
        commune = roster.commune(code)
        worst_stats.append(
            CommuneStats(code=code, name=commune.name, province_code=commune.province_code,
                         requests=counts.requests, failures=counts.failures)
        )
    health = generator_health(outcome.snapshots)
    if outcome.missing_workers:
        health.reasons.append(f"no final report from {', '.join(outcome.missing_workers)}: figures may miss their last seconds")
        health.trustworthy = False
    abort = (
        outcome.abort.to_abort_info() if outcome.abort is not None else AbortInfo(aborted=False)
    )
    # The schedule speaks in arrivals; requests follow them. What the schedule asked for,
    # in requests, is the requests made scaled by arrivals due ÷ arrivals started.
    due = sum(s.arrivals_due for s in outcome.snapshots)
    started = sum(s.arrivals_started for s in outcome.snapshots)
    intended = round(total * due / started) if due and started else None
    return Summary(
        run_id=config.run_id,
        profile=config.profile.name,
        duration_s=round(duration, 3),
        requests=RequestTotals(total=total, failed=failed, rps=round(total / duration, 2), intended_total=intended),
        endpoints=endpoints,
        provinces=provinces,
        communes=CommunesSummary(
            total=len(roster.communes),
            active=len(touched),
            with_failures=sum(1 for _, c in touched if c.failures),
            worst=worst_stats,
        ),
        generator=health,
        abort=abort,
    )


def _iso(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC)


def build_journal(config: RunConfig, recorder: LatencyRecorder, outcome: RunOutcome, summary: Summary) -> Journal:
    """Provenance, timeline and per-second series of ``journal.json``."""
    start = outcome.started_at
    profile = config.profile
    events = [
        JournalEvent(t=_iso(start), offset_s=0.0, kind="phase", name="doors open", status="started",
                     detail={"communes": summary.communes.active, "officers_per_commune": profile.officers_per_commune}),
    ]
    if profile.officers.login_window_s:
        end = min(profile.officers.login_window_s, outcome.ended_at - start)
        events.append(JournalEvent(t=_iso(start + end), offset_s=round(end, 3), kind="phase", name="login storm over",
                                   status="ok"))
    for point in profile.citizens.shape[1:]:
        if point.at_s < outcome.ended_at - start:
            events.append(JournalEvent(t=_iso(start + point.at_s), offset_s=point.at_s, kind="phase",
                                       name=f"citizen arrivals ×{point.factor:g}", status="ok"))
    if summary.abort.aborted:
        offset = summary.abort.at_offset_s or (outcome.ended_at - start)
        events.append(JournalEvent(t=_iso(start + offset), offset_s=offset, kind="abort", name="abort rule fired",
                                   status="failed", detail={"reason": summary.abort.reason}))
    if not summary.generator.trustworthy:
        events.append(JournalEvent(t=_iso(outcome.ended_at), offset_s=round(outcome.ended_at - start, 3),
                                   kind="generator_lag", name="load generator fell behind", status="failed",
                                   detail={"reasons": "; ".join(summary.generator.reasons)}))
    events.append(JournalEvent(t=_iso(outcome.ended_at), offset_s=round(outcome.ended_at - start, 3), kind="phase",
                               name="run over", status="ok", detail={"requests": summary.requests.total}))
    provenance = Provenance(
        dientap_version=__version__,
        run_id=config.run_id,
        profile=profile.name,
        seed=config.seed,
        scale=profile.scale,
        target=TargetInfo(
            kind=_TARGET_KINDS.get(config.target_kind, "file"),
            name=config.target_name,
            services=[TargetService(name=name, base_url=url) for name, url in sorted(config.urls.items())],
        ),
        workers=max(1, config.workers),
        started_at=_iso(start),
        ended_at=_iso(outcome.ended_at),
        command_line=config.command_line,
        prometheus_url=config.prometheus_url,
    )
    return Journal(provenance=provenance, events=events, timeseries=recorder.timeseries(start))


def write_results(config: RunConfig, world: World, recorder: LatencyRecorder, outcome: RunOutcome) -> Path:
    """Write histograms, summary and journal into the run directory; returns it."""
    run_dir = Path(config.run_dir)
    recorder.dump(run_dir / "histograms")
    summary = build_summary(config, world.roster, recorder, outcome)
    journal = build_journal(config, recorder, outcome, summary)
    return write_run_dir(run_dir, journal, summary)
