"""The records of ``summary.json`` — whole-run figures (issue #3).

Summary (``SUMMARY_VERSION`` = 1) — exactly the figures of issue #3::

    Summary
     ├── run_id, profile, duration_s
     ├── requests {total, failed, throttled, rps, intended_total?}
     ├── endpoints [EndpointStats]   service, name, count, failures, throttled, p50/p95/p99/p999/max ms
     │                               (send-time latency) and ``intended`` (the same
     │                               percentiles from the intended start time), intended_count?
     ├── endpoint_provinces [EndpointProvinceStats]   optional: the same per province
     ├── provinces [ProvinceSummary] code, name, communes_total, communes_active, requests,
     │                               failures, throttled, p95_ms, checks {sign_in, catalogue,
     │                               dossier_submit, status_sync, population_lookup,
     │                               document_exchange: CheckFigure | None}
     ├── communes {total, active, with_failures, with_p95, min_latency_samples,
     │             worst [CommuneStats]}  code, name, province_code, requests, failures,
     │                                    p95_ms (None below min_latency_samples), latency_samples
     ├── generator {trustworthy, reasons, max_schedule_lag_ms, cpu_percent {worker: %}}
     └── abort {aborted, reason, at_offset_s?}

Reading and writing ``summary.json`` is in :mod:`reports.run_files`.

Percentiles are exact (computed by the load generator from merged HDR histograms) and
in milliseconds. ``endpoints[]`` carries both latency measures: the inherited
percentiles from the actual send time, ``intended`` from the intended start time
(coordinated omission). ``provinces[].checks`` feeds the readiness matrix.

**Throttled by the target** (``throttled``): requests answered 423 or 429 *with* a
``Retry-After`` — the target protecting itself (an account locked, a caller slowed down),
a finding about the target, not a failure of it. They are counted in ``total``/``count``/
``requests`` and in the latency figures, never in ``failed``/``failures``: an error rate is
failures ÷ requests, a throttled rate throttled ÷ requests.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, model_validator

from kernel.defaults import COMMUNE_P95_MIN_SAMPLES
from reports._record import Count, Millis, Offset, check_parts
from reports._record import Record as _Record

__all__ = [
    "SUMMARY_VERSION",
    "READINESS_CHECKS",
    "RequestTotals",
    "LatencyPercentiles",
    "EndpointStats",
    "EndpointProvinceStats",
    "CheckFigure",
    "ProvinceChecks",
    "ProvinceSummary",
    "CommuneStats",
    "CommunesSummary",
    "GeneratorHealth",
    "AbortInfo",
    "Summary",
]

SUMMARY_VERSION: Final = 1

#: The checks of the readiness matrix, in display order (field names of ProvinceChecks).
READINESS_CHECKS: tuple[tuple[str, str], ...] = (
    ("sign_in", "Sign-in"),
    ("catalogue", "Catalogue published"),
    ("dossier_submit", "Dossier submit"),
    ("status_sync", "Status sync"),
    ("population_lookup", "Population look-up"),
    ("document_exchange", "Document send/receive"),
)


class RequestTotals(_Record):
    """Whole-run request counts; ``intended_total`` is what the schedule asked for."""

    total: Count
    failed: Count
    throttled: Count = 0  # by the target (423/429 with Retry-After); not among ``failed``
    rps: float = Field(ge=0)
    intended_total: Count | None = None

    @model_validator(mode="after")
    def _parts_of_the_total(self) -> RequestTotals:
        check_parts("total", self.total, failed=self.failed, throttled=self.throttled)
        return self


class LatencyPercentiles(_Record):
    """Exact percentiles (from HDR histograms) in milliseconds; ``None`` when no samples."""

    p50_ms: Millis | None = None
    p95_ms: Millis | None = None
    p99_ms: Millis | None = None
    p999_ms: Millis | None = None
    max_ms: Millis | None = None


class EndpointStats(LatencyPercentiles):
    """One endpoint (Locust ``name=``, e.g. ``POST /dossiers``) of one service.

    The inherited percentiles measure from the actual send time; ``intended`` from the
    intended start time, over ``intended_count`` requests: those that carried an intended
    start (every request a citizen's journey or an officer's or agency's pacing sent, so
    both sets of columns describe the same requests).
    """

    service: str
    name: str
    count: Count
    failures: Count
    throttled: Count = 0  # by the target; not among ``failures``
    intended: LatencyPercentiles | None = None
    intended_count: Count | None = None

    @model_validator(mode="after")
    def _parts_of_the_count(self) -> EndpointStats:
        check_parts("count", self.count, failures=self.failures, throttled=self.throttled)
        return self


class EndpointProvinceStats(EndpointStats):
    """An endpoint's figures restricted to one province (optional; for per-province budgets)."""

    province_code: str


