"""Request series of the load's recorder (:class:`kernel.load_observation.LatencyObservation`),
computed at scrape time.

Nothing here runs per request: a scrape walks the recorder's whole-run histograms and
turns each into cumulative bucket counts (:class:`~metrics.buckets.EdgeCounter`). A
histogram whose total has not changed since the last scrape is not walked again, and its
rendered text (see :mod:`metrics.exposition`) is reused.

The walk costs time in proportion to the histograms' HDR slots (≈ 30 ns a slot). At
national cardinality (≈ 1,000 histograms) after a long run that is hundreds of thousands
of slots — tens of ms of the generator's only core, every second. So one scrape refreshes
changed histograms oldest-first up to ``slot_budget`` slots; the rest keep their previous
(consistent) figures and are refreshed by the next scrapes, a few seconds later at worst.
:meth:`SeriesCache.collect` with ``full=True`` (used once the load has stopped) refreshes
everything, so the final scrape carries exactly the run's figures.

Each key's request count *and* failure count are captured with its ``sent`` histogram,
so ``failures / requests`` is always a ratio of figures taken at the same moment.

Label values: ``service``, ``endpoint`` (the route *template* Locust's ``name=`` gives),
``province`` (2-digit code or ``--``) and ``measure`` — ``sent`` (from the actual send)
or ``intended`` (from the schedule's intended start). The recorder calls the first
measure ``service``; it is renamed here so it cannot be confused with the service label.
No commune or id ever becomes a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel.latency_records import HistogramKey
from kernel.load_observation import LatencyObservation
from metrics.buckets import LATENCY_BUCKETS_S, EdgeCounter

__all__ = ["MEASURE_LABELS", "DEFAULT_SLOT_BUDGET", "HistogramSeries", "RequestSeries", "SeriesCache"]

# recorder measure → label value
MEASURE_LABELS = {"service": "sent", "intended": "intended"}
# ≈ 7 ms of numpy work per scrape on this hardware; a histogram costs its slots + this.
DEFAULT_SLOT_BUDGET = 200_000
_PER_HISTOGRAM_COST = 200


@dataclass(slots=True)
class HistogramSeries:
    """One histogram series: cumulative counts at :data:`LATENCY_BUCKETS_S`, count and sum.

    ``sum_s`` is approximate: HDR keeps slots, not values, so the sum is taken with each
    slot's median equivalent value (within 0.1 % of the true sum at 3 significant figures).
    ``failures`` is the key's failure count when this (``sent``) series was taken.
    """

    labels: tuple[str, str, str, str]  # service, endpoint, province, measure label
    cumulative: tuple[int, ...]
    count: int
    sum_s: float
    failures: int = 0
    text: str | None = None  # rendered exposition lines, filled by metrics.exposition


@dataclass(frozen=True, slots=True)
class RequestSeries:
    """Everything request-related one scrape exposes."""

    histograms: list[HistogramSeries]
    requests: list[tuple[tuple[str, str, str], int]]  # (service, endpoint, province) → sent requests
    failures: list[tuple[tuple[str, str, str], int]]
    stale: int = 0  # histograms whose figures are older than this scrape


@dataclass
class SeriesCache:
    """Per-key series, recomputed only for histograms whose total changed, within a budget."""

    edges: EdgeCounter = field(default_factory=lambda: EdgeCounter(LATENCY_BUCKETS_S))
    slot_budget: int | None = DEFAULT_SLOT_BUDGET  # None: refresh every changed histogram
    _by_key: dict[HistogramKey, tuple[int, HistogramSeries]] = field(default_factory=dict)
    _refreshed_at: dict[HistogramKey, int] = field(default_factory=dict)
    _scrape: int = 0
    recomputed: int = 0  # histograms walked by the last collect (for tests and the bench)
    stale: int = 0  # changed histograms the last collect left for later

    def collect(self, recorder: LatencyObservation, full: bool = False) -> RequestSeries:
        """The current series of ``recorder`` (whole-run, cumulative)."""
        self._scrape += 1
        cache = self._by_key
        hists = recorder.histograms
        changed = [key for key, hist in hists.items() if (cached := cache.get(key)) is None or cached[0] != hist.total]
        budget = None if full else self.slot_budget
        if budget is not None:
            # Oldest first, so every changed histogram is refreshed within a few scrapes.
            changed.sort(key=lambda k: self._refreshed_at.get(k, -1))
        recomputed = 0
        for key in changed:
            hist = hists[key]
            if budget is not None:
                if budget <= 0 and key in cache:
                    continue  # keeps its previous figures; a new key is always shown
                budget -= len(hist.counts) + _PER_HISTOGRAM_COST
            self._refresh(recorder, key)
            recomputed += 1
        self.recomputed, self.stale = recomputed, len(changed) - recomputed
        histograms: list[HistogramSeries] = []
        requests: list[tuple[tuple[str, str, str], int]] = []
        failures: list[tuple[tuple[str, str, str], int]] = []
        for key in sorted(hists):
            series = cache[key][1]
            histograms.append(series)
            if key.measure == "service":
                requests.append(((key.service, key.endpoint, key.province), series.count))
                failures.append(((key.service, key.endpoint, key.province), series.failures))
        return RequestSeries(histograms=histograms, requests=requests, failures=failures, stale=self.stale)

    def _refresh(self, recorder: LatencyObservation, key: HistogramKey) -> None:
        hist = recorder.histograms[key]
        total = hist.total
        cumulative, sum_us = self.edges.read(hist)
        failures = recorder.key_failures.get((key.service, key.endpoint, key.province), 0) if key.measure == "service" else 0
        series = HistogramSeries(
            labels=(key.service, key.endpoint, key.province, MEASURE_LABELS.get(key.measure, key.measure)),
            cumulative=cumulative,
            count=total,
            sum_s=sum_us / 1_000_000,
            failures=failures,
        )
        self._by_key[key] = (total, series)
        self._refreshed_at[key] = self._scrape
