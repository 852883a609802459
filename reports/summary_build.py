"""Build ``summary.json`` from a run's records: the latency histograms
(``histograms/latency.hdr``, :mod:`kernel.latency_records`), the load record
(``load.json``, :mod:`reports.load_record`) and the roster. Nothing else: a summary can be
rebuilt from a run directory alone (:func:`summary_from_run_dir`), and the load process
calls the same :func:`build_summary` on the same records at the end of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kernel.hdr import HistogramSummary, SparseHistogram
from kernel.latency_records import HISTOGRAM_FILE, HistogramKey, load_histograms, merge_matching
from kernel.roster import Roster
from reports.load_record import LoadRecord, load_load_record
from reports.summary import (
    CheckFigure,
    CommunesSummary,
    CommuneStats,
    EndpointStats,
    LatencyPercentiles,
    ProvinceChecks,
    ProvinceSummary,
    RequestTotals,
    Summary,
)

__all__ = ["CHECK_ENDPOINTS", "WORST_COMMUNES", "HISTOGRAMS_DIR", "endpoint_stats_of", "build_summary",
           "summary_from_run_dir"]

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
HISTOGRAMS_DIR = "histograms"

Histograms = Mapping[HistogramKey, SparseHistogram]
KeyFailureMap = Mapping[tuple[str, str, str], int]


def endpoint_stats_of(
    histograms: Mapping[HistogramKey, SparseHistogram], key_failures: Mapping[tuple[str, str, str], int]
) -> list[EndpointStats]:
    """Per (service, endpoint) figures for ``summary.json`` (both measures); ``key_failures``
    counts failed requests per (service, endpoint, province)."""
    failures: dict[tuple[str, str], int] = {}
    for (service, endpoint, _province), count in key_failures.items():
        failures[(service, endpoint)] = failures.get((service, endpoint), 0) + count
    pairs = sorted({(k.service, k.endpoint) for k in histograms})
    stats = []
    for service, endpoint in pairs:
        sent = merge_matching(histograms, service, endpoint, measure="service").summary()
        intended = merge_matching(histograms, service, endpoint, measure="intended").summary()
        stats.append(
            EndpointStats(
                service=service,
                name=endpoint,
                count=sent.count,
                failures=failures.get((service, endpoint), 0),
                **_percentiles(sent).model_dump(),
                intended=_percentiles(intended) if intended.count else None,
                intended_count=intended.count or None,
            )
        )
    return stats




def _percentiles(summary: HistogramSummary) -> LatencyPercentiles:
    if not summary.count:
        return LatencyPercentiles()
    return LatencyPercentiles(
        p50_ms=summary.p50_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
        p999_ms=summary.p999_ms,
        max_ms=summary.max_ms,
    )


def _failures_of(key_failures: KeyFailureMap, service: str | None = None, endpoint: str | None = None,
                 province: str | None = None) -> int:
    return sum(
        n
        for (s, e, p), n in key_failures.items()
        if (service is None or s == service) and (endpoint is None or e == endpoint) and (province is None or p == province)
    )


def _check_figure(histograms: Histograms, key_failures: KeyFailureMap, check: str, province: str) -> CheckFigure | None:
    requests = failures = 0
    merged: SparseHistogram | None = None
    for service, endpoint in CHECK_ENDPOINTS[check]:
        hist = merge_matching(histograms, service, endpoint, province)
        if hist.total == 0:
            continue
        requests += hist.total
        failures += _failures_of(key_failures, service, endpoint, province)
        if merged is None:
            merged = hist
        else:
            merged.add(hist)
    if requests == 0:
        return None
    return CheckFigure(requests=requests, failures=failures, p95_ms=merged.summary().p95_ms if merged else None)


def build_summary(record: LoadRecord, histograms: Histograms, roster: Roster) -> Summary:
    """The whole-run figures of ``summary.json`` from the run's records."""
    key_failures = record.failures_by_key()
    duration = max(record.ended_at - record.started_at, 1e-9)
    endpoints = endpoint_stats_of(histograms, key_failures)
    total = sum(e.count for e in endpoints)
    failed = sum(e.failures for e in endpoints)
    communes = record.communes
    provinces = []
    for province in roster.provinces:
        figures = merge_matching(histograms, province=province.code).summary()
        active = sum(1 for c in province.commune_codes if (counts := communes.get(c)) is not None and counts.requests)
        provinces.append(
            ProvinceSummary(
                code=province.code,
                name=province.name,
                communes_total=len(province.commune_codes),
                communes_active=active,
                requests=figures.count,
                failures=_failures_of(key_failures, province=province.code),
                p95_ms=figures.p95_ms if figures.count else None,
                checks=ProvinceChecks(
                    **{check: _check_figure(histograms, key_failures, check, province.code) for check in CHECK_ENDPOINTS}
                ),
            )
        )
    touched = [(code, c) for code, c in communes.items() if c.requests]
    worst = sorted(touched, key=lambda item: (-item[1].failures / item[1].requests, -item[1].failures, item[0]))
    worst_stats = []
    for code, counts in worst[:WORST_COMMUNES]:
        commune = roster.commune(code)
        worst_stats.append(
            CommuneStats(code=code, name=commune.name, province_code=commune.province_code,
                         requests=counts.requests, failures=counts.failures)
        )
    # The schedule speaks in arrivals; requests follow them. What the schedule asked for,
    # in requests, is the requests made scaled by arrivals due ÷ arrivals started.
    due, started = record.generator.arrivals_due, record.generator.arrivals_started
    intended = round(total * due / started) if due and started else None
    return Summary(
        run_id=record.run_id,
        profile=record.profile,
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
        generator=record.generator,
        abort=record.abort,
    )


def summary_from_run_dir(run_dir: str | Path, roster: Roster) -> Summary:
    """Rebuild ``summary.json``'s figures from the records in ``run_dir`` alone."""
    run_dir = Path(run_dir)
    histograms = load_histograms(run_dir / HISTOGRAMS_DIR / HISTOGRAM_FILE)
    return build_summary(load_load_record(run_dir), histograms, roster)
