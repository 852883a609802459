"""Build ``summary.json`` from a run's records: the latency histograms
(``histograms/latency.hdr``, :mod:`kernel.latency_records`), the per-commune latency
sketches (``histograms/communes.hdr``, :mod:`kernel.commune_latency`), the load record
(``load.json``, :mod:`reports.load_record`) and the roster. Nothing else: a summary can be
rebuilt from a run directory alone (:func:`summary_from_run_dir`), and the load process
calls the same :func:`build_summary` on the same records at the end of a run.

**Worst communes** (:func:`rank_worst_communes`), worst first: highest error rate, then
most failed requests, then highest p95; a commune with too few requests for a p95
(:data:`kernel.defaults.COMMUNE_P95_MIN_SAMPLES`) comes after every commune with one at
the same error rate and failures; then by code, so the order is stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kernel.commune_latency import COMMUNE_LATENCY_FILE, load_commune_latency
from kernel.defaults import COMMUNE_P95_MIN_SAMPLES
from kernel.hdr import HistogramSummary, SparseHistogram
from kernel.latency_records import HISTOGRAM_FILE, HistogramKey, load_histograms, merge_matching
from kernel.load_observation import CommuneTally
from kernel.roster import Roster
from reports.histogram_bounds import check_histogram_run
from reports.load_record import LOAD_RECORD_FILE, LoadRecord, load_load_record
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

__all__ = ["CHECK_ENDPOINTS", "WORST_COMMUNES", "HISTOGRAMS_DIR", "endpoint_stats_of", "check_figure",
           "commune_stats_of", "rank_worst_communes", "commune_coverage", "build_summary", "summary_from_run_dir"]

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
KeyFailureMap = Mapping[tuple[str, str, str], int]  # failed (or throttled) requests by key


def endpoint_stats_of(
    histograms: Mapping[HistogramKey, SparseHistogram], key_failures: Mapping[tuple[str, str, str], int],
    key_throttled: Mapping[tuple[str, str, str], int] | None = None,
) -> list[EndpointStats]:
    """Per (service, endpoint) figures for ``summary.json`` (both measures); ``key_failures``
    counts failed requests per (service, endpoint, province), ``key_throttled`` those the
    target throttled."""
    failures = _by_endpoint(key_failures)
    throttled = _by_endpoint(key_throttled or {})
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
                throttled=throttled.get((service, endpoint), 0),
                **_percentiles(sent).model_dump(),
                intended=_percentiles(intended) if intended.count else None,
                intended_count=intended.count or None,
            )
        )
    return stats


def _by_endpoint(counts: KeyFailureMap) -> dict[tuple[str, str], int]:
    summed: dict[tuple[str, str], int] = {}
    for (service, endpoint, _province), count in counts.items():
        summed[(service, endpoint)] = summed.get((service, endpoint), 0) + count
    return summed


def commune_stats_of(code: str, counts: CommuneTally, sketch: SparseHistogram | None, roster: Roster,
                     min_samples: int = COMMUNE_P95_MIN_SAMPLES) -> CommuneStats:
    """One commune's row: its counts, and its p95 when its sketch holds ``min_samples`` or more."""
    commune = roster.commune(code)
    samples = sketch.total if sketch is not None else 0
    p95 = sketch.value_at_percentile(95.0) / 1000 if sketch is not None and samples >= min_samples else None
    return CommuneStats(code=code, name=commune.name, province_code=commune.province_code, requests=counts.requests,
                        failures=counts.failures, p95_ms=p95, latency_samples=samples)


def _worst_first(stats: CommuneStats) -> tuple[float, int, bool, float, str]:
    rate = stats.failures / stats.requests if stats.requests else 0.0
    return (-rate, -stats.failures, stats.p95_ms is None, -(stats.p95_ms or 0.0), stats.code)


def rank_worst_communes(stats: Iterable[CommuneStats], limit: int = WORST_COMMUNES) -> list[CommuneStats]:
    """The ``limit`` worst communes, worst first (the rule is in the module docstring)."""
    return sorted(stats, key=_worst_first)[:limit]


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


