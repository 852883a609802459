"""Prometheus exporter of a dry run, served by the Locust process that holds the merged
recorder (the local runner, or the master of a distributed run — never a worker).

Everything is computed at scrape time from what the load already keeps, read through
:class:`kernel.load_observation.LoadObservation` (the harness's extension on the
``Environment``): the whole-run exact HDR histograms, per-key failures, arrivals due /
started, the abort rule, and Locust's user counts — so recording a request costs nothing
extra, and metrics import nothing of the scenarios.

Families (no commune or id label anywhere)::

    dientap_request_duration_seconds{service,endpoint,province,measure}  histogram
    dientap_requests_total{service,endpoint,province}                    counter
    dientap_request_failures_total{service,endpoint,province}            counter
    dientap_active_actors{persona}                                       gauge
    dientap_arrivals_intended_total / dientap_arrivals_started_total     counter
    dientap_arrivals_behind_total{reason="late|dropped_late|shed"}       counter
    dientap_abort_state{rule="error_rate|p99"}                           gauge 0/1
    dientap_drill_fault_active{fault,kind}                               gauge 0/1
    dientap_run_start_time_seconds, dientap_exporter_render_seconds      gauge
    dientap_exporter_render_cpu_seconds_total                            counter

Two equivalent read paths: :func:`build_registry` gives a ``prometheus_client`` registry of
custom collectors (any prometheus_client tooling works on it), and :class:`MetricsExporter`
serves the same samples with the request families rendered by :mod:`metrics.exposition`
(cached per histogram) because ``generate_latest`` costs too much per scrape at national
cardinality.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from kernel.load_observation import ArrivalTotals, LatencyObservation, LoadObservation, observe
from metrics.buckets import LATENCY_BUCKETS_S
from metrics.drill_state import DrillState
from metrics.exposition import (
    DURATION,
    DURATION_HELP,
    FAILURES,
    FAILURES_HELP,
    REQUESTS,
    REQUESTS_HELP,
    render_request_series,
)
from metrics.guarded_server import check_listen_host, guarded_wsgi_server, json_error
from metrics.series import SeriesCache

__all__ = [
    "METRICS_LISTEN_ENV",
    "ABORT_RULES",
    "DrillState",
    "RequestCollector",
    "RunStateCollector",
    "DrillStateCollector",
    "MetricsExporter",
    "build_registry",
    "attach_exporter",
    "attach_from_env",
]

log = logging.getLogger("dientap.metrics")

METRICS_LISTEN_ENV = "DIENTAP_METRICS_LISTEN"  # "127.0.0.1:9646": where the run's exporter listens
ABORT_RULES = ("error_rate", "p99")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

class RequestCollector(Collector):
    """Latency histograms and request/failure counters of a ``LatencyRecorder``."""

    def __init__(self, recorder: LatencyObservation, cache: SeriesCache | None = None) -> None:
        self.recorder = recorder
        self.cache = cache or SeriesCache(slot_budget=None)  # the reference path: always every histogram

    def collect(self) -> Iterator[Metric]:
        series = self.cache.collect(self.recorder)
        duration = HistogramMetricFamily(DURATION, DURATION_HELP, labels=["service", "endpoint", "province", "measure"])
        for h in series.histograms:
            buckets = [(floatToGoString(edge), n) for edge, n in zip(LATENCY_BUCKETS_S, h.cumulative, strict=False)]
            buckets.append(("+Inf", h.count))
            duration.add_metric(list(h.labels), buckets, h.sum_s)
        yield duration
        requests = CounterMetricFamily(REQUESTS, REQUESTS_HELP, labels=["service", "endpoint", "province"])
        for key, n in series.requests:
            requests.add_metric(list(key), n)
        yield requests
        failures = CounterMetricFamily(FAILURES, FAILURES_HELP, labels=["service", "endpoint", "province"])
        for key, n in series.failures:
            failures.add_metric(list(key), n)
        yield failures


class DrillStateCollector(Collector):
    """``dientap_drill_fault_active{fault, kind}`` from :class:`DrillState`."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "dientap_drill_fault_active", "1 while a drill fault is in force, 0 after it was cleared", labels=["fault", "kind"]
        )
        for fault in DrillState.faults():
            family.add_metric([fault.name, fault.kind], 1.0 if fault.active else 0.0)
        yield family


