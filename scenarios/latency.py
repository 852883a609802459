"""Exact latency recording: HDR histograms per (service, endpoint, province, measure).

Two measures are kept for every response:

* ``service`` — from the actual send (Locust's ``response_time``);
* ``intended`` — from the *intended* start time the schedule gave the request, so that
  a stall that delays sending (coordinated omission) shows up. Only requests whose
  request context carries ``intended_start`` get this measure.

A persona passes what the recorder needs through Locust's request ``context``::

    self.client.post("/dossiers", json=body, name="POST /dossiers",
                     context=request_context("portal", "01", commune="00004",
                                             intended_start=arrival.intended_start))

``intended_start`` is a ``time.time()`` reading (seconds since the epoch) — the same
clock as the request event's ``start_time``, so intended latency is exact:
``(start_time − intended_start) + response_time``.

Besides the whole-run histograms the recorder keeps per-second buckets per
(service, endpoint) — count, failures and 2-significant-digit histograms of both
measures — for the journal's charts, and per-commune request/failure counters (kept in
memory and files only, never as Prometheus labels).

In distributed runs each worker's recorder is drained with :meth:`LatencyRecorder.take_delta`
and the master :meth:`LatencyRecorder.absorb`\\ s the deltas (see ``scenarios.distributed``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

from reports.journal import EndpointStats, LatencyPercentiles, LatencySample, LatencySeries, Timeseries
from scenarios.hdr import HistogramSummary, SparseHistogram

__all__ = [
    "CTX_COMMUNE",
    "CTX_INTENDED_START",
    "CTX_PROVINCE",
    "CTX_SERVICE",
    "UNKNOWN_PROVINCE",
    "Measure",
    "HistogramKey",
    "CommuneCounts",
    "RecorderDelta",
    "LatencyRecorder",
    "request_context",
    "load_histograms",
    "merge_histogram_maps",
]

CTX_SERVICE = "service"
CTX_PROVINCE = "province"
CTX_COMMUNE = "commune"
CTX_INTENDED_START = "intended_start"
UNKNOWN_PROVINCE = "--"
HISTOGRAM_FILE = "latency.hdr"
PERCENTILES_FILE = "percentiles.json"
_BUCKET_DIGITS = 2  # per-second chart buckets: 1 % resolution is plenty for a chart

Measure = Literal["service", "intended"]


class HistogramKey(NamedTuple):
    """What one whole-run histogram is about."""

    service: str
    endpoint: str
    province: str
    measure: Measure


def request_context(
    service: str, province: str, commune: str | None = None, intended_start: float | None = None
) -> dict[str, Any]:
    """The Locust request ``context`` the recorder reads (pass it as ``context=``)."""
    ctx: dict[str, Any] = {CTX_SERVICE: service, CTX_PROVINCE: province}
    if commune is not None:
        ctx[CTX_COMMUNE] = commune
    if intended_start is not None:
        ctx[CTX_INTENDED_START] = intended_start
    return ctx


@dataclass(slots=True)
class CommuneCounts:
    """Requests and failures attributed to one commune."""

    requests: int = 0
    failures: int = 0


@dataclass(slots=True)
class _Bucket:
    count: int = 0
    failures: int = 0
    service: SparseHistogram = field(default_factory=lambda: SparseHistogram(_BUCKET_DIGITS))
    intended: SparseHistogram = field(default_factory=lambda: SparseHistogram(_BUCKET_DIGITS))

    def add(self, other: _Bucket) -> None:
        self.count += other.count
        self.failures += other.failures
        self.service.add(other.service)
        self.intended.add(other.intended)


@dataclass(frozen=True, slots=True)
class _SecondFigures:
    """A compacted per-second bucket: its histograms reduced to the charted percentiles."""

    count: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    intended_p95_ms: float | None
    intended_p99_ms: float | None

    @classmethod
    def of(cls, b: _Bucket) -> _SecondFigures:
        sp = b.service.percentiles((50.0, 95.0, 99.0)) if b.service.total else None
        ip = b.intended.percentiles((95.0, 99.0)) if b.intended.total else None
        return cls(
            count=b.count,
            failures=b.failures,
            p50_ms=sp[50.0] / 1000 if sp else None,
            p95_ms=sp[95.0] / 1000 if sp else None,
            p99_ms=sp[99.0] / 1000 if sp else None,
            intended_p95_ms=ip[95.0] / 1000 if ip else None,
            intended_p99_ms=ip[99.0] / 1000 if ip else None,
        )


@dataclass
class RecorderDelta:
    """Everything recorded since the last drain, in a msgpack-friendly wire form.

    Histograms travel as standard HdrHistogram V2 encodings (base64 text).
    """

    histograms: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    buckets: list[tuple[str, str, int, int, int, str, str]] = field(default_factory=list)
    communes: list[tuple[str, int, int]] = field(default_factory=list)
    key_failures: list[tuple[str, str, str, int]] = field(default_factory=list)  # service, endpoint, province
    requests: int = 0

    def is_empty(self) -> bool:
        """True when nothing was recorded."""
        return not (self.histograms or self.buckets or self.communes or self.key_failures)

    def to_wire(self) -> dict[str, Any]:
        """Plain lists/ints/strs for Locust's message transport."""
        return {
            "histograms": [list(row) for row in self.histograms],
            "buckets": [list(row) for row in self.buckets],
            "communes": [list(row) for row in self.communes],
            "key_failures": [list(row) for row in self.key_failures],
            "requests": self.requests,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RecorderDelta:
        """Inverse of :meth:`to_wire`."""
        return cls(
            histograms=[tuple(row) for row in data.get("histograms", [])],  # type: ignore[misc]
            buckets=[tuple(row) for row in data.get("buckets", [])],  # type: ignore[misc]
            communes=[tuple(row) for row in data.get("communes", [])],  # type: ignore[misc]
            key_failures=[tuple(row) for row in data.get("key_failures", [])],  # type: ignore[misc]
            requests=int(data.get("requests", 0)),
        )


class LatencyRecorder:
    """Records every response into exact HDR histograms (µs, 1 µs – 1 h, 3 digits).

    Hook it to Locust with ``environment.events.request.add_listener(recorder.on_request)``
    (``scenarios.distributed.attach_recorder`` does that and the worker→master shipping).
    Recording after :meth:`seal` is refused and counted in :attr:`late_after_seal`, so a
    worker never records something its final report to the master did not carry.

    Per-second buckets older than ``bucket_horizon_s`` behind the newest second are
    compacted to their charted figures (count, failures, p50/p95/p99, intended p95/p99),
    so a long soak run does not keep one histogram per second in memory. Data arriving
    later for a compacted second still adds to its count and failures (counted in
    :attr:`late_bucket_samples`) but can no longer move its percentiles.
    """

    def __init__(self, bucket_horizon_s: int | None = 30) -> None:
        self.histograms: dict[HistogramKey, SparseHistogram] = {}
        self.buckets: dict[tuple[str, str], dict[int, _Bucket]] = {}
        self.compacted: dict[tuple[str, str], dict[int, _SecondFigures]] = {}
        self.bucket_horizon_s = bucket_horizon_s
        self.late_bucket_samples = 0
        self._newest_second = 0
        self._compacted_at = 0
        self.communes: dict[str, CommuneCounts] = {}
        # Failures per (service, endpoint, province): the per-province readiness matrix needs them.
        self.key_failures: dict[tuple[str, str, str], int] = {}
        self.requests = 0
        self.failures = 0
        self.sealed = False
        self.late_after_seal = 0

    # ---- recording -------------------------------------------------------------

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        start_time: float | None = None,
        **_kwargs: Any,
    ) -> None:
        """Locust ``events.request`` listener."""
        ctx = context or {}
        send_us = int(response_time * 1000 + 0.5) if response_time else 0
        intended = ctx.get(CTX_INTENDED_START)
        intended_us: int | None = None
        if intended is not None:
            began = start_time if start_time is not None else time.time() - response_time / 1000
            # Never below the send-time latency: clocks agree, but rounding must not invert them.
            intended_us = max(send_us, int((began - float(intended)) * 1_000_000 + send_us))
        self.record(
            service=str(ctx.get(CTX_SERVICE) or "unknown"),
            endpoint=name,
            province=str(ctx.get(CTX_PROVINCE) or UNKNOWN_PROVINCE),
            commune=ctx.get(CTX_COMMUNE),
            send_us=send_us,
            intended_us=intended_us,
            failed=exception is not None,
        )

    def record(
        self,
        service: str,
        endpoint: str,
        province: str,
        commune: str | None,
        send_us: int,
        intended_us: int | None,
        failed: bool,
        at: float | None = None,
    ) -> None:
        """Record one response (``at`` = completion, epoch seconds; default now)."""
        if self.sealed:
            self.late_after_seal += 1
            return
        hists = self.histograms
        key = HistogramKey(service, endpoint, province, "service")
        hist = hists.get(key)
        if hist is None:
            hist = hists[key] = SparseHistogram()
        hist.record(send_us)
        series = self.buckets.get((service, endpoint))
        if series is None:
            series = self.buckets[(service, endpoint)] = {}
        second = int(at if at is not None else time.time())
        bucket = series.get(second)
        if bucket is None:
            bucket = series[second] = _Bucket()
            self._saw_second(second)
        bucket.count += 1
        bucket.service.record(send_us)
        if intended_us is not None:
            key = HistogramKey(service, endpoint, province, "intended")
            hist = hists.get(key)
            if hist is None:
                hist = hists[key] = SparseHistogram()
            hist.record(intended_us)
            bucket.intended.record(intended_us)
        self.requests += 1
        if failed:
            self.failures += 1
            bucket.failures += 1
            fkey = (service, endpoint, province)
            self.key_failures[fkey] = self.key_failures.get(fkey, 0) + 1
        if commune:
            counts = self.communes.get(commune)
            if counts is None:
                counts = self.communes[commune] = CommuneCounts()
            counts.requests += 1
            counts.failures += failed

    def _saw_second(self, second: int) -> None:
        if second > self._newest_second:
            self._newest_second = second
            # Compact every 10 s, not on every new second: each pass walks all series.
            if self.bucket_horizon_s is not None and second - self._compacted_at >= 10:
                self._compacted_at = second
                self.compact(second - self.bucket_horizon_s)

    def compact(self, before_second: int) -> None:
        """Reduce every per-second bucket older than ``before_second`` to its figures."""
        for pair, series in self.buckets.items():
            old = [sec for sec in series if sec < before_second]
            if old:
                target = self.compacted.setdefault(pair, {})
                for sec in old:
                    target[sec] = _SecondFigures.of(series.pop(sec))

    def seal(self) -> None:
        """Refuse further records (after a worker's final report)."""
        self.sealed = True

    def unseal(self) -> None:
        """Accept records again (a new test started)."""
        self.sealed = False

    # ---- worker → master ---------------------------------------------------------

    def take_delta(self, pause: Callable[[], object] | None = None) -> RecorderDelta:
        """Drain everything recorded so far into a :class:`RecorderDelta` and reset.

        The drained data is swapped out first, so recording may continue while it is
        encoded; ``pause`` (e.g. ``lambda: gevent.sleep(0)``) is called every 50
        encodings so a big drain does not stall the event loop (it shows as lag).
        """
        hists, buckets, communes, requests = self.histograms, self.buckets, self.communes, self.requests
        key_failures = self.key_failures
        self.histograms, self.buckets, self.communes, self.key_failures = {}, {}, {}, {}
        self.requests = self.failures = 0
        encoded = 0

        def encode(hist: SparseHistogram) -> str:
            nonlocal encoded
            encoded += 1
            if pause is not None and encoded % 50 == 0:
                pause()
            return hist.encode()

        return RecorderDelta(
            histograms=[(*key, encode(hist)) for key, hist in hists.items()],
            buckets=[
                (service, endpoint, second, b.count, b.failures, encode(b.service), encode(b.intended))
                for (service, endpoint), series in buckets.items()
                for second, b in series.items()
            ],
            communes=[(code, c.requests, c.failures) for code, c in communes.items()],
            key_failures=[(*key, n) for key, n in key_failures.items()],
            requests=requests,
        )

    def absorb(self, delta: RecorderDelta) -> None:
        """Add a worker's delta exactly (HDR slot counts add)."""
        for service, endpoint, province, measure, encoded in delta.histograms:
            key = HistogramKey(service, endpoint, province, measure)  # type: ignore[arg-type]
            incoming = SparseHistogram.decode(encoded)
            hist = self.histograms.get(key)
            if hist is None:
                self.histograms[key] = incoming
            else:
                hist.add(incoming)
        for service, endpoint, second, count, failures, enc_service, enc_intended in delta.buckets:
            pair = (service, endpoint)
            done = self.compacted.get(pair, {}).get(second)
            if done is not None:
                self.late_bucket_samples += count
                self.compacted[pair][second] = replace(done, count=done.count + count, failures=done.failures + failures)
                continue
            series = self.buckets.setdefault(pair, {})
            bucket = series.get(second)
            incoming_bucket = _Bucket(
                count, failures, SparseHistogram.decode(enc_service), SparseHistogram.decode(enc_intended)
            )
            if bucket is None:
                series[second] = incoming_bucket
                self._saw_second(second)
            else:
                bucket.add(incoming_bucket)
        for code, requests, failures in delta.communes:
            counts = self.communes.setdefault(code, CommuneCounts())
            counts.requests += requests
            counts.failures += failures
        for service, endpoint, province, failures in delta.key_failures:
            fkey = (service, endpoint, province)
            self.key_failures[fkey] = self.key_failures.get(fkey, 0) + failures
            self.failures += failures
        self.requests += delta.requests

    # ---- reading -------------------------------------------------------------------

    def merged(
        self,
        service: str | None = None,
        endpoint: str | None = None,
        province: str | None = None,
        measure: Measure = "service",
    ) -> SparseHistogram:
        """One histogram merged over every key matching the given fields (None = any)."""
        result = SparseHistogram()
        for key, hist in self.histograms.items():
            if key.measure != measure:
                continue
            if service is not None and key.service != service:
                continue
            if endpoint is not None and key.endpoint != endpoint:
                continue
            if province is not None and key.province != province:
                continue
            result.add(hist)
        return result

    def failures_of(self, service: str | None = None, endpoint: str | None = None, province: str | None = None) -> int:
        """Failed requests matching the given fields (None = any)."""
        return sum(
            n
            for (s, e, p), n in self.key_failures.items()
            if (service is None or s == service) and (endpoint is None or e == endpoint) and (province is None or p == province)
        )

    def summaries(self) -> dict[HistogramKey, HistogramSummary]:
        """Count and p50/p95/p99/p99.9/max per key."""
        return {key: hist.summary() for key, hist in sorted(self.histograms.items())}

    def endpoint_stats(self) -> list[EndpointStats]:
        """Per (service, endpoint) figures for ``summary.json`` (both measures)."""
        failures: dict[tuple[str, str], int] = {}
        for (service, endpoint, _province), count in self.key_failures.items():
            failures[(service, endpoint)] = failures.get((service, endpoint), 0) + count
        pairs = sorted({(k.service, k.endpoint) for k in self.histograms})
        stats = []
        for service, endpoint in pairs:
            sent = self.merged(service, endpoint, measure="service").summary()
            intended = self.merged(service, endpoint, measure="intended").summary()
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

    def timeseries(self, run_start: float) -> Timeseries:
        """Per-second journal series (offsets from ``run_start``, epoch seconds)."""
        series_list = []
        for pair in sorted(set(self.buckets) | set(self.compacted)):
            figures = dict(self.compacted.get(pair, {}))
            figures.update((sec, _SecondFigures.of(b)) for sec, b in self.buckets.get(pair, {}).items())
            samples = [
                LatencySample(offset_s=round(sec - run_start, 3), **_as_dict(figures[sec], _SecondFigures))
                for sec in sorted(figures)
            ]
            series_list.append(LatencySeries(service=pair[0], endpoint=pair[1], samples=samples))
        return Timeseries(bucket_s=1.0, series=series_list)

    # ---- files -----------------------------------------------------------------------

    def dump(self, directory: str | Path) -> Path:
        """Write ``directory/latency.hdr`` (one encoded histogram a line) and
        ``directory/percentiles.json``; returns the histogram file's path.

        Line format: ``service<TAB>endpoint<TAB>province<TAB>measure<TAB>base64 V2``.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        lines = ["# dientap latency histograms: service\tendpoint\tprovince\tmeasure\tHdrHistogram V2 (µs)"]
        table = []
        for key, hist in sorted(self.histograms.items()):
            fields = [_clean(part) for part in key]
            lines.append("\t".join([*fields, hist.encode()]))
            table.append({**key._asdict(), **_as_dict(hist.summary())})
        path = directory / HISTOGRAM_FILE
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (directory / PERCENTILES_FILE).write_text(json.dumps(table, indent=1, ensure_ascii=False), encoding="utf-8")
        return path


def load_histograms(path: str | Path) -> dict[HistogramKey, SparseHistogram]:
    """Read a file written by :meth:`LatencyRecorder.dump` (several files: merge yourself)."""
    result: dict[HistogramKey, SparseHistogram] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 5 or parts[3] not in ("service", "intended"):
            raise ValueError(f"{path}:{number}: expected service, endpoint, province, measure, histogram")
        key = HistogramKey(parts[0], parts[1], parts[2], parts[3])  # type: ignore[arg-type]
        hist = SparseHistogram.decode(parts[4])
        if key in result:
            result[key].add(hist)
        else:
            result[key] = hist
    return result


def merge_histogram_maps(
    maps: Iterable[dict[HistogramKey, SparseHistogram]],
) -> dict[HistogramKey, SparseHistogram]:
    """Key-wise exact sum of several histogram maps."""
    result: dict[HistogramKey, SparseHistogram] = {}
    for mapping in maps:
        for key, hist in mapping.items():
            if key in result:
                result[key].add(hist)
            else:
                result[key] = hist.copy()
    return result


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


def _as_dict(record: Any, cls: type = HistogramSummary) -> dict[str, Any]:
    return {name: getattr(record, name) for name in cls.__slots__}


def _clean(text: str) -> str:
    # Tabs/newlines would break the line format; endpoint names never need them.
    return text.replace("\t", " ").replace("\n", " ")
