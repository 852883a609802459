"""Locustfile for the distributed-merge test: the recorder under test plus an
independent reference recorder (plain ``hdrh`` HdrHistograms, and per commune at 2
significant digits) on every worker."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from scenarios import LatencyRecorder, attach_recorder, request_context

OUT = Path(os.environ["DIENTAP_TEST_OUT"])
RECORDER = LatencyRecorder()
REFERENCE: dict[tuple[str, str, str, str], HdrHistogram] = {}
COMMUNE_REFERENCE: dict[str, HdrHistogram] = {}
PROVINCES = ("01", "79", "46")
COMMUNE_OF = {"01": "00070", "79": "26734", "46": "19768"}
_numbers = itertools.count()


def reference_listener(name, response_time, context=None, start_time=None, **_kw):
    """Independent re-implementation of what the recorder should have recorded."""
    ctx = context or {}
    send_us = int(response_time * 1000 + 0.5)
    values = [("service", send_us)]
    if "intended_start" in ctx:
        values.append(("intended", max(send_us, int((start_time - ctx["intended_start"]) * 1e6 + send_us))))
    for measure, value in values:
        key = (ctx["service"], name, ctx["province"], measure)
        hist = REFERENCE.get(key)
        if hist is None:
            hist = REFERENCE[key] = HdrHistogram(1, 3_600_000_000, 3)
        hist.record_value(value)
    commune = ctx.get("commune")
    if commune:
        sketch = COMMUNE_REFERENCE.get(commune)
        if sketch is None:
            sketch = COMMUNE_REFERENCE[commune] = HdrHistogram(1, 3_600_000_000, 2)
        sketch.record_value(send_us)


@events.init.add_listener
def on_init(environment, **_kw):
    attach_recorder(environment, RECORDER, interval_s=0.5)
    if isinstance(environment.runner, WorkerRunner):
        environment.events.request.add_listener(reference_listener)


@events.quitting.add_listener
def on_quitting(environment, **_kw):
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        RECORDER.dump(OUT / "master")
    elif isinstance(runner, WorkerRunner):
        lines = ["\t".join([*key, hist.encode().decode()]) for key, hist in REFERENCE.items()]
        (OUT / f"worker-{os.getpid()}.hdr").write_text("\n".join(lines) + "\n", encoding="utf-8")
        lines = ["\t".join([commune, sketch.encode().decode()]) for commune, sketch in COMMUNE_REFERENCE.items()]
        (OUT / f"worker-{os.getpid()}.communes").write_text("\n".join(lines) + "\n", encoding="utf-8")


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    def on_start(self):
        self.province = PROVINCES[next(_numbers) % len(PROVINCES)]

    @task(3)
    def ok(self):
        ctx = request_context("portal", self.province, commune=COMMUNE_OF[self.province])
        self.client.get("/ok", name="GET /ok", context=ctx)

    @task(1)
    def scheduled(self):
        # intended start 5 ms in the past: exercises the intended measure
        ctx = request_context("axis", self.province, commune="00004", intended_start=time.time() - 0.005)
        self.client.get("/ok?x=1", name="GET /inbox", context=ctx)
