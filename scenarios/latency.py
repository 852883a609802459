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
measures — for the journal's charts, and per commune its request/failure counters and a
latency sketch (:mod:`scenarios.commune_sketches`; kept in memory and files only, never
as Prometheus labels).

In distributed runs each worker's recorder is drained with :meth:`LatencyRecorder.take_delta`
and the master :meth:`LatencyRecorder.absorb`\\ s the deltas (see ``scenarios.distributed``).

The parts the recorder stands on live beside it: the histogram keys, their summary
figures and file format in :mod:`kernel.latency_records`; the per-second buckets
in :mod:`scenarios.latency_seconds`; the worker → master wire form in
:mod:`scenarios.recorder_delta`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kernel.commune_latency import dump_commune_latency
from kernel.hdr import HistogramSummary, SparseHistogram
from kernel.latency_records import HistogramKey, Measure, dump_histograms, merge_matching
from reports.journal import Timeseries
from scenarios.commune_sketches import CommuneSketches, CompactSketch
from scenarios.latency_seconds import SecondBucket, SecondFigures, latency_timeseries
from scenarios.recorder_delta import RecorderDelta

__all__ = [
    "CTX_COMMUNE",
    "CTX_INTENDED_START",
    "CTX_PROVINCE",
    "CTX_SERVICE",
    "CTX_THROTTLED",
    "UNKNOWN_PROVINCE",
    "CommuneCounts",
    "LatencyRecorder",
    "mark_throttled",
    "request_context",
]

CTX_SERVICE = "service"
CTX_PROVINCE = "province"
CTX_COMMUNE = "commune"
CTX_INTENDED_START = "intended_start"
CTX_THROTTLED = "throttled"
UNKNOWN_PROVINCE = "--"


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


def mark_throttled(context: dict[str, Any]) -> None:
    """Mark a request the target throttled (423/429 with Retry-After) before it is reported:
    Locust counts it as a failure, the recorder as *throttled by the target*, not failed."""
    context[CTX_THROTTLED] = True


@dataclass(slots=True)
class CommuneCounts:
    """Requests and failures attributed to one commune."""

    requests: int = 0
    failures: int = 0


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
        self.buckets: dict[tuple[str, str], dict[int, SecondBucket]] = {}
        self.compacted: dict[tuple[str, str], dict[int, SecondFigures]] = {}
        self.bucket_horizon_s = bucket_horizon_s
        self.late_bucket_samples = 0
        self._newest_second = 0
        self._compacted_at = 0
        self.communes: dict[str, CommuneCounts] = {}
        self.commune_latency = CommuneSketches()
        # Failures per (service, endpoint, province): the per-province readiness matrix needs them.
        self.key_failures: dict[tuple[str, str, str], int] = {}
        # Throttled by the target (423/429 with Retry-After), apart from failures, by the same key.
        self.key_throttled: dict[tuple[str, str, str], int] = {}
        self.requests = 0
        self.failures = 0
        self.throttled = 0
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
            failed=exception is not None and not ctx.get(CTX_THROTTLED),
            throttled=bool(ctx.get(CTX_THROTTLED)),
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
        throttled: bool = False,
    ) -> None:
        """Record one response (``at`` = completion, epoch seconds; default now); a
        ``throttled`` one is counted apart and is not ``failed``."""
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
            bucket = series[second] = SecondBucket()
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
        elif throttled:
            self.throttled += 1
            tkey = (service, endpoint, province)
            self.key_throttled[tkey] = self.key_throttled.get(tkey, 0) + 1
        if commune:
            counts = self.communes.get(commune)
            if counts is None:
                counts = self.communes[commune] = CommuneCounts()
            counts.requests += 1
            counts.failures += failed
            self.commune_latency.record(commune, send_us)

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
                    target[sec] = SecondFigures.of(series.pop(sec))

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
        key_failures, key_throttled = self.key_failures, self.key_throttled
        self.histograms, self.buckets, self.communes, self.key_failures = {}, {}, {}, {}
        self.key_throttled = {}
        self.requests = self.failures = self.throttled = 0
        commune_latency = self.commune_latency.drain()  # swapped out too, before the first pause
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
            key_throttled=[(*key, n) for key, n in key_throttled.items()],
            requests=requests,
            commune_latency=commune_latency,
        )

    def absorb(self, delta: RecorderDelta) -> None:
        """Add a worker's delta exactly (HDR slot counts add)."""
        for service, endpoint, province, measure, encoded in delta.histograms:
            key = HistogramKey(service, endpoint, province, measure)
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
            incoming_bucket = SecondBucket(
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
        self.commune_latency.absorb(delta.commune_latency)
        for service, endpoint, province, failures in delta.key_failures:
            fkey = (service, endpoint, province)
            self.key_failures[fkey] = self.key_failures.get(fkey, 0) + failures
            self.failures += failures
        for service, endpoint, province, throttled in delta.key_throttled:
            tkey = (service, endpoint, province)
            self.key_throttled[tkey] = self.key_throttled.get(tkey, 0) + throttled
            self.throttled += throttled
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
        return merge_matching(self.histograms, service, endpoint, province, measure)

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

    def timeseries(self, run_start: float) -> Timeseries:
        """Per-second journal series (offsets from ``run_start``, epoch seconds)."""
        return latency_timeseries(self.buckets, self.compacted, run_start)

    # ---- files -----------------------------------------------------------------------

    def commune_sketches(self) -> dict[str, SparseHistogram]:
        """Every commune's whole-run latency sketch (:mod:`kernel.commune_latency`)."""
        return self.commune_latency.sketches()

    def commune_sketches_now(self) -> Mapping[str, CompactSketch]:
        """The whole-run sketches as they are, the window folded in first (what a local
        runner does every 2 s anyway; a master has no window): metrics' live read, which
        converts only the communes it needs (``kernel.load_observation``)."""
        self.commune_latency.fold()
        return self.commune_latency.whole_run

    def dump(self, directory: str | Path, run_id: str | None = None) -> Path:
        """Write ``directory/latency.hdr`` (one encoded histogram a line),
        ``directory/percentiles.json`` and ``directory/communes.hdr`` (the per-commune
        sketches), both naming ``run_id`` so reports can tell them from another run's;
        returns the histogram file's path.

        Line format: ``service<TAB>endpoint<TAB>province<TAB>measure<TAB>base64 V2``.
        """
        dump_commune_latency(self.commune_sketches(), directory, run_id)
        return dump_histograms(self.histograms, directory, run_id)