def check_figure(histograms: Histograms, key_failures: KeyFailureMap, check: str, province: str,
                 key_throttled: KeyFailureMap | None = None) -> CheckFigure | None:
    """The figure behind one readiness cell: ``check``'s endpoints in ``province`` (None when
    not exercised). The live board (``metrics.board``) calls it on the cell's own histograms."""
    requests = failures = throttled = 0
    merged: SparseHistogram | None = None
    for service, endpoint in CHECK_ENDPOINTS[check]:
        hist = merge_matching(histograms, service, endpoint, province)
        if hist.total == 0:
            continue
        requests += hist.total
        failures += _failures_of(key_failures, service, endpoint, province)
        throttled += _failures_of(key_throttled or {}, service, endpoint, province)
        if merged is None:
            merged = hist
        else:
            merged.add(hist)
    if requests == 0:
        return None
    # The p95 alone: a whole summary() also walks every slot for the mean, 4× the cost, and the
    # live board recomputes these cells every few seconds on the load generator.
    return CheckFigure(requests=requests, failures=failures, throttled=throttled,
                       p95_ms=merged.value_at_percentile(95.0) / 1000 if merged else None)


def commune_coverage(stats: Sequence[CommuneStats], roster: Roster,
                     min_latency_samples: int = COMMUNE_P95_MIN_SAMPLES) -> CommunesSummary:
    """How many communes were on line (``stats``: one row per commune with requests, from
    :func:`commune_stats_of`), how many saw failures or have a p95, and the worst ones; the
    report's rows from the records, or the live board's from the running recorder."""
    return CommunesSummary(
        total=len(roster.communes),
        active=len(stats),
        with_failures=sum(1 for c in stats if c.failures),
        with_p95=sum(1 for c in stats if c.p95_ms is not None),
        min_latency_samples=min_latency_samples,
        worst=rank_worst_communes(stats),
    )


def build_summary(record: LoadRecord, histograms: Histograms, roster: Roster,
                  commune_latency: Mapping[str, SparseHistogram] | None = None,
                  min_latency_samples: int = COMMUNE_P95_MIN_SAMPLES) -> Summary:
    """The whole-run figures of ``summary.json`` from the run's records; without
    ``commune_latency`` (a run from before ``communes.hdr``) no commune has a p95."""
    key_failures = record.failures_by_key()
    key_throttled = record.throttled_by_key()
    duration = max(record.ended_at - record.started_at, 1e-9)
    endpoints = endpoint_stats_of(histograms, key_failures, key_throttled)
    total = sum(e.count for e in endpoints)
    failed = sum(e.failures for e in endpoints)
    throttled = sum(e.throttled for e in endpoints)
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
                throttled=_failures_of(key_throttled, province=province.code),
                p95_ms=figures.p95_ms if figures.count else None,
                checks=ProvinceChecks(**{
                    check: check_figure(histograms, key_failures, check, province.code, key_throttled)
                    for check in CHECK_ENDPOINTS
                }),
            )
        )
    touched = [(code, c) for code, c in communes.items() if c.requests]
    sketches = commune_latency or {}
    stats = [commune_stats_of(code, counts, sketches.get(code), roster, min_latency_samples) for code, counts in touched]
    # The schedule speaks in arrivals; requests follow them. What the schedule asked for,
    # in requests, is the requests made scaled by arrivals due ÷ arrivals started.
    due, started = record.generator.arrivals_due, record.generator.arrivals_started
    intended = round(total * due / started) if due and started else None
    return Summary(
        run_id=record.run_id,
        profile=record.profile,
        duration_s=round(duration, 3),
        requests=RequestTotals(total=total, failed=failed, throttled=throttled, rps=round(total / duration, 2),
                               intended_total=intended),
        endpoints=endpoints,
        provinces=provinces,
        communes=commune_coverage(stats, roster, min_latency_samples),
        generator=record.generator,
        abort=record.abort,
    )


def summary_from_run_dir(run_dir: str | Path, roster: Roster,
                         min_latency_samples: int = COMMUNE_P95_MIN_SAMPLES) -> Summary:
    """Rebuild ``summary.json``'s figures from the records in ``run_dir`` alone (a run
    recorded before ``communes.hdr`` existed gets no per-commune p95)."""
    run_dir = Path(run_dir)
    record = load_load_record(run_dir)
    histogram_file = run_dir / HISTOGRAMS_DIR / HISTOGRAM_FILE
    check_histogram_run(histogram_file, run_dir / LOAD_RECORD_FILE, record.run_id)
    histograms = load_histograms(histogram_file)
    commune_file = run_dir / HISTOGRAMS_DIR / COMMUNE_LATENCY_FILE
    commune_latency = None
    if commune_file.exists():
        check_histogram_run(commune_file, run_dir / LOAD_RECORD_FILE, record.run_id)
        commune_latency = load_commune_latency(commune_file)
    return build_summary(record, histograms, roster, commune_latency, min_latency_samples)