class CheckFigure(_Record):
    """The figure behind one readiness-matrix cell."""

    requests: Count
    failures: Count
    p95_ms: Millis | None = None
    note: str | None = None  # e.g. "catalogue empty" — shown in the cell's tooltip
    throttled: Count = 0  # by the target; not among ``failures``

    @model_validator(mode="after")
    def _parts_of_the_requests(self) -> CheckFigure:
        check_parts("requests", self.requests, failures=self.failures, throttled=self.throttled)
        return self


class ProvinceChecks(_Record):
    """Per-check figures of a province; ``None`` means the check was not exercised."""

    sign_in: CheckFigure | None = None
    catalogue: CheckFigure | None = None
    dossier_submit: CheckFigure | None = None
    status_sync: CheckFigure | None = None
    population_lookup: CheckFigure | None = None
    document_exchange: CheckFigure | None = None


class ProvinceSummary(_Record):
    """One of the 34 provinces."""

    code: str
    name: str
    communes_total: Count
    communes_active: Count
    requests: Count
    failures: Count
    throttled: Count = 0  # by the target; not among ``failures``
    p95_ms: Millis | None = None
    checks: ProvinceChecks = Field(default_factory=ProvinceChecks)

    @model_validator(mode="after")
    def _parts_of_the_requests(self) -> ProvinceSummary:
        check_parts("requests", self.requests, failures=self.failures, throttled=self.throttled)
        return self


class CommuneStats(_Record):
    """One commune's figures (used for the worst-communes list).

    ``p95_ms`` is over all of the commune's requests (``kernel.commune_latency``), and
    ``None`` when fewer than ``CommunesSummary.min_latency_samples`` were measured
    (``latency_samples`` says how many: reports show "too few").
    """

    code: str
    name: str
    province_code: str
    requests: Count
    failures: Count
    p95_ms: Millis | None = None
    latency_samples: Count = 0

    @model_validator(mode="after")
    def _parts_of_the_requests(self) -> CommuneStats:
        check_parts("requests", self.requests, failures=self.failures)
        return self


class CommunesSummary(_Record):
    """Commune coverage: how many were on line, how many saw failures, how many have a
    p95 (at least ``min_latency_samples`` requests), the worst ones (worst first)."""

    total: Count
    active: Count
    with_failures: Count
    with_p95: Count = 0
    min_latency_samples: int = Field(default=COMMUNE_P95_MIN_SAMPLES, ge=1)
    worst: list[CommuneStats] = Field(default_factory=list)


class GeneratorHealth(_Record):
    """Whether the load generator kept its schedule (a saturated one hides its own lag)."""

    trustworthy: bool
    reasons: list[str] = Field(default_factory=list)
    max_schedule_lag_ms: float | None = None
    schedule_lag_p99_ms: float | None = None  # worst worker's p99 of the 100 ms ticker's overshoot
    cpu_percent: dict[str, float] = Field(default_factory=dict)  # worker id → % of one core
    gc_max_pause_ms: float | None = None  # worst garbage-collector pause on any worker
    gc_steady_max_pause_ms: float | None = None  # ... after spawning completed (when gc.freeze() ran)
    arrivals_due: Count | None = None  # citizen arrivals the schedule asked for
    arrivals_started: Count | None = None  # ... and the ones started (any lateness)
    arrivals_late: Count | None = None  # started later than the lateness bound


class AbortInfo(_Record):
    """Whether an abort rule stopped the run early, and why."""

    aborted: bool = False
    reason: str | None = None
    at_offset_s: Offset | None = None


class Summary(_Record):
    """Whole-run figures (issue #3), computed from the exact HDR histograms."""

    version: Literal[1] = SUMMARY_VERSION
    run_id: str
    profile: str
    duration_s: float = Field(ge=0)
    requests: RequestTotals
    endpoints: list[EndpointStats] = Field(default_factory=list)
    endpoint_provinces: list[EndpointProvinceStats] = Field(default_factory=list)
    provinces: list[ProvinceSummary] = Field(default_factory=list)
    communes: CommunesSummary
    generator: GeneratorHealth
    abort: AbortInfo = Field(default_factory=AbortInfo)
