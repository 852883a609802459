"""Wires the load model to a real single-process Locust runner, the way personas will.

    python tests/scenarios/local_probe.py BASE_URL wiring|abort

Run as a subprocess (importing locust monkey-patches the standard library). Prints one
JSON line with what the recorder, arrivals, GC tuning, lag monitor and abort rule saw.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import gevent
from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scenarios import (
    AbortLimits,
    AbortMonitor,
    ArrivalPlan,
    ArrivalScheduler,
    CommuneRate,
    LagMonitor,
    LatencyRecorder,
    OfficePools,
    RateCurve,
    attach_arrivals,
    attach_gc_tuning,
    attach_recorder,
    install_keepalive_fix,
    request_context,
)
from scenarios.schedule import Pacing, Schedule

PATH = "/ok"


class Officer(FastHttpUser):
    """Paced actor: one action per 100 ms tick, intended start from its Pacing."""

    def on_start(self) -> None:
        self.schedule = Schedule(time.time())
        self.pacing = Pacing(self.schedule, random.Random(1), 0.1, 0.1)

    def wait_time(self) -> float:
        return self.pacing.wait()

    @task
    def work(self) -> None:
        ctx = request_context("portal", "01", commune="00004", intended_start=self.schedule.intended)
        self.client.get(PATH, name="GET /dossiers", context=ctx)


def main() -> None:
    global PATH
    base_url, mode = sys.argv[1], sys.argv[2]
    if mode == "abort":
        PATH = "/error"
    install_keepalive_fix()
    env = Environment(user_classes=[Officer], host=base_url)
    runner = env.create_local_runner()
    recorder = LatencyRecorder()
    gc_monitor = attach_gc_tuning(env)
    shipping = attach_recorder(env, recorder)
    pools = OfficePools(concurrency=2)

    def journey(arrival) -> None:
        session = FastHttpSession(base_url, env.events.request, user=None,
                                  client_pool=pools.get(("portal", arrival.commune_code)))
        ctx = request_context("portal", arrival.province_code, arrival.commune_code, arrival.intended_start)
        session.get("/ok", name="GET /procedures", context=ctx)
        session.get("/ok", name="POST /dossiers", context=ctx)

    def make_scheduler(index: int, count: int) -> ArrivalScheduler:
        plan = ArrivalPlan(
            [CommuneRate("00004", "01", 20.0), CommuneRate("26734", "79", 20.0)],
            RateCurve.morning_surge(0.5, 0.5, 0.5, peak=2.0), seed=11, duration_s=30,
        ).partition(index, count)
        return ArrivalScheduler(plan, journey, max_in_flight=200)

    scheduler_of = attach_arrivals(env, make_scheduler)
    lag = LagMonitor(arrivals=lambda: (s.stats if (s := scheduler_of()) else None), gc_monitor=gc_monitor)
    abort = None
    if mode == "abort":
        limits = AbortLimits(max_error_rate=0.2, sustain_s=1, window_s=1, min_requests=5)
        abort = AbortMonitor(env, recorder, limits, delay_s=0.2)

    started = time.monotonic()
    runner.start(5, spawn_rate=100)
    lag.start()
    if abort is not None:
        abort.start()
    deadline = started + (10.0 if mode == "abort" else 2.5)
    while time.monotonic() < deadline and runner.state not in ("stopped", "stopping", "cleanup"):
        gevent.sleep(0.1)
    # Stop the arrivals gracefully first: journeys in flight finish and record, so arrivals
    # started, completed and recorded agree however slow a busy machine makes the last one.
    if (scheduler := scheduler_of()) is not None:
        scheduler.drain(5.0)
    if runner.state not in ("stopped",):
        runner.quit()
    elapsed = time.monotonic() - started
    lag.stop()
    stats = scheduler_of().stats
    endpoints: dict[str, int] = {}
    for key, hist in recorder.histograms.items():  # summed over provinces
        endpoints[f"{key.endpoint}|{key.measure}"] = endpoints.get(f"{key.endpoint}|{key.measure}", 0) + hist.total
    print(
        json.dumps(
            {
                "role": shipping.role,
                "elapsed_s": elapsed,
                "endpoints": endpoints,
                "requests": recorder.requests,
                "failures": recorder.failures,
                "communes": {c: v.requests for c, v in recorder.communes.items()},
                "arrivals": {**asdict(stats), "achieved_ratio": stats.achieved_ratio},
                "gc": asdict(gc_monitor.snapshot()),
                "lag": lag.snapshot().to_wire(),
                "trust": asdict(lag.is_trustworthy()),
                "abort": asdict(abort.decision) if abort and abort.decision else None,
                "pools": len(pools),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
