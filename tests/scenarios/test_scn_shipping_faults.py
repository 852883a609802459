"""Worker → master shipping when things go wrong, in process: the shipping's own handlers on
stand-ins for Locust's runners (no locust import: it would monkey-patch pytest's process).
The real master/worker paths are tested with real Locust processes in test_scn_distributed.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.pool
import pytest

from kernel.latency_records import HistogramKey
from scenarios.distributed import FLUSH_MESSAGE, LATENCY_MESSAGE, _attach_master, _attach_worker
from scenarios.lag import GeneratorSnapshot
from scenarios.latency import LatencyRecorder, request_context
from scenarios.recorder_delta import RecorderDelta


class _Hook:
    def __init__(self) -> None:
        self.listeners: list[Callable[..., Any]] = []

    def add_listener(self, listener: Callable[..., Any]) -> None:
        self.listeners.append(listener)

    def fire(self, **kwargs: Any) -> None:
        for listener in self.listeners:
            listener(**kwargs)


class _Events:
    def __init__(self) -> None:
        self.test_start, self.test_stopping, self.test_stop = _Hook(), _Hook(), _Hook()


@dataclass
class _Environment:
    events: _Events = field(default_factory=_Events)
    runner: Any = None


@dataclass
class _Message:
    node_id: str
    data: Any


@dataclass
class _Worker:
    id: str
    state: str = "running"


class _Clients(dict[str, _Worker]):
    @property
    def all(self) -> list[_Worker]:
        return list(self.values())


class _Runner:
    """What the shipping uses of a Locust runner; ``sent`` keeps what it sent."""

    def __init__(self, *workers: _Worker) -> None:
        self.clients = _Clients({w.id: w for w in workers})
        self.greenlet = gevent.pool.Group()
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.sent: list[tuple[str, Any, str | None]] = []
        self.worker_index = 0
        self.refuse_sends = 0  # a worker's next sends fail as Locust's do when ZMQ refuses

    def stop(self) -> None:
        """Locust's stop of this worker's users (nothing runs here)."""

    def register_message(self, kind: str, handler: Callable[..., Any]) -> None:
        self.handlers[kind] = handler

    def send_message(self, kind: str, data: Any = None, client_id: str | None = None) -> None:
        if self.refuse_sends:
            self.refuse_sends -= 1
            raise OSError("ZMQ sent failure")
        self.sent.append((kind, data, client_id))


def _record(recorder: LatencyRecorder, n: int) -> None:
    for _ in range(n):
        recorder.on_request(request_type="portal", name="GET /dossiers", response_time=12.0, response_length=0,
                            context=request_context("portal", "01", commune="00004"), start_time=1000.0)


def test_a_report_that_cannot_be_sent_is_carried_by_the_next_exactly_once() -> None:
    """The master's flush asks for the final report; ZMQ refuses it (Locust raises after its
    retries). The drained records must not be lost: test_stop's final report carries them,
    once, with what was recorded since."""
    runner, recorder = _Runner(), LatencyRecorder()
    env = _Environment(runner=runner)
    shipping = _attach_worker(env, runner, recorder, None, interval_s=3600.0, final_records=None)
    runner.greenlet.kill()  # no periodic report: the test drives every send
    _record(recorder, 3)
    runner.refuse_sends = 1
    with pytest.raises(OSError):
        runner.handlers[FLUSH_MESSAGE](environment=env, msg=None)
    _record(recorder, 2)
    env.events.test_stop.fire()
    (report,) = [data for kind, data, _ in runner.sent if kind == LATENCY_MESSAGE]
    assert report["final"] and report["seq"] == 0 and shipping.messages_sent == 1 and recorder.sealed
    master = LatencyRecorder()
    master.absorb(RecorderDelta.from_wire(report["delta"]))
    assert master.requests == 5 and master.communes["00004"].requests == 5
    assert master.histograms[HistogramKey("portal", "GET /dossiers", "01", "service")].total == 5


def test_the_master_names_a_worker_lost_mid_run_and_waits_for_none_that_cannot_answer() -> None:
    """worker-0 reported, then was killed and dropped by Locust a minute later; worker-1 was
    killed just before the stop (heartbeats gone: Locust marks it missing); worker-2 answers
    the flush. Both dead ones are named — the verdict must not trust the run — and the stop
    does not wait for either."""
    gone, dead, alive = _Worker("host_a"), _Worker("host_b", state="missing"), _Worker("host_c")
    runner = _Runner(gone, dead, alive)
    env, master = _Environment(), LatencyRecorder()
    shipping = _attach_master(env, runner, master, final_timeout_s=600.0, on_records=None)
    env.events.test_start.fire()
    worker_rec = LatencyRecorder()
    _record(worker_rec, 4)
    on_latency = runner.handlers[LATENCY_MESSAGE]
    on_latency(environment=env, msg=_Message("host_a", {
        "delta": worker_rec.take_delta().to_wire(), "health": GeneratorSnapshot(node="worker-0").to_wire(),
        "final": False, "seq": 0}))
    del runner.clients["host_a"]  # dropped after 60 s without heartbeats

    def answer_flushes() -> None:  # worker-2 answers its flush as Locust's message loop would
        while not any(kind == FLUSH_MESSAGE and to == "host_c" for kind, _, to in runner.sent):
            gevent.sleep(0.01)
        on_latency(environment=env, msg=_Message("host_c", {"delta": {}, "final": True, "seq": 0}))

    answering = gevent.spawn(answer_flushes)
    with gevent.Timeout(60):  # a guard against a hang, not a timing assertion: the wait is bounded at 600 s
        env.events.test_stopping.fire()
    answering.join()
    assert sorted(shipping.missing_final) == ["host_b", "worker-0"]
    assert master.requests == 4  # what the lost worker reported before it died is kept
