"""Request series of a :class:`~scenarios.latency.LatencyRecorder`, computed at scrape time.

Nothing here runs per request: a scrape walks the recorder's whole-run histograms and
turns each into cumulative bucket counts (:class:`~metrics.buckets.EdgeCounter`). A
histogram whose total has not changed since the last scrape is not walked again, and its
rendered text (see :mod:`metrics.exposition`) is reused.

Label values: ``service``, ``endpoint`` (the route *template* Locust's ``name=`` gives),
``province`` (2-digit code or ``--``) and ``measure`` — ``sent`` (from the actual send)
or ``intended`` (from the schedule's intended start). The recorder calls the first
measure ``service``; it is renamed here so it cannot be confused with the service label.
No commune or id ever becomes a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metrics.buckets import LATENCY_BUCKETS_S, EdgeCounter
from scenarios.latency import HistogramKey, LatencyRecorder

__all__ = ["MEASURE_LABELS", "HistogramSeries", "RequestSeries", "SeriesCache"]

# recorder measure → label value
MEASURE_LABELS = {"service": "sent", "intended": "intended"}


@dataclass(slots=True)
class HistogramSeries:
    """One histogram series: cumulative counts at :data:`LATENCY_BUCKETS_S`, count and sum.

    ``sum_s`` is approximate: HDR keeps slots, not values, so the sum is taken with each
    slot's median equivalent value (within 0.1 % of the true sum at 3 significant figures).
    """

    labels: tuple[str, str, str, str]  # service, endpoint, province, measure label
    cumulative: tuple[int, ...]
    count: int
    sum_s: float
    text: str | None = None  # rendered exposition lines, filled by metrics.exposition


@dataclass(frozen=True, slots=True)
class RequestSeries:
    """Everything request-related one scrape exposes."""

    histograms: list[HistogramSeries]
    requests: list[tuple[tuple[str, str, str], int]]  # (service, endpoint, province) → sent requests
    failures: list[tuple[tuple[str, str, str], int]]


@dataclass
class SeriesCache:
    """Per-key series, recomputed only for histograms whose total changed."""

    edges: EdgeCounter = field(default_factory=lambda: EdgeCounter(LATENCY_BUCKETS_S))
    _by_key: dict[HistogramKey, tuple[int, HistogramSeries]] = field(default_factory=dict)
    recomputed: int = 0  # histograms walked by the last collect (for tests and the bench)

    def collect(self, recorder: LatencyRecorder) -> RequestSeries:
        """The current series of ``recorder`` (whole-run, cumulative)."""
        histograms: list[HistogramSeries] = []
        requests: list[tuple[tuple[str, str, str], int]] = []
        recomputed = 0
        cache = self._by_key
        for key, hist in sorted(recorder.histograms.items()):
            total = hist.total
            cached = cache.get(key)
            if cached is None or cached[0] != total:
                cumulative, sum_us = self.edges.read(hist)
                series = HistogramSeries(
                    labels=(key.service, key.endpoint, key.province, MEASURE_LABELS.get(key.measure, key.measure)),
                    cumulative=cumulative,
                    count=total,
                    sum_s=sum_us / 1_000_000,
                )
                cache[key] = (total, series)
                recomputed += 1
            else:
                series = cached[1]
            histograms.append(series)
            if key.measure == "service":
                requests.append(((key.service, key.endpoint, key.province), total))
        self.recomputed = recomputed
        failures = sorted(recorder.key_failures.items())
        return RequestSeries(histograms=histograms, requests=requests, failures=failures)
