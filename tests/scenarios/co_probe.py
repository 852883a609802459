"""Coordinated-omission probe (run as a subprocess: it imports locust, which monkey-patches).

    python tests/scenarios/co_probe.py BASE_URL STALL_MS

Citizens arrive (open model, 50/s for 3 s) at a commune office with one clerk: a citizen
waits for the clerk, then the clerk sends one request. One second in, the server freezes
for STALL_MS. Prints the recorder's service- and intended-measure summaries as JSON.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import sys
import urllib.request
from dataclasses import asdict
from pathlib import Path

import gevent
import gevent.lock
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scenarios import (
    ArrivalPlan,
    ArrivalScheduler,
    CommuneRate,
    LatencyRecorder,
    RateCurve,
    request_context,
)


def main() -> None:
    base_url, stall_ms = sys.argv[1], int(sys.argv[2])
    env = Environment()
    recorder = LatencyRecorder()
    env.events.request.add_listener(recorder.on_request)
    session = FastHttpSession(base_url, request_event=env.events.request, user=None)
    clerk = gevent.lock.Semaphore(1)

    def journey(arrival):
        with clerk:
            ctx = request_context("portal", arrival.province_code, arrival.commune_code, arrival.intended_start)
            session.get("/ok", name="GET /ok", context=ctx)

    plan = ArrivalPlan(
        [CommuneRate("00004", "01", 25.0), CommuneRate("00007", "01", 25.0)], RateCurve.constant(), seed=7, duration_s=3.0
    )
    scheduler = ArrivalScheduler(plan, journey, max_in_flight=1000)
    scheduler.start()
    gevent.sleep(1.0)
    with urllib.request.urlopen(f"{base_url}/freeze?ms={stall_ms}", timeout=10) as resp:  # noqa: S310 - loopback
        resp.read()
    scheduler.join(timeout=30)
    stats = scheduler.stats
    print(
        json.dumps(
            {
                "service": asdict(recorder.merged(measure="service").summary()),
                "intended": asdict(recorder.merged(measure="intended").summary()),
                "due": stats.due,
                "completed": stats.completed,
                "achieved_ratio": stats.achieved_ratio,
                "expected": plan.expected_arrivals(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
