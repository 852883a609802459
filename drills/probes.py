"""Steady-state probes, read live from the targets once a second, and the client-side view.

Two sources, on purpose:

* **Live, server-side** (:class:`ProbeSampler`): a background thread scrapes each service's
  ``/metrics`` (the mocks' Prometheus histogram and counters) and ``/healthz`` every
  second and evaluates every probe over its window — p95 from the histogram buckets
  (interpolated like PromQL's ``histogram_quantile``), error ratio = (5xx + resets) /
  requests, health = ``/healthz`` 200 within a second. ``/healthz``, ``/metrics``,
  ``/openapi.json`` and ``/admin/*`` are not counted. A restarted process resets its
  counters; the sampler treats a decrease as a restart and counts from zero.
* **Client-side** (:func:`client_window`, :func:`client_recovery`): after the load, the
  journal's per-second series (what the load generator saw, including network faults the
  servers never notice) give the error budget during faults and the recovery time.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from drills.model import Probe
from reports.journal import Journal

__all__ = [
    "ServiceSnapshot",
    "ProbeReading",
    "ProbeSampler",
    "parse_metrics",
    "window_p95_ms",
    "window_error_ratio",
    "ClientWindow",
    "client_window",
    "client_recovery",
]

_EXCLUDED = ("/healthz", "/metrics", "/openapi.json")
LATENCY_METRIC = "dientap_mock_request_duration_seconds"
REQUESTS_METRIC = "dientap_mock_requests"


@dataclass
class ServiceSnapshot:
    """Cumulative figures of one service at one moment (``reachable`` False: scrape failed)."""

    t: float  # when the scrape began
    reachable: bool
    healthy: bool
    until: float | None = None  # when it ended (None: at once)
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)  # (route, method) → [(le, cum)]
    counts: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (route, method, class) → total


def _counted(route: str) -> bool:
    return route not in _EXCLUDED and not route.startswith("/admin/")


def parse_metrics(text: str, t: float, healthy: bool) -> ServiceSnapshot:
    """A snapshot from the Prometheus text a mock serves."""
    snap = ServiceSnapshot(t=t, reachable=True, healthy=healthy)
    # Dispatch on sample names, not family names: robust to how the exposition groups them.
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if not _counted(route):
                continue
            if sample.name == f"{LATENCY_METRIC}_bucket":
                key = (route, sample.labels.get("method", ""))
                le = math.inf if sample.labels["le"] in ("+Inf", "inf") else float(sample.labels["le"])
                snap.buckets.setdefault(key, []).append((le, sample.value))
            elif sample.name == f"{REQUESTS_METRIC}_total":
                key3 = (route, sample.labels.get("method", ""), sample.labels.get("status_class", ""))
                snap.counts[key3] = sample.value
    for series in snap.buckets.values():
        series.sort()
    return snap


def _matches(key: tuple[str, ...], probe: Probe) -> bool:
    return (probe.route is None or key[0] == probe.route) and (probe.method is None or key[1] == probe.method)


def _restarted(new: ServiceSnapshot, old: ServiceSnapshot) -> bool:
    return sum(new.counts.values()) < sum(old.counts.values())


def window_p95_ms(new: ServiceSnapshot, old: ServiceSnapshot | None, probe: Probe) -> float | None:
    """Server-side p95 (ms) of the matching routes between two snapshots; None without requests."""
    base = None if old is None or _restarted(new, old) else old
    merged: dict[float, float] = {}
    for key, series in new.buckets.items():
        if not _matches(key, probe):
            continue
        before = dict(base.buckets.get(key, [])) if base is not None else {}
        for le, cum in series:
            merged[le] = merged.get(le, 0.0) + cum - before.get(le, 0.0)
    if not merged:
        return None
    edges = sorted(merged)
    total = merged[edges[-1]]
    if total <= 0:
        return None
    rank = 0.95 * total
    lower_edge, lower_cum = 0.0, 0.0
    for le in edges:
        cum = merged[le]
        if cum >= rank:
            if math.isinf(le):
                return lower_edge * 1000  # beyond the last finite bucket: report its edge (PromQL does too)
            span = cum - lower_cum
            fraction = (rank - lower_cum) / span if span > 0 else 1.0
            return (lower_edge + (le - lower_edge) * fraction) * 1000
        lower_edge, lower_cum = le, cum
    return lower_edge * 1000


def window_error_ratio(new: ServiceSnapshot, old: ServiceSnapshot | None, probe: Probe) -> tuple[float | None, int]:
    """(error ratio, requests) of the matching routes between two snapshots; errors = 5xx + resets."""
    base = None if old is None or _restarted(new, old) else old
    total = errors = 0.0
    for key, value in new.counts.items():
        if not _matches(key, probe):
            continue
        delta = value - (base.counts.get(key, 0.0) if base is not None else 0.0)
        total += delta
        if key[2] in ("5xx", "reset"):
            errors += delta
    if total <= 0:
        return None, 0
    return errors / total, int(total)


@dataclass(frozen=True)
class ProbeReading:
    """One evaluation of one probe: when (wall clock), what was measured, whether it held."""

    t: float  # when the scrape behind it began
    probe: int  # index into the hypothesis' probes
    ok: bool
    measured: str
    # When that scrape ended. A scrape begun just before a fault and answered after it (the
    # portal SIGKILLed mid-request: "unhealthy") is no reading of the state before the fault.
    until: float | None = None

    @property
    def ended(self) -> float:
        return self.t if self.until is None else self.until


SCRAPE_TIMEOUT_S = 5.0


class ProbeSampler:
    """Scrapes the services once a second in a thread and evaluates the probes (bounded history)."""

    def __init__(self, urls: dict[str, str], probes: list[Probe], *, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.time):
        self.urls = dict(urls)
        self.probes = list(probes)
        self.interval_s = interval_s
        self.clock = clock
        self.readings: list[ProbeReading] = []
        keep = int(max([p.window_s for p in probes] + [5.0]) / interval_s) + 3
        self._history: dict[str, deque[ServiceSnapshot]] = {s: deque(maxlen=keep) for s in self.urls}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A scrape that is merely slow (a busy service on a saturated machine) is a reading,
        # not "metrics unreachable": 1 s once failed a drill's hypothesis for one sample.
        # Prometheus' own default scrape_timeout is 10 s; half of it keeps the 1 s cadence
        # from drifting far when a service is slow.
        self._http = httpx.Client(timeout=SCRAPE_TIMEOUT_S)
        self._lock = threading.Lock()

    # -- sampling -------------------------------------------------------------------

    def snapshot(self, service: str) -> ServiceSnapshot:
        """Scrape one service now."""
        now = self.clock()
        url = self.urls[service]
        try:
            healthy = self._http.get(f"{url}/healthz").status_code == 200
            response = self._http.get(f"{url}/metrics")
            if response.status_code != 200:
                return ServiceSnapshot(t=now, reachable=False, healthy=healthy, until=self.clock())
            snap = parse_metrics(response.text, now, healthy)
            snap.until = self.clock()
            return snap
        except (httpx.HTTPError, ValueError):
            return ServiceSnapshot(t=now, reachable=False, healthy=False, until=self.clock())

    def _window_start(self, service: str, now: float, window_s: float) -> ServiceSnapshot | None:
        candidates = [s for s in self._history[service] if s.reachable and s.t <= now - window_s + 0.5]
        return candidates[-1] if candidates else None

    def evaluate(self, snapshots: dict[str, ServiceSnapshot]) -> list[ProbeReading]:
        """Evaluate every probe on the newest snapshots (and the history for windows)."""
        readings = []
        for index, probe in enumerate(self.probes):
            snap = snapshots.get(probe.service)
            if snap is None:
                continue
            reading = functools.partial(ProbeReading, snap.t, index, until=snap.until)  # (ok, measured)
            if probe.kind == "healthy":
                readings.append(reading(snap.healthy, "healthy" if snap.healthy else "unhealthy"))
                continue
            if not snap.reachable:
                readings.append(reading(False, "metrics unreachable"))
                continue
            old = self._window_start(probe.service, snap.t, probe.window_s)
            if probe.kind == "p95_ms":
                p95 = window_p95_ms(snap, old, probe)
                if p95 is None:
                    readings.append(reading(True, "no requests"))
                else:
                    readings.append(reading(p95 <= (probe.max or 0), f"{p95:.0f} ms"))
            else:
                ratio, total = window_error_ratio(snap, old, probe)
                if ratio is None:
                    readings.append(reading(True, "no requests"))
                else:
                    readings.append(reading(ratio <= (probe.max or 0), f"{ratio:.3f} of {total}"))
        return readings

    def sample_once(self) -> list[ProbeReading]:
        """Scrape every probed service, evaluate, remember; returns the new readings."""
        services = sorted({p.service for p in self.probes})
        snapshots: dict[str, ServiceSnapshot] = {s: self.snapshot(s) for s in services if s in self.urls}
        readings = self.evaluate(snapshots)
        with self._lock:
            for service, snap in snapshots.items():
                self._history[service].append(snap)
            self.readings.extend(readings)
        return readings

    # -- thread ---------------------------------------------------------------------

    def start(self) -> ProbeSampler:
        """Sample every ``interval_s`` in a daemon thread until :meth:`stop`."""
        if not self.probes:
            return self

        def loop() -> None:
            while not self._stop.is_set():
                started = time.monotonic()
                with contextlib.suppress(Exception):  # a failing probe must never stop the drill
                    self.sample_once()
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

        self._thread = threading.Thread(target=loop, name="dientap-probes", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._http.close()

    def snapshot_readings(self) -> list[ProbeReading]:
        """A copy of every reading so far."""
        with self._lock:
            return list(self.readings)


# --------------------------------------------------------------------------- client-side


@dataclass(frozen=True)
class ClientWindow:
    """What the load generator saw of some services over a time window."""

    requests: int
    failures: int
    worst_p95_ms: float | None

    @property
    def error_ratio(self) -> float | None:
        """failures / requests (None without requests)."""
        return self.failures / self.requests if self.requests else None


def _buckets(journal: Journal, services: list[str]) -> dict[float, tuple[int, int, float | None]]:
    """Per-second (count, failures, worst p95) of ``services``, keyed by bucket offset."""
    merged: dict[float, tuple[int, int, float | None]] = {}
    for series in journal.timeseries.series:
        if series.service not in services:
            continue
        for sample in series.samples:
            key = round(sample.offset_s, 3)
            count, failures, p95 = merged.get(key, (0, 0, None))
            worst = p95 if sample.p95_ms is None else max(p95 or 0.0, sample.p95_ms)
            merged[key] = (count + sample.count, failures + sample.failures, worst)
    return merged


def client_window(journal: Journal, services: list[str], start_s: float, end_s: float) -> ClientWindow:
    """The load's view of ``services`` between two journal offsets."""
    requests = failures = 0
    worst: float | None = None
    for offset, (count, fails, p95) in _buckets(journal, services).items():
        if start_s <= offset < end_s:
            requests += count
            failures += fails
            if p95 is not None and count:
                worst = p95 if worst is None else max(worst, p95)
    return ClientWindow(requests, failures, worst)


def client_recovery(journal: Journal, services: list[str], fault_end_s: float, *, max_error_ratio: float,
                    max_p95_ms: float, stable_buckets: int = 3) -> float | None:
    """Seconds from ``fault_end_s`` until the load saw ``stable_buckets`` good seconds in a row.

    A good second has traffic, an error ratio ≤ ``max_error_ratio`` and a p95 ≤
    ``max_p95_ms``; seconds without traffic neither count nor break the run. None when the
    services never recovered before the load ended.
    """
    buckets = sorted((o, v) for o, v in _buckets(journal, services).items() if o + 1.0 > fault_end_s)
    streak_start: float | None = None
    streak = 0
    for offset, (count, failures, p95) in buckets:
        if count == 0:
            continue
        good = failures / count <= max_error_ratio and (p95 is None or p95 <= max_p95_ms)
        if good:
            if streak == 0:
                streak_start = offset
            streak += 1
            if streak >= stable_buckets and streak_start is not None:
                return max(0.0, streak_start - fault_end_s)
        else:
            streak, streak_start = 0, None
    return None