class RunStateCollector(Collector):
    """Actors, arrivals, abort state and run start of the harness on ``environment``."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.last_render_s = 0.0
        self.render_cpu_s = 0.0

    def collect(self) -> Iterator[Metric]:
        load = observe(self.environment)
        yield self._actors(load)
        arrivals = load.arrival_totals() if load is not None else ArrivalTotals()
        intended = CounterMetricFamily("dientap_arrivals_intended", "Citizen arrivals the open-model schedule made due")
        intended.add_metric([], arrivals.due)
        yield intended
        started = CounterMetricFamily("dientap_arrivals_started", "Citizen arrivals the generator actually started")
        started.add_metric([], arrivals.started)
        yield started
        behind = CounterMetricFamily(
            "dientap_arrivals_behind",
            "Arrivals started late, dropped as too late, or shed at the in-flight cap",
            labels=["reason"],
        )
        behind.add_metric(["late"], arrivals.late)
        behind.add_metric(["dropped_late"], arrivals.dropped_late)
        behind.add_metric(["shed"], arrivals.shed)
        yield behind
        abort = GaugeMetricFamily("dientap_abort_state", "1 when an abort rule stopped the run", labels=["rule"])
        fired = load.abort_rule() if load is not None else None
        for rule in ABORT_RULES:
            abort.add_metric([rule], 1.0 if fired == rule else 0.0)
        yield abort
        start = GaugeMetricFamily("dientap_run_start_time_seconds", "When the load started (Unix time; 0 before)")
        start.add_metric([], float((load.started_at if load is not None else None) or 0.0))
        yield start
        render = GaugeMetricFamily("dientap_exporter_render_seconds", "Time the previous scrape took to render")
        render.add_metric([], self.last_render_s)
        yield render
        cpu = CounterMetricFamily(
            "dientap_exporter_render_cpu_seconds", "Load-generator CPU spent rendering scrapes (the exporter's whole cost)"
        )
        cpu.add_metric([], self.render_cpu_s)
        yield cpu

    def _actors(self, load: LoadObservation | None) -> Metric:
        family = GaugeMetricFamily("dientap_active_actors", "Actors running now, by persona", labels=["persona"])
        runner = getattr(self.environment, "runner", None)
        # A master runs no users itself: it sums what its workers report.
        reported = getattr(runner, "reported_user_classes_count", None)
        counts = dict(reported if reported is not None else getattr(runner, "user_classes_count", None) or {})
        citizens = load.citizens_in_flight() if load is not None else None
        if citizens is not None:
            counts["Citizen"] = citizens
        for persona, count in sorted(counts.items()):
            family.add_metric([persona], float(count))
        return family


def _observed_recorder(environment: Any) -> LatencyObservation:
    load = observe(environment)
    if load is None:
        raise ValueError("environment has no dientap load: call scenarios.harness.install first")
    return load.recorder


def build_registry(environment: Any, recorder: LatencyObservation | None = None) -> CollectorRegistry:
    """A registry with every dientap collector for ``environment`` (reference read path)."""
    registry = CollectorRegistry(auto_describe=False)
    recorder = recorder if recorder is not None else _observed_recorder(environment)
    registry.register(RequestCollector(recorder))
    registry.register(RunStateCollector(environment))
    registry.register(DrillStateCollector())
    return registry


class MetricsExporter:
    """The scrape endpoint of one run: a WSGI app over the collectors, served by gevent."""

    def __init__(self, environment: Any, recorder: LatencyObservation | None = None, process_metrics: bool = True) -> None:
        self.environment = environment
        self.recorder = recorder if recorder is not None else _observed_recorder(environment)
        self.cache = SeriesCache()
        self.run_state = RunStateCollector(environment)
        self.small = CollectorRegistry(auto_describe=False)
        self.small.register(self.run_state)
        self.small.register(DrillStateCollector())
        if process_metrics:
            ProcessCollector(registry=self.small)  # the generator's own CPU and memory
        self.scrapes = 0
        self.last_scrape_at = 0.0  # monotonic
        self.full_refresh = False  # set once the load stopped: walk every changed histogram
        self.server: Any = None
        self.url: str | None = None

    def render(self) -> bytes:
        """The full exposition text of one scrape."""
        began, cpu = time.perf_counter(), time.process_time()
        series = self.cache.collect(self.recorder, full=self.full_refresh)
        body = generate_latest(self.small) + render_request_series(series).encode("utf-8")
        self.run_state.last_render_s = time.perf_counter() - began
        self.run_state.render_cpu_s += time.process_time() - cpu
        return body

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """WSGI app: ``GET /metrics`` (and ``/``); anything else is a JSON 404/405."""
        path = environ.get("PATH_INFO", "/")
        if path not in ("/metrics", "/"):
            return json_error(start_response, "404 Not Found", "not_found", f"no route {path}; the metrics are at /metrics")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return json_error(start_response, "405 Method Not Allowed", "method_not_allowed", "use GET /metrics",
                               [("Allow", "GET, HEAD")])
        try:
            body = self.render()
        except Exception:  # a failing scrape is logged and answered, never kills the run
            log.exception("rendering the metrics failed")
            return json_error(start_response, "500 Internal Server Error", "render_failed", "see the load generator's log")
        self.scrapes += 1
        self.last_scrape_at = time.monotonic()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Start serving in this process's gevent hub; returns the scrape URL."""
        self.server = guarded_wsgi_server((host, port), self.wsgi, log)
        self.server.start()
        bound = self.server.server_port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/metrics"
        return self.url

    def linger(self, timeout_s: float = 5.0) -> bool:
        """Wait (bounded) for one more scrape, so Prometheus sees the final figures; only
        when something has been scraping. True when a scrape came."""
        import gevent

        if not self.scrapes:
            return False
        since = time.monotonic()
        deadline = since + timeout_s
        while time.monotonic() < deadline:
            if self.last_scrape_at >= since:
                return True
            gevent.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self.server is not None:
            self.server.stop(timeout=0.2)  # then idle keep-alive handlers (a scraper, a page) are killed
            self.server = None


