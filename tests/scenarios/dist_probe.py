"""Worker → master shipping inside one process: a real Locust master and worker over
loopback ZeroMQ, the recorder wired by ``attach_recorder`` on both.

    python tests/scenarios/dist_probe.py flush     # records reach the master via the final report
    python tests/scenarios/dist_probe.py silent    # a worker that never answers the flush

Run as a subprocess (importing locust monkey-patches the standard library). Prints one
JSON line of observations for ``test_scn_distributed.py``.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import User, constant, task
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scenarios.distributed import attach_recorder
from scenarios.lag import GeneratorSnapshot
from scenarios.latency import LatencyRecorder, request_context

FIRED: list[str] = []


class Clerk(User):
    """Reports one 12 ms request per task; the request never leaves the process."""

    wait_time = constant(0.01)

    @task
    def work(self) -> None:
        province = ("01", "79")[len(FIRED) % 2]
        FIRED.append(province)
        self.environment.events.request.fire(
            request_type="portal", name="GET /dossiers", response_time=12.0, response_length=0, exception=None,
            context=request_context("portal", province), start_time=time.time(), url="/dossiers")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition: Any, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.02)
    return True


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main(mode: str) -> None:
    errors = _Errors()
    logging.getLogger("scenarios.distributed").addHandler(errors)
    port = _free_port()
    master_env = Environment(user_classes=[Clerk])
    master = master_env.create_master_runner("127.0.0.1", port)
    master_rec = LatencyRecorder()
    # Waiting for a final report ends as soon as it arrives: generous unless the test is that it never does.
    master_ship = attach_recorder(master_env, master_rec, final_timeout_s=30.0 if mode == "flush" else 1.0)
    worker_env = Environment(user_classes=[Clerk])
    worker = worker_env.create_worker_runner("127.0.0.1", port)
    worker_rec = LatencyRecorder()
    worker_ship = None
    if mode == "flush":
        # A long interval: no periodic report comes before the stop, so every record
        # must reach the master through the flush → final report path.
        worker_ship = attach_recorder(worker_env, worker_rec, health=lambda: GeneratorSnapshot(lag_p99_ms=3.0),
                                      interval_s=60.0)
    out: dict[str, Any] = {"connected": _wait(lambda: len(master.clients.ready) == 1)}
    master.start(2, spawn_rate=100)
    out["fired_some"] = _wait(lambda: len(FIRED) >= 20)
    started = time.monotonic()
    master.stop()
    out["stop_waited_s"] = round(time.monotonic() - started, 2)
    fired = len(FIRED)
    out["fired"] = fired
    out["master"] = {"requests": master_rec.requests,
                     "by_province": {k.province: h.total for k, h in master_rec.histograms.items()},
                     "received": master_ship.messages_received, "final_from": len(master_ship.final_from),
                     "missing_final": len(master_ship.missing_final),
                     "health": {k: v.to_wire() for k, v in master_ship.worker_health.items()},
                     "snapshots": [s.node for s in master_ship.snapshots()]}
    out["expected_by_province"] = {p: FIRED[:fired].count(p) for p in ("01", "79")}
    if worker_ship is not None:
        out["worker"] = {"sent": worker_ship.messages_sent, "sealed": worker_rec.sealed}
        worker_env.events.request.fire(request_type="portal", name="GET /late", response_time=1.0, response_length=0,
                                       exception=None, context=request_context("portal", "01"), url="/late")
        out["worker"]["late_after_seal"] = worker_rec.late_after_seal
    out["errors"] = errors.messages
    worker.quit()
    master.quit()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
