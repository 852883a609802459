"""Faults on the load's timeline: each injection and removal journalled as a step and a
fault event, observers told, drill-side traffic run in its own thread, and the plan
walked in order against the load's clock (network faults through dientap's own fault
proxy in front of a real HTTP upstream, on loopback)."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from drills.backends import NetworkFaultBackend, TrafficBackend, TrafficOutcome
from drills.backends.traffic import TrafficContext
from drills.fault_timeline import AppliedFault, FaultInjector
from drills.model import Drill, Fault
from drills.step_log import StepLog
from kernel.allowlist import Allowlist
from tests.support import loopback_http_server

pytestmark = pytest.mark.e2e

T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with loopback_http_server(_Ok) as url:
        yield url


def _closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@dataclass
class Recorder:
    """What the injector said and told its observer."""

    said: list[str] = field(default_factory=list)
    told: list[tuple[str, str, bool]] = field(default_factory=list)

    def on_fault(self, name: str, kind: str, active: bool) -> None:
        self.told.append((name, kind, active))


@pytest.fixture
def network(upstream: str) -> Iterator[NetworkFaultBackend]:
    net = NetworkFaultBackend(Allowlist(), run_tag="tl")
    net.plumb("axis", upstream)
    yield net
    net.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _injector(backends: dict, recorder: Recorder) -> FaultInjector:
    return FaultInjector(backends, StepLog(T0), recorder.said.append, recorder.on_fault)


def _fault(name: str, backend: str = "network", at_s: float = 1, duration_s: float = 2, **spec: object) -> Fault:
    body = spec or {"toxic": "latency", "attributes": {"latency": 10}}
    return Fault.model_validate({"name": name, "backend": backend, "target": "axis", "at_s": at_s,
                                 "duration_s": duration_s, backend: body})


def test_a_fault_is_injected_and_removed_once_with_its_steps_and_events(
    network: NetworkFaultBackend, recorder: Recorder
) -> None:
    injector = _injector({"network": network}, recorder)
    state = AppliedFault(_fault("axis slow"))
    injector.inject(state)
    assert [t.name for t in network.client.toxics("dientap-tl-axis")] == ["drill-axis-slow"]
    injector.remove(state)
    injector.remove(state)  # a second removal (the rollback's) does nothing
    assert network.client.toxics("dientap-tl-axis") == []
    assert state.started is not None and state.stopped is not None and state.stopped >= state.started
    assert recorder.said == ["  inject axis slow (network latency on axis)", "  remove axis slow"]
    assert recorder.told == [("axis slow", "latency", True), ("axis slow", "latency", False)]
    inject, start, remove, stop = injector.steps.events
    assert (inject.kind, inject.name, inject.status) == ("drill_step", "inject axis slow", "ok")
    assert inject.detail["toxic"] == "latency" and inject.detail["attr.latency"] == 10
    assert inject.output == "proxy=dientap-tl-axis, toxic=latency, stream=downstream, toxicity=1.0, attr.latency=10"
    assert (start.kind, start.t, start.detail) == (
        "fault_start", state.started, {"backend": "network", "target": "axis", "fault_kind": "latency", "planned_offset_s": 1.0})
    assert (remove.name, remove.status, remove.output) == ("remove axis slow", "ok", "removed")
    assert (stop.kind, stop.t, stop.status) == ("fault_stop", state.stopped, "ok")


def test_a_failing_injection_is_a_journalled_error_without_a_fault_start(
    network: NetworkFaultBackend, recorder: Recorder
) -> None:
    injector = _injector({"network": network}, recorder)
    portal = Fault.model_validate({"name": "portal slow", "backend": "network", "target": "portal", "at_s": 1,
                                   "duration_s": 2, "network": {"toxic": "latency"}})  # no proxy in front of it
    state = AppliedFault(portal)
    with pytest.raises(KeyError):
        injector.inject(state)
    (step,) = injector.steps.events
    assert (step.name, step.status, step.error) == ("inject portal slow", "error", "KeyError: 'portal'")
    with pytest.raises(KeyError):
        injector.remove(state)  # what the rollback would try: the error is journalled, the stop still written
    assert [(e.kind, e.status) for e in injector.steps.events[1:]] == [("drill_step", "error"), ("fault_stop", "ok")]
    assert state.stopped is not None


def test_an_observer_that_fails_never_breaks_a_fault(network: NetworkFaultBackend) -> None:
    def broken(name: str, kind: str, active: bool) -> None:
        raise RuntimeError("metrics exporter gone")

    injector = FaultInjector({"network": network}, StepLog(T0), lambda line: None, broken)
    state = AppliedFault(_fault("axis slow"))
    injector.inject(state)
    injector.remove(state)
    assert [e.status for e in injector.steps.events] == ["ok", "ok", "ok", "ok"]


def _traffic() -> TrafficBackend:
    urls = {"portal": _closed_url(), "axis": _closed_url()}
    return TrafficBackend(TrafficContext(urls=urls, secret="s", seed=1, population_size=100, pki_dir=None,
                                         run_id="r", allowlist=Allowlist()))


def test_drill_traffic_runs_in_its_own_thread_and_its_outcome_is_journalled_at_removal(recorder: Recorder) -> None:
    traffic = _traffic()
    injector = _injector({"traffic": traffic}, recorder)
    burst = AppliedFault(_fault("burst", backend="traffic", action="document_burst", count=5))
    injector.inject(burst)
    thread = traffic.running["burst"].thread
    assert thread.name == "drill-traffic-burst"
    injector.remove(burst)
    assert not thread.is_alive()
    assert burst.traffic is not None and burst.traffic.notes == ["no PKI directory: cannot sign documents"]
    start, step, stop = injector.steps.events
    assert (start.kind, start.status, start.detail["backend"]) == ("fault_start", "started", "traffic")
    assert (step.name, step.status) == ("traffic burst", "failed")  # nothing sent: the action did not do its job
    assert step.output == "document_burst: 0/0 answers as expected; no PKI directory: cannot sign documents"
    assert step.detail["sent"] == 0 and step.detail["as_expected"] == 0
    assert stop.kind == "fault_stop"
    traffic.close()


def test_an_action_whose_target_never_answers_fails_with_every_request_counted(recorder: Recorder) -> None:
    traffic = _traffic()  # its URLs are dead ports
    injector = _injector({"traffic": traffic}, recorder)
    probe = AppliedFault(_fault("probe", backend="traffic", action="submission_probe", count=2))
    injector.inject(probe)
    injector.remove(probe)
    assert probe.traffic is not None and probe.traffic.stopped_by is None
    step = injector.steps.events[1]
    assert step.status == "failed"
    assert step.output == "submission_probe: 0/2 answers as expected; unexpected: citizen sign-in unanswered (ConnectError) ×2"
    traffic.close()


def test_an_action_that_raises_is_that_actions_failure(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = _traffic()
    injector = _injector({"traffic": traffic}, recorder)

    def broken(spec: object, out: TrafficOutcome, deadline: float) -> None:
        out.record(True, "201")
        raise RuntimeError("the action's own bug")

    monkeypatch.setattr(traffic, "_document_burst", broken)
    burst = AppliedFault(_fault("burst", backend="traffic", action="document_burst", count=2))
    injector.inject(burst)
    injector.remove(burst)
    assert burst.traffic is not None and burst.traffic.stopped_by == "RuntimeError: the action's own bug"
    step = injector.steps.events[1]
    assert step.status == "failed"
    assert step.output == "document_burst: 1/1 answers as expected; stopped by RuntimeError: the action's own bug"
    traffic.close()


def test_a_step_that_runs_until_its_deadline_is_told_so_by_its_backend_not_by_its_name(
    network: NetworkFaultBackend, recorder: Recorder
) -> None:
    # The traffic backend under another name, and a fault backend under the name "traffic":
    # each is journalled by what it declares (runs_until_deadline), not by what it is called.
    traffic = _traffic()
    injector = _injector({"process": traffic, "traffic": network}, recorder)
    acting = AppliedFault(_fault("burst", backend="traffic", action="document_burst", count=1).model_copy(
        update={"backend": "process"}))
    slow = AppliedFault(_fault("axis slow").model_copy(update={"backend": "traffic"}))
    for state in (acting, slow):
        injector.inject(state)
    for state in (acting, slow):
        injector.remove(state)
    assert [(e.kind, e.name, e.status) for e in injector.steps.events] == [
        ("fault_start", "burst", "started"),
        ("drill_step", "inject axis slow", "ok"), ("fault_start", "axis slow", "ok"),
        ("drill_step", "process burst", "failed"), ("fault_stop", "burst", "ok"),
        ("drill_step", "remove axis slow", "ok"), ("fault_stop", "axis slow", "ok"),
    ]
    assert acting.traffic is not None and acting.traffic.action == "document_burst" and slow.traffic is None
    assert network.client.toxics("dientap-tl-axis") == []
    traffic.close()


class FakeClockLoad:
    """The load's timeline as :meth:`FaultInjector.run_plan` reads it: a clock that moves
    ``step_s`` each time it is read, unknown (``None``) for the first ``closed_reads``
    reads (the load's doors not open yet), and a load that may have ended."""

    def __init__(self, step_s: float, ended: bool = False, closed_reads: int = 0):
        self.now = 0.0
        self.step_s = step_s
        self.ended = ended
        self.closed_reads = closed_reads
        self.reads_before_open = 0

    @property
    def started_at(self) -> float | None:
        return T0.timestamp() if self.closed_reads == 0 else None

    def elapsed(self) -> float | None:
        if self.closed_reads > 0:
            self.closed_reads -= 1
            self.reads_before_open += 1
            return None
        self.now += self.step_s
        return self.now

    def wait(self, timeout_s: float | None = None) -> bool:
        return self.ended


def _plan() -> Drill:
    return Drill.model_validate({"title": "plan", "method": [
        {"name": "down", "backend": "network", "target": "axis", "at_s": 2, "duration_s": 2, "network": {"toxic": "down"}},
        {"name": "slow", "backend": "network", "target": "axis", "at_s": 1, "duration_s": 2,
         "network": {"toxic": "latency", "attributes": {"latency": 10}}},
    ]})


def test_the_plan_is_walked_in_order_each_step_no_earlier_than_its_offset(network: NetworkFaultBackend) -> None:
    drill = _plan()
    load = FakeClockLoad(step_s=0.25)
    when: list[tuple[str, float]] = []
    injector = FaultInjector({"network": network}, StepLog(T0), lambda line: when.append((line.strip(), load.now)))
    applied = [AppliedFault(f) for f in drill.method]
    injector.run_plan(drill, load, applied)
    assert [line for line, _ in when] == ["inject slow (network latency on axis)", "inject down (network down on axis)",
                                          "remove slow", "remove down"]
    for (_line, at), offset in zip(when, (1, 2, 3, 4), strict=True):
        assert offset <= at < offset + 1  # the clock moves a quarter second per look
    assert all(a.started is not None and a.stopped is not None for a in applied)
    assert network.leftover() == {"axis": 0}


def test_when_the_load_ends_early_every_pending_step_runs_at_once(network: NetworkFaultBackend, recorder: Recorder) -> None:
    drill = _plan()
    injector = _injector({"network": network}, recorder)
    applied = [AppliedFault(f) for f in drill.method]
    injector.run_plan(drill, FakeClockLoad(step_s=0.0, ended=True), applied)
    assert recorder.said == ["  inject slow (network latency on axis)", "  inject down (network down on axis)",
                             "  remove slow", "  remove down"]
    assert network.leftover() == {"axis": 0}  # no fault outlives the load


def test_nothing_is_injected_before_the_loads_doors_open_and_steps_carry_their_plan(network: NetworkFaultBackend) -> None:
    """The run's one clock starts when the load opens its doors (kernel.load_clock), not
    when it was launched: until then the plan waits, even for a fault at 0 s."""
    drill = Drill.model_validate({"title": "at once", "method": [
        {"name": "down", "backend": "network", "target": "axis", "at_s": 0, "duration_s": 1, "network": {"toxic": "down"}},
    ]})
    load = FakeClockLoad(step_s=0.5, closed_reads=3)
    steps = StepLog(T0)
    seen: list[int] = []
    injector = FaultInjector({"network": network}, steps, lambda line: seen.append(load.reads_before_open))
    injector.run_plan(drill, load, [AppliedFault(f) for f in drill.method])
    assert seen[0] == 3  # the first injection only after the three reads of a closed door
    events = {e.kind: e for e in steps.events if e.kind in ("fault_start", "fault_stop")}
    assert events["fault_start"].detail["planned_offset_s"] == 0 and events["fault_stop"].detail["planned_offset_s"] == 1
    # The fake's doors opened at T0 on the run's clock; the real wall clock is far later.
    assert events["fault_start"].detail["late_ms"] > 0 and events["fault_stop"].detail["late_ms"] > 0
    assert network.leftover() == {"axis": 0}
