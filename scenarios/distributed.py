"""Worker → master shipping of exact latency histograms and generator health.

Locust's own worker reports carry its ~2-significant-digit stats; ours carry HDR
histograms. Protocol (Locust custom messages):

* every worker drains its :class:`~scenarios.latency.LatencyRecorder` every
  ``interval_s`` (≈ 2 s) and sends ``dientap_latency`` = ``{"delta": RecorderDelta wire
  form, "health": GeneratorSnapshot wire form, "final": bool, "seq": n}``; the master
  :meth:`~scenarios.latency.LatencyRecorder.absorb`\\ s it — an exact HDR add;
* when the master begins to stop (``test_stopping``) it sends ``dientap_flush`` to every
  worker and waits (up to ``final_timeout_s``) for each one's ``final`` report. A worker
  answering it first stops its users and arrivals (which Locust is about to do anyway),
  then drains, sends ``final`` and *seals* its recorder, so nothing it records is left
  out of what the master merged. This matters for ``--run-time`` headless runs, where
  the master would otherwise quit 0.5 s after telling workers to stop;
* a worker also sends a ``final`` report on its own ``test_stop`` (normal stop path);
* a report that cannot be sent (Locust gives up on ZMQ after ≈ 9 s of retries) is put back
  into the worker's recorder, so the next report carries it — drained data is never
  dropped, and never sent twice;
* the master names every worker it heard from this test, or still lists, whose final report
  never came — also one Locust dropped mid-run (killed, its machine lost), whose communes went
  silent from then on — so the run's verdict says so. It waits only for workers that can
  still answer: one whose heartbeat is gone is named at once, not after the whole wait;
* every report also carries the worker's *records* recorded since the one before
  (``"records"``: what it was acknowledged and who it played; ``scenarios.shipped_records``),
  which the master writes into its run directory at the worker's final report — or at the
  master's stop, for a worker that died: it loses only its last ≈ 2 s, not its whole ledger.
  A worker on another machine shares no disk with the master, and riding on the reports
  the records arrive before the master stops waiting — a message of their own, sent from
  ``test_stop`` after the final report, could be lost when the master quits.

A local (single-process) runner records straight into the recorder; nothing is shipped.
It folds its per-commune window into the whole-run sketches every ``interval_s``
(``scenarios.commune_sketches``), as a worker would drain it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.lock
from gevent import getcurrent

from scenarios.lag import GeneratorSnapshot
from scenarios.latency import LatencyRecorder
from scenarios.recorder_delta import RecorderDelta
from scenarios.shipped_records import RecordsDelta, RecordsInbox, RecordsOutbox

__all__ = ["LATENCY_MESSAGE", "FLUSH_MESSAGE", "LatencyShipping", "attach_recorder"]

logger = logging.getLogger(__name__)

LATENCY_MESSAGE = "dientap_latency"
FLUSH_MESSAGE = "dientap_flush"
# locust.runners.STATE_MISSING: a worker whose heartbeats stopped. Spelled here, not imported,
# so this module stays importable without locust's monkey-patching (see scenarios/__init__).
LOCUST_STATE_MISSING = "missing"


@dataclass
class LatencyShipping:
    """State of the shipping on this node (what was sent or received)."""

    role: str  # "local" | "worker" | "master"
    recorder: LatencyRecorder
    health: Callable[[], GeneratorSnapshot] | None = None
    messages_sent: int = 0
    messages_received: int = 0
    final_from: set[str] = field(default_factory=set)
    reported_from: set[str] = field(default_factory=set)  # master: workers that sent a report this test
    missing_final: list[str] = field(default_factory=list)  # master: workers (by name) whose final never came
    worker_health: dict[str, GeneratorSnapshot] = field(default_factory=dict)
    late_reports: int = 0  # reports arriving after a worker's final one (still merged)
    on_sent: list[Callable[[RecorderDelta], None]] = field(default_factory=list)

    def snapshots(self) -> list[GeneratorSnapshot]:
        """Generator snapshots: every worker's latest (master) or this process's own."""
        if self.role == "master":
            return list(self.worker_health.values())
        return [self.health()] if self.health is not None else []


def attach_recorder(
    environment: Any,
    recorder: LatencyRecorder,
    health: Callable[[], GeneratorSnapshot] | None = None,
    interval_s: float = 2.0,
    final_timeout_s: float = 15.0,
    outbox: RecordsOutbox | None = None,
    inbox: RecordsInbox | None = None,
) -> LatencyShipping:
    """Wire ``recorder`` to ``environment`` for its runner's role; call once the runner
    exists (e.g. in an ``events.init`` listener). ``health`` gives this worker's
    generator snapshot, shipped along with each report. ``outbox`` (worker) gives the
    records each report carries; ``inbox`` (master) takes them in."""
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return _attach_master(environment, runner, recorder, final_timeout_s, inbox)
    environment.events.request.add_listener(recorder.on_request)
    if isinstance(runner, WorkerRunner):
        return _attach_worker(environment, runner, recorder, health, interval_s, outbox)
    shipping = LatencyShipping("local", recorder, health)
    environment.events.test_start.add_listener(lambda **_kw: recorder.unseal())

    def fold_loop() -> None:
        # Where a worker drains its per-commune window to the master, a local runner folds
        # it into its own compact whole-run store: the window stays a few seconds small.
        while True:
            gevent.sleep(interval_s)
            recorder.commune_latency.fold()

    runner.greenlet.spawn(fold_loop)
    return shipping


def _attach_worker(
    environment: Any,
    runner: Any,
    recorder: LatencyRecorder,
    health: Callable[[], GeneratorSnapshot] | None,
    interval_s: float,
    outbox: RecordsOutbox | None,
) -> LatencyShipping:
    shipping = LatencyShipping("worker", recorder, health)
    # A periodic drain yields while encoding; the final report must not overtake it, or
    # the master could stop listening before the periodic one arrives.
    sending = gevent.lock.Semaphore()

    def send(final: bool) -> None:
        with sending:
            _send(final)

    def _send(final: bool) -> None:
        if recorder.sealed:
            return  # the final report went already; later records are counted as late
        if final:
            recorder.seal()  # before draining: the drain yields, and nothing may slip in after
        delta = recorder.take_delta(pause=lambda: gevent.sleep(0))
        records = outbox.take() if outbox is not None else None
        if delta.is_empty() and (records is None or records.is_empty()) and not final:
            return
        snapshot = health() if health is not None else GeneratorSnapshot()
        if snapshot.node == "local":  # the default name: say which worker this is
            snapshot.node = f"worker-{runner.worker_index}"
        report = {"delta": delta.to_wire(), "health": snapshot.to_wire(), "final": final, "seq": shipping.messages_sent}
        if records is not None:
            report["records"] = records.to_wire()
        try:
            runner.send_message(LATENCY_MESSAGE, report)
        except Exception:
            # Not sent (ZMQ refuses without queueing): the drained data goes back, so the next
            # report — periodic, or the final one test_stop sends — carries it exactly once.
            recorder.absorb(delta)
            if outbox is not None and records is not None:
                outbox.put_back(records)
            if final:
                recorder.unseal()
            raise
        shipping.messages_sent += 1
        for callback in shipping.on_sent:
            callback(delta)

    def loop() -> None:
        while True:
            gevent.sleep(interval_s)
            try:
                send(final=False)
            except Exception:  # a failed report is logged; the next one carries the data
                logger.exception("sending latency report to master failed")

    def on_flush(environment: Any, msg: Any, **_kw: Any) -> None:
        # Stop users (and, via test_stopping, arrivals) first so nothing is recorded
        # after the final report. Runner.stop() is a no-op if already stopped.
        environment.runner.stop()
        send(final=True)

    def on_test_start(**_kw: Any) -> None:
        recorder.unseal()

    runner.register_message(FLUSH_MESSAGE, on_flush)
    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stop.add_listener(lambda **_kw: send(final=True))
    runner.greenlet.spawn(loop)
    return shipping


def _attach_master(
    environment: Any,
    runner: Any,
    recorder: LatencyRecorder,
    final_timeout_s: float,
    inbox: RecordsInbox | None,
) -> LatencyShipping:
    shipping = LatencyShipping("master", recorder)
    awaited: list[str] = []  # the workers whose final report this stop waits for, or names

    def name(worker: str) -> str:
        # "worker-1" (its own snapshot's name) reads better than Locust's host_uuid id.
        health = shipping.worker_health.get(worker)
        return health.node if health is not None and health.node not in ("", "local") else worker

    def still_missing() -> list[str]:
        return [w for w in awaited if w not in shipping.final_from]

    def can_answer(worker: str) -> bool:
        client = runner.clients.get(worker)
        return client is not None and client.state != LOCUST_STATE_MISSING

    def on_latency(environment: Any, msg: Any, **_kw: Any) -> None:
        data = msg.data or {}
        worker = msg.node_id
        if worker in shipping.final_from:
            shipping.late_reports += 1
        shipping.reported_from.add(worker)
        recorder.absorb(RecorderDelta.from_wire(data.get("delta", {})))
        if data.get("health"):
            shipping.worker_health[worker] = GeneratorSnapshot.from_wire(data["health"])
        shipping.messages_received += 1
        if data.get("records") and inbox is not None:
            try:
                inbox.absorb(RecordsDelta.from_wire(data["records"]), final=bool(data.get("final")))
            except Exception:  # logged: a record that cannot be written must not stop the merge
                logger.exception("could not take in the records of worker %s", worker)
        if data.get("final"):
            shipping.final_from.add(worker)
            if awaited:  # a final report after the stop was judged: the worker is missing no more
                shipping.missing_final = [name(w) for w in still_missing()]

    def on_test_start(**_kw: Any) -> None:
        shipping.final_from.clear()
        shipping.reported_from.clear()
        shipping.missing_final.clear()
        awaited.clear()

    def on_test_stopping(**_kw: Any) -> None:
        listed = [client.id for client in runner.clients.all]
        # A worker Locust no longer lists (dropped after a minute without heartbeats) is
        # awaited too: it cannot answer, so it is named — its communes went silent.
        awaited[:] = list(dict.fromkeys([*listed, *sorted(shipping.reported_from)]))
        for worker in listed:
            if worker not in shipping.final_from:
                runner.send_message(FLUSH_MESSAGE, None, client_id=worker)  # a dead peer's is dropped by ZMQ
        shipping.missing_final = [name(w) for w in still_missing()]
        if getcurrent() in runner.greenlet:
            # Stopping from inside the message loop (e.g. the last worker quit): waiting
            # here would block the very loop that receives the reports; a final report
            # arriving later still takes its worker off the list (on_latency).
            return
        deadline = time.monotonic() + final_timeout_s
        # Bounded by the deadline, and shorter: a worker whose heartbeat is gone (killed)
        # cannot answer, so it is not waited for — the wait would eat the master's stop budget.
        while any(can_answer(w) for w in still_missing()) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        missing = still_missing()
        shipping.missing_final = [name(w) for w in missing]
        if not missing:
            return
        logger.error(
            "no final latency report from worker(s) %s within %.0f s: their last seconds are missing",
            ", ".join(shipping.missing_final),
            final_timeout_s,
        )

    runner.register_message(LATENCY_MESSAGE, on_latency)
    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stopping.add_listener(on_test_stopping)
    return shipping
