"""Write what a run recorded: the histograms (``latency.hdr``, ``communes.hdr``), the load
record (``load.json``) and the journal; ``summary.json`` is built by reports from those
records (:mod:`reports.summary_build`).

Runs in the process that holds the merged recorder (the master, or the local runner) at
the end of the run. Figures come from the exact HDR histograms; the report and the gate
later read only these files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from kernel.provenance import build_provenance
from reports.journal import Journal, JournalEvent
from reports.load_record import CommuneCounts, KeyFailures, KeyThrottled, LoadRecord, write_load_record
from reports.run_files import write_run_dir
from reports.summary import AbortInfo, Summary
from reports.summary_build import HISTOGRAMS_DIR, build_summary
from scenarios.abort import AbortDecision
from scenarios.lag import GeneratorSnapshot, generator_health
from scenarios.latency import LatencyRecorder
from scenarios.runconfig import RunConfig
from scenarios.world import World

__all__ = ["RunOutcome", "build_load_record", "build_journal", "write_results"]



@dataclass
class RunOutcome:
    """How the run ended, as the harness saw it."""

    started_at: float
    ended_at: float
    abort: AbortDecision | None = None
    snapshots: list[GeneratorSnapshot] = field(default_factory=list)
    missing_workers: list[str] = field(default_factory=list)
    # Why the load ended before its planned time when no abort rule stopped it (the
    # orchestrator interrupted or killed, a lost master): the run did not complete.
    cut_short: str | None = None


def build_load_record(config: RunConfig, recorder: LatencyRecorder, outcome: RunOutcome) -> LoadRecord:
    """The counts of ``load.json``: what the histograms do not hold."""
    health = generator_health(outcome.snapshots)
    if outcome.missing_workers:
        health.reasons.append(f"no final report from {', '.join(outcome.missing_workers)}: "
                              "the figures and records may miss their last seconds")
        health.trustworthy = False
    return LoadRecord(
        run_id=config.run_id,
        profile=config.profile.name,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
        key_failures=[KeyFailures(service=s, endpoint=e, province=p, failures=n)
                      for (s, e, p), n in sorted(recorder.key_failures.items())],
        key_throttled=[KeyThrottled(service=s, endpoint=e, province=p, throttled=n)
                       for (s, e, p), n in sorted(recorder.key_throttled.items())],
        communes={code: CommuneCounts(requests=c.requests, failures=c.failures)
                  for code, c in sorted(recorder.communes.items())},
        generator=health,
        abort=outcome.abort.to_abort_info() if outcome.abort is not None else AbortInfo(
            aborted=outcome.cut_short is not None, reason=outcome.cut_short,
            at_offset_s=round(outcome.ended_at - outcome.started_at, 3) if outcome.cut_short else None),
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
    provenance = build_provenance(
        run_id=config.run_id,
        profile=profile.name,
        seed=config.seed,
        scale=profile.scale,
        target_kind=config.target_kind,
        target_name=config.target_name,
        urls=config.urls,
        workers=config.workers,
        started_at=_iso(start),
        ended_at=_iso(outcome.ended_at),
        command_line=config.command_line,
        prometheus_url=config.prometheus_url,
    )
    return Journal(provenance=provenance, events=events, timeseries=recorder.timeseries(start))


def write_results(config: RunConfig, world: World, recorder: LatencyRecorder, outcome: RunOutcome) -> Path:
    """Write the records (histograms, ``load.json``), then the summary reports build from
    them, and the journal; returns the run directory."""
    run_dir = Path(config.run_dir)
    recorder.dump(run_dir / HISTOGRAMS_DIR, config.run_id)
    record = build_load_record(config, recorder, outcome)
    write_load_record(run_dir, record)
    summary = build_summary(record, recorder.histograms, world.roster, recorder.commune_sketches())
    journal = build_journal(config, recorder, outcome, summary)
    return write_run_dir(run_dir, journal, summary)
