"""Paced-actor probe (run as a subprocess: it imports locust, which monkey-patches).

    python tests/scenarios/paced_probe.py BASE_URL STALL_MS

One officer acts every 100 ms (a worklist read, then a transition) through the real HTTP
layer (``ServiceSession``), following its :class:`~scenarios.schedule.Pacing`. One second
in, the server freezes for STALL_MS. Prints, per endpoint and measure, the recorder's
summary and how many requests took longer than a tenth of the stall, as JSON.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import random
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import gevent
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scenarios.adapters import ServiceSession
from scenarios.latency import LatencyRecorder
from scenarios.schedule import Pacing, Schedule, follow

INTERVAL_S = 0.1
ACTIONS = 40
ENDPOINTS = ("GET /worklist", "POST /transitions")


def main() -> None:
    base_url, stall_ms = sys.argv[1], int(sys.argv[2])
    env = Environment()
    recorder = LatencyRecorder()
    env.events.request.add_listener(recorder.on_request)
    slow: dict[str, dict[str, int]] = {name: {"service": 0, "intended": 0} for name in ENDPOINTS}

    def count_slow(name, response_time, context=None, start_time=None, **_kw):
        intended_ms = (start_time - context["intended_start"]) * 1000 + response_time
        for measure, value in (("service", response_time), ("intended", intended_ms)):
            slow[name][measure] += value >= stall_ms / 10

    env.events.request.add_listener(count_slow)
    session = ServiceSession(env, "portal", base_url, pool_size=2)
    actions = 0

    def officer() -> None:
        nonlocal actions
        schedule = Schedule(time.time())
        follow(schedule)
        pacing = Pacing(schedule, random.Random(1), INTERVAL_S, INTERVAL_S)
        for _ in range(ACTIONS):
            session.call("GET", "/ok?list", name=ENDPOINTS[0], province="01", commune="00004")
            session.call("GET", "/ok?move", name=ENDPOINTS[1], province="01", commune="00004")
            actions += 1
            gevent.sleep(pacing.wait())

    actor = gevent.spawn(officer)
    gevent.sleep(1.0)
    with urllib.request.urlopen(f"{base_url}/freeze?ms={stall_ms}", timeout=10) as resp:  # noqa: S310 - loopback
        resp.read()
    actor.join(timeout=60)
    out = {"actions": actions, "interval_ms": INTERVAL_S * 1000, "endpoints": {}}
    for name in ENDPOINTS:
        out["endpoints"][name] = {
            measure: {**asdict(recorder.merged(endpoint=name, measure=measure).summary()), "slow": slow[name][measure]}
            for measure in ("service", "intended")
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
