"""A deterministic synthetic run (journal + summary) for demos, benchmarks and tests.

``sample_run()`` builds the records a real dry run would write — 34 provinces from the
roster, per-second latency series for the usual endpoints, a fault window, optionally a
drill result and a security scorecard — without sending a single request. It lets the
report be rendered for the README screenshot, ``bench/report.py`` time a 1,000,000
request run, and tests describe unready provinces precisely.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from kernel.defaults import COMMUNE_P95_MIN_SAMPLES, SEED
from kernel.provenance import build_provenance
from kernel.roster import load_roster
from reports.drill_result import DrillResult, FaultWindow, HypothesisCheck, ReconciliationRow
from reports.journal import (
    EventKind,
    Journal,
    JournalEvent,
    LatencySample,
    LatencySeries,
    Timeseries,
)
from reports.security_scorecard import EvidenceExcerpt, SecurityCheckResult, SecurityScorecard
from reports.summary import (
    AbortInfo,
    CheckFigure,
    CommunesSummary,
    CommuneStats,
    EndpointStats,
    GeneratorHealth,
    LatencyPercentiles,
    ProvinceChecks,
    ProvinceSummary,
    RequestTotals,
    Summary,
)
from reports.summary_build import rank_worst_communes

__all__ = ["SAMPLE_ENDPOINTS", "SampleRun", "sample_run"]

#: (service, endpoint, share of requests, median latency ms) of a typical go-live mix.
SAMPLE_ENDPOINTS: tuple[tuple[str, str, float, float], ...] = (
    ("portal", "POST /auth/token", 0.10, 35.0),
    ("portal", "GET /procedures", 0.14, 12.0),
    ("portal", "POST /dossiers", 0.10, 48.0),
    ("portal", "GET /dossiers/{code}", 0.16, 9.0),
    ("portal", "POST /dossiers/{code}/transitions", 0.08, 22.0),
    ("portal", "POST /dossiers/{code}/payments", 0.03, 30.0),
    ("population", "POST /auth/token", 0.02, 30.0),
    ("population", "GET /citizens/{personal_id}", 0.08, 15.0),
    ("population", "POST /citizens/verify", 0.07, 18.0),
    ("axis", "POST /auth/token", 0.02, 30.0),
    ("axis", "POST /documents", 0.06, 80.0),
    ("axis", "GET /inbox", 0.08, 14.0),
    ("axis", "POST /inbox/{id}/ack", 0.03, 11.0),
    ("axis", "POST /documents/{id}/receipts", 0.03, 16.0),
)

_STARTED = datetime(2026, 6, 30, 7, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SampleRun:
    """The two records of a synthetic run."""

    journal: Journal
    summary: Summary


def _checks(rng: random.Random, requests: int, unready: bool) -> ProvinceChecks:
    def fig(share: float, p95: float, fail_rate: float = 0.001, note: str | None = None) -> CheckFigure:
        n = max(1, int(requests * share))
        return CheckFigure(requests=n, failures=int(n * fail_rate), p95_ms=round(p95 * rng.uniform(0.8, 1.2), 1), note=note)

    if unready:
        # What go-live week looked like in the worst provinces: sign-on hand-off failing,
        # catalogue not published, status sync lagging.
        return ProvinceChecks(
            sign_in=fig(0.12, 1900.0, 0.18),
            catalogue=fig(0.14, 40.0, 1.0, note="catalogue not published"),
            dossier_submit=fig(0.10, 400.0, 0.02),
            status_sync=fig(0.08, 5200.0, 0.01),
            population_lookup=fig(0.15, 60.0),
            document_exchange=fig(0.20, 300.0),
        )
    return ProvinceChecks(
        sign_in=fig(0.12, 120.0),
        catalogue=fig(0.14, 40.0),
        dossier_submit=fig(0.10, 160.0),
        status_sync=fig(0.08, 90.0),
        population_lookup=fig(0.15, 60.0),
        document_exchange=fig(0.20, 300.0),
    )


def sample_run(
    run_id: str = "sample",
    *,
    total_requests: int = 20_000,
    duration_s: int = 120,
    bucket_s: float = 1.0,
    unready: Iterable[str] = (),
    fault: tuple[float, float] | None = (40.0, 70.0),
    drill: bool = False,
    security: bool = False,
    seed: int = SEED.default,
) -> SampleRun:
    """Build a synthetic run; provinces in ``unready`` get red readiness cells."""
    # Synthetic figures, not security: a seeded PRNG is exactly what is wanted.
    rng = random.Random(seed)  # nosec B311
    unready = set(unready)
    roster = load_roster()
    buckets = max(1, int(duration_s / bucket_s))
    per_bucket = total_requests / buckets
    in_fault = (lambda t: fault[0] <= t < fault[1]) if fault else (lambda t: False)

    series, endpoints = [], []
    for service, name, share, median in SAMPLE_ENDPOINTS:
        samples, count_total, fail_total = [], 0, 0
        for b in range(buckets):
            t = b * bucket_s
            slow = 6.0 if in_fault(t) and service == "axis" else 1.0
            count = int(per_bucket * share * rng.uniform(0.9, 1.1))
            failures = int(count * (0.04 if slow > 1 else 0.001) + rng.random())  # stochastic rounding
            p50 = round(median * slow * rng.uniform(0.9, 1.1), 2)
            samples.append(LatencySample(offset_s=t, count=count, failures=failures, p50_ms=p50,
                                         p95_ms=round(p50 * 2.6, 2), p99_ms=round(p50 * 4.1, 2),
                                         intended_p95_ms=round(p50 * 2.8, 2), intended_p99_ms=round(p50 * 4.8, 2)))
            count_total += count
            fail_total += failures
        series.append(LatencySeries(service=service, endpoint=name, samples=samples))
        pct = dict(p50_ms=median, p95_ms=round(median * 2.7, 1), p99_ms=round(median * 4.3, 1),
                   p999_ms=round(median * 7.9, 1), max_ms=round(median * 12.5, 1))
        endpoints.append(EndpointStats(
            service=service, name=name, count=count_total, failures=fail_total, **LatencyPercentiles(**pct).model_dump(),
            intended=LatencyPercentiles(**{k: round(v * 1.08, 1) for k, v in pct.items()}),
            intended_count=count_total,
        ))
    total = sum(e.count for e in endpoints)
    failed = sum(e.failures for e in endpoints)

    provinces, all_communes = [], []
    weight_sum = sum(len(p.commune_codes) for p in roster.provinces)
    for p in roster.provinces:
        reqs = int(total * len(p.commune_codes) / weight_sum)
        checks = _checks(rng, reqs, p.code in unready)
        fails = sum(getattr(checks, f).failures for f in ProvinceChecks.model_fields)
        provinces.append(ProvinceSummary(code=p.code, name=p.name, communes_total=len(p.commune_codes),
                                         communes_active=len(p.commune_codes), requests=reqs, failures=fails,
                                         p95_ms=round(rng.uniform(60, 140) * (8 if p.code in unready else 1), 1),
                                         checks=checks))
        for c in roster.communes_of(p.code)[:3]:
            cr = max(1, reqs // len(p.commune_codes))
            failures = int(cr * (0.2 if p.code in unready else rng.uniform(0, 0.01)))
            p95 = round(rng.uniform(50, 300), 1)  # drawn even when not shown: the random sequence stays the same
            all_communes.append(CommuneStats(code=c.code, name=c.name, province_code=p.code, requests=cr, failures=failures,
                                             p95_ms=p95 if cr >= COMMUNE_P95_MIN_SAMPLES else None, latency_samples=cr))
    worst = rank_worst_communes(all_communes)

    events = [JournalEvent(t=_STARTED, offset_s=0.0, kind="phase", name="login storm", status="started"),
              JournalEvent(t=_STARTED + timedelta(seconds=duration_s * 0.2), offset_s=duration_s * 0.2, kind="phase",
                           name="morning surge", status="started")]
    faults = []
    if fault:
        faults.append(FaultWindow(name="axis-latency-spike", kind="latency", target="axis *",
                                  start_offset_s=fault[0], end_offset_s=fault[1], detail={"ms": 400}))
        fault_events: tuple[tuple[EventKind, float], ...] = (("fault_start", fault[0]), ("fault_stop", fault[1]))
        for kind, offset in fault_events:
            events.append(JournalEvent(t=_STARTED + timedelta(seconds=offset), offset_s=offset, kind=kind,
                                       name="axis-latency-spike", status="ok", detail={"service": "axis", "ms": 400}))
    drill_result = None
    if drill:
        readings: tuple[tuple[Literal["before", "during", "after"], int, int], ...] = (
            ("before", 10, 130), ("during", 55, 410), ("after", 100, 140))
        drill_result = DrillResult(
            name="axis-latency-spike", title="Axis latency spike at peak", verdict="PASS",
            hypothesis=[HypothesisCheck(phase=ph, probe="portal p95 < 800 ms", offset_s=o, expected="< 800 ms",
                                        measured=f"{m} ms", ok=True)
                        for ph, o, m in readings],
            faults=faults,
            reconciliation=[ReconciliationRow(item_kind="dossiers", ok=1204, lost=0, duplicated=0, unexpected=0, recovered=3),
                            ReconciliationRow(item_kind="documents", ok=880, lost=0, duplicated=0, unexpected=0, recovered=12)],
            recovery_time_s=4.5,
        )
    scorecard = None
    if security:
        scorecard = SecurityScorecard(checks=[
            SecurityCheckResult(id="auth.lockout", title="Lockout after repeated wrong passwords",
                                owasp="API2:2023 Broken Authentication",
                                verdict="PASS", summary="6th attempt answered 423 with Retry-After: 300", detected_after_s=1.2,
                                evidence=[EvidenceExcerpt(
                                    request="POST /auth/token {\"account\": \"001090000001\", \"password\": \"[redacted]\"}",
                                    response="423 {\"error\": {\"code\": \"account_locked\"}}")]),
            SecurityCheckResult(id="authz.bola-dossier", title="Citizen A cannot read citizen B's dossier",
                                owasp="API1:2023 BOLA",
                                verdict="PASS", summary="403 for 50 of 50 foreign dossier codes"),
        ])
    journal = Journal(
        provenance=build_provenance(
            run_id=run_id, profile="golive", seed=seed, target_kind="embedded",
            urls={s: f"http://127.0.0.1:{port}" for s, port in (("portal", 8701), ("population", 8702), ("axis", 8703))},
            hosts=["localhost"], started_at=_STARTED, ended_at=_STARTED + timedelta(seconds=duration_s),
            command_line=["dientap", "run", "golive"],
        ),
        events=sorted(events, key=lambda e: e.offset_s),
        timeseries=Timeseries(bucket_s=bucket_s, series=series),
        drill=drill_result,
        security=scorecard,
    )
    summary = Summary(
        run_id=run_id, profile="golive", duration_s=float(duration_s),
        requests=RequestTotals(total=total, failed=failed, rps=round(total / duration_s, 2), intended_total=total),
        endpoints=endpoints, provinces=provinces,
        communes=CommunesSummary(total=len(roster.communes), active=len(roster.communes),
                                 with_failures=sum(1 for c in all_communes if c.failures),
                                 with_p95=sum(1 for c in all_communes if c.p95_ms is not None), worst=worst),
        generator=GeneratorHealth(trustworthy=True, max_schedule_lag_ms=38.0, cpu_percent={"worker-1": 61.0}),
        abort=AbortInfo(),
    )
    return SampleRun(journal, summary)
