"""Worker → master shipping when things go wrong, in process: the shipping's own handlers on
stand-ins for Locust's runners (no locust import: it would monkey-patch pytest's process).
The real master/worker paths are tested with real Locust processes in test_scn_distributed.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.pool
import pytest

from kernel.ack_ledger import AckLedger
from kernel.latency_records import HistogramKey
from scenarios.distributed import FLUSH_MESSAGE, LATENCY_MESSAGE, _attach_master, _attach_worker
from scenarios.lag import GeneratorSnapshot
from scenarios.latency import LatencyRecorder, request_context
from scenarios.recorder_delta import RecorderDelta
from scenarios.shipped_records import LEDGERS_DIR, PLAYERS_DIR, RecordsDelta, RecordsInbox, RecordsOutbox


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
        self.while_refusing: Callable[[], None] = lambda: None  # what the load records meanwhile

    def stop(self) -> None:
        """Locust's stop of this worker's users (nothing runs here)."""

    def register_message(self, kind: str, handler: Callable[..., Any]) -> None:
        self.handlers[kind] = handler

    def send_message(self, kind: str, data: Any = None, client_id: str | None = None) -> None:
        if self.refuse_sends:
            self.refuse_sends -= 1
            self.while_refusing()
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
    shipping = _attach_worker(env, runner, recorder, None, interval_s=3600.0, outbox=None)
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
    shipping = _attach_master(env, runner, master, final_timeout_s=600.0, inbox=None)
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


def _reports(runner: _Runner) -> list[dict[str, Any]]:
    return [data for kind, data, _ in runner.sent if kind == LATENCY_MESSAGE]


def test_records_ride_on_every_report_so_a_worker_killed_before_its_final_one_loses_only_its_last(
        tmp_path: Path) -> None:
    """A worker's ledger and players go to the master as they grow: two periodic reports
    carry what was acknowledged and dealt since the one before (a refused report's share
    rides on the next, once); the worker is then killed before any final report, and the
    master writes at its stop exactly what it was sent."""
    runner, recorder = _Runner(), LatencyRecorder()
    env = _Environment(runner=runner)
    ledger, players = AckLedger(), {"officer": ["cb.00004.1"]}
    _attach_worker(env, runner, recorder, None, interval_s=0.01, outbox=RecordsOutbox("worker-3", ledger, players))
    ledger.record("dossiers", "H01.1", "key-1")

    def wait_reports(count: int) -> None:
        with gevent.Timeout(60):  # a guard against a hang: the loop reports every 0.01 s
            while len(_reports(runner)) < count:
                gevent.sleep(0.01)

    wait_reports(1)

    def meanwhile() -> None:  # the load records more: an item new since, and one held already, keyed anew
        ledger.record("documents", "D1", "msg-1")
        ledger.record("dossiers", "H01.2", "key-3")

    runner.refuse_sends, runner.while_refusing = 1, meanwhile  # the next report with something in it
    ledger.record("dossiers", "H01.2", "key-2")
    players["officer"].append("cb.00007.1")
    wait_reports(2)
    runner.greenlet.kill()  # SIGKILL: no final report, ever
    first, second = (RecordsDelta.from_wire(r["records"]) for r in _reports(runner))
    assert (first.ledger, first.players) == ({"dossiers": {"H01.1": "key-1"}}, {"officer": ["cb.00004.1"]})
    assert second.ledger == {"dossiers": {"H01.2": "key-3"}, "documents": {"D1": "msg-1"}}
    assert second.players == {"officer": ["cb.00007.1"]}
    assert not any(r["final"] for r in _reports(runner))

    master_runner = _Runner(_Worker("host_a", state="missing"))
    master_env, inbox = _Environment(), RecordsInbox(tmp_path)
    _attach_master(master_env, master_runner, LatencyRecorder(), final_timeout_s=600.0, inbox=inbox)
    master_env.events.test_start.fire()
    for report in _reports(runner):
        master_runner.handlers[LATENCY_MESSAGE](environment=master_env, msg=_Message("host_a", report))
    master_env.events.test_stopping.fire()
    assert inbox.write_unwritten() == ["worker-3"]
    written = AckLedger.merge([tmp_path / LEDGERS_DIR / "worker-3.json"])
    assert written.entries == ledger.entries
    assert json.loads((tmp_path / PLAYERS_DIR / "worker-3.json").read_text(encoding="utf-8")) == players


def test_a_final_report_writes_its_workers_records_at_once_and_only_once(tmp_path: Path) -> None:
    """The final report's records are written when it arrives (a master that quits at once
    after it still has them); the stop then has nothing left to write for that worker."""
    runner, recorder = _Runner(), LatencyRecorder()
    env = _Environment(runner=runner)
    ledger = AckLedger()
    _attach_worker(env, runner, recorder, None, interval_s=3600.0, outbox=RecordsOutbox("worker-0", ledger, {}))
    runner.greenlet.kill()
    ledger.record("receipts", "D1#02#00004")
    env.events.test_stop.fire()
    (report,) = _reports(runner)
    inbox = RecordsInbox(tmp_path)
    master_runner = _Runner(_Worker("host_a"))
    master_env = _Environment()
    _attach_master(master_env, master_runner, LatencyRecorder(), final_timeout_s=600.0, inbox=inbox)
    master_runner.handlers[LATENCY_MESSAGE](environment=master_env, msg=_Message("host_a", report))
    assert AckLedger.merge([tmp_path / LEDGERS_DIR / "worker-0.json"]).entries == {"receipts": {"D1#02#00004": ""}}
    assert inbox.write_unwritten() == []


@pytest.mark.parametrize("records, field", [
    ("worker-1", "records"),
    ({"name": "../etc/passwd"}, "records.name"),
    ({"name": "worker-1", "ledger": {"dossiers": ["H01.1"]}}, "records.ledger"),
    ({"name": "worker-1", "players": {"officer": "cb.00004.1"}}, "records.players"),
])
def test_records_of_the_wrong_shape_are_refused_by_their_field(records: Any, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field.replace('.', '[.]')}:"):
        RecordsDelta.from_wire(records)
