"""Prometheus metrics of a mock service: requests, latency, in-flight, store sizes, faults.

Labels are bounded: service, route *template*, method and status class — never a raw
path, a commune or an id. Children are pre-bound per (route, method) because a bound
``observe`` costs less than half of ``labels(...).observe`` on this hardware.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kernel.latency_buckets import LATENCY_BUCKETS_S

__all__ = ["ServiceMetrics"]



class _CallbackGauges(Collector):
    """Store sizes and active faults, read at scrape time (no bookkeeping per request)."""

    def __init__(self, service: str, store_sizes: Callable[[], dict[str, int]], faults: Callable[[], dict[str, int]]):
        self.service = service
        self.store_sizes = store_sizes
        self.faults = faults

    def collect(self):
        sizes = GaugeMetricFamily("dientap_mock_store_records", "Records held by the service's store", labels=["service", "kind"])
        for kind, value in sorted(self.store_sizes().items()):
            sizes.add_metric([self.service, kind], value)
        yield sizes
        faults = GaugeMetricFamily("dientap_mock_active_faults", "Injected faults in force", labels=["service", "kind"])
        for kind, value in sorted(self.faults().items()):
            faults.add_metric([self.service, kind], value)
        yield faults


class ServiceMetrics:
    """The metrics of one service, in a registry of its own (several apps may share a process)."""

    def __init__(self, service: str, store_sizes: Callable[[], dict[str, int]], faults: Callable[[], dict[str, int]]):
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dientap_mock_requests", "Requests answered", ["service", "route", "method", "status_class"], registry=self.registry
        )
        self.latency = Histogram(
            "dientap_mock_request_duration_seconds",
            "Time from request received to response complete",
            ["service", "route", "method"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.in_flight = Gauge("dientap_mock_requests_in_flight", "Requests being served", ["service"], registry=self.registry)
        self.registry.register(_CallbackGauges(service, store_sizes, faults))
        # A plain int read at scrape time: the event loop is the only writer, so the
        # gauge's per-call lock (two per request) buys nothing.
        self._in_flight = 0
        self.in_flight.labels(service).set_function(lambda: self._in_flight)
        self._latency_children: dict[tuple[str, str], Histogram] = {}
        self._count_children: dict[tuple[str, str, int], Counter] = {}

    def track_start(self) -> None:
        """A request started."""
        self._in_flight += 1

    def track_end(self, route: str, method: str, status: int, seconds: float) -> None:
        """A request finished with ``status`` after ``seconds``."""
        self._in_flight -= 1
        hist = self._latency_children.get((route, method))
        if hist is None:
            hist = self._latency_children[(route, method)] = self.latency.labels(self.service, route, method)
        hist.observe(seconds)
        klass = status // 100
        counter = self._count_children.get((route, method, klass))
        if counter is None:
            # status 0: the connection was reset by an injected fault, no response was sent
            label = f"{klass}xx" if klass else "reset"
            counter = self._count_children[(route, method, klass)] = self.requests.labels(self.service, route, method, label)
        counter.inc()