def attach_exporter(
    environment: Any, port: int = 0, host: str = "127.0.0.1", *, allow_remote: bool = False, linger_s: float = 5.0
) -> str | None:
    """Serve the run's metrics from this Locust process; returns the scrape URL.

    Call after the harness installed its load observation (``scenarios.harness.install``).
    Returns ``None`` on a worker: workers ship their histograms to the master, which
    serves the merged figures. Port 0 picks a free port. On ``quitting`` it waits up to
    ``linger_s`` for a last scrape, then stops.
    """
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        return None
    check_listen_host(host, allow_remote)
    exporter = MetricsExporter(environment)
    url = exporter.serve(port, host)

    def on_quitting(**_kw: Any) -> None:
        # The load has stopped: nothing competes for the core, so the last scrape may walk
        # every histogram and carry exactly the figures summary.json reports.
        exporter.full_refresh = True
        exporter.linger(linger_s)
        exporter.stop()

    environment.events.quitting.add_listener(on_quitting)
    log.info("metrics at %s", url)
    return url


def attach_from_env(environment: Any) -> str | None:
    """:func:`attach_exporter` on ``$DIENTAP_METRICS_LISTEN`` (``host:port``) when it is set."""
    listen = os.environ.get(METRICS_LISTEN_ENV)
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{METRICS_LISTEN_ENV}: expected host:port, got {listen!r}")
    return attach_exporter(environment, int(port), host.strip("[]"))


