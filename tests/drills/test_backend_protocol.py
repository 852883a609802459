"""One typed seam for every backend: the timeline starts and stops an HTTP, network, process
or drill-side traffic step the same way (:class:`drills.backends.FaultBackend`), and the
journal follows what a backend declares, not what it is called — shown with a tiny backend
of the test's own, and with each real backend against the embedded mocks on loopback."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from dientap.orchestration import MockCluster
from drills.backends import (
    FaultBackend,
    FaultOutcome,
    HttpFaultBackend,
    NetworkFaultBackend,
    ProcessFaultBackend,
    TrafficBackend,
    TrafficOutcome,
)
from drills.backends.protocol import LeftBehind
from drills.backends.traffic import TrafficContext
from drills.fault_timeline import AppliedFault, FaultInjector
from drills.model import Fault
from drills.rollback import roll_back
from drills.step_log import StepLog
from kernel.allowlist import Allowlist

T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


def _fault(name: str, backend: str, target: str, spec: dict[str, object], duration_s: float = 5) -> Fault:
    return Fault.model_validate({"name": name, "backend": backend, "target": target, "at_s": 1,
                                 "duration_s": duration_s, backend: spec})


def _journal(injector: FaultInjector) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.name, e.status) for e in injector.steps.events]


# -- a backend of the test's own ------------------------------------------------------------


@dataclass
class TinyBackend:
    """The smallest :class:`FaultBackend`: it records what it is asked and ends as told."""

    runs_until_deadline: bool
    outcome: FaultOutcome = field(default_factory=lambda: FaultOutcome("undone"))
    calls: list[tuple[str, str, float | None]] = field(default_factory=list)
    left: LeftBehind = field(default_factory=LeftBehind)

    def start(self, fault: Fault, deadline: float) -> dict[str, str | int | float | bool | None]:
        self.calls.append(("start", fault.name, deadline))
        return {"done": "yes"}

    def stop(self, fault: Fault) -> FaultOutcome:
        self.calls.append(("stop", fault.name, None))
        return self.outcome

    def clear_all(self) -> dict[str, int | str]:
        self.calls.append(("clear_all", "", None))
        return {"portal": 0}

    def left_behind(self, *, embedded: bool) -> LeftBehind:
        self.calls.append(("left_behind", "embedded" if embedded else "target", None))
        return self.left

    def close(self) -> None:
        self.calls.append(("close", "", None))


OUTAGE = {"kind": "outage", "route": "/feedback"}


def test_a_fault_in_force_is_started_with_its_deadline_and_stopped_through_the_protocol() -> None:
    tiny = TinyBackend(runs_until_deadline=False)
    backends: dict[str, FaultBackend] = {"http": tiny}
    injector = FaultInjector(backends, StepLog(T0), lambda line: None)
    state = AppliedFault(_fault("feedback down", "http", "portal", OUTAGE, duration_s=7))
    before = time.monotonic()
    injector.inject(state)
    injector.remove(state)
    (_, _, deadline), stop = tiny.calls
    assert before + 7 <= deadline <= time.monotonic() + 7  # the deadline is the fault's window from its start
    assert stop == ("stop", "feedback down", None)
    assert _journal(injector) == [("drill_step", "inject feedback down", "ok"), ("fault_start", "feedback down", "ok"),
                                  ("drill_step", "remove feedback down", "ok"), ("fault_stop", "feedback down", "ok")]
    inject, _start, remove, _stop = injector.steps.events
    assert (inject.output, inject.detail["done"], remove.output) == ("done=yes", "yes", "undone")
    assert state.detail == {"done": "yes"} and state.traffic is None


def test_a_step_that_runs_until_its_deadline_is_journalled_by_its_outcome_whatever_its_backend_is_called() -> None:
    seen = TrafficOutcome("document_burst", sent=3, as_expected=1)
    tiny = TinyBackend(runs_until_deadline=True, outcome=FaultOutcome("1/3 as expected", ok=False,
                                                                      detail={"sent": 3}, traffic=seen))
    injector = FaultInjector({"http": tiny}, StepLog(T0), lambda line: None)
    state = AppliedFault(_fault("feedback down", "http", "portal", OUTAGE))
    injector.inject(state)
    injector.remove(state)
    assert [c[0] for c in tiny.calls] == ["start", "stop"]
    assert _journal(injector) == [("fault_start", "feedback down", "started"),
                                  ("drill_step", "http feedback down", "failed"), ("fault_stop", "feedback down", "ok")]
    step = injector.steps.events[1]
    assert (step.output, step.detail) == ("1/3 as expected", {"target": "portal", "fault_kind": "outage", "sent": 3})
    assert state.traffic is seen  # handed on to the verdict and the reconciliation
    assert state.started is not None and state.stopped is not None


def test_the_rollback_clears_any_backend_through_the_protocol() -> None:
    tiny = TinyBackend(runs_until_deadline=False)
    injector = FaultInjector({"http": tiny}, StepLog(T0), lambda line: None)
    assert roll_back([], injector, ["clear_http_faults"], embedded=True) == {}
    assert [c[0] for c in tiny.calls] == ["clear_all", "left_behind"]
    assert (injector.steps.events[0].name, injector.steps.events[0].output) == ("rollback http", "portal: 0")


def test_the_rollback_verifies_every_backend_by_what_it_reports_not_by_its_name() -> None:
    kept = TinyBackend(runs_until_deadline=False, left=LeftBehind({"axis": 2}, {"portal": "gone with its process"}))
    clean = TinyBackend(runs_until_deadline=True)
    injector = FaultInjector({"anything": kept, "traffic": clean}, StepLog(T0), lambda line: None)
    assert roll_back([], injector, [], embedded=False) == {"anything:axis": 2}
    assert ("left_behind", "target", None) in kept.calls and ("left_behind", "target", None) in clean.calls
    verify = next(e for e in injector.steps.events if e.name == "verify rollback")
    assert verify.status == "failed" and "anything:axis=2" in (verify.output or "")
    assert verify.detail["anything:portal"] == "gone with its process"


# -- every real backend, the same way --------------------------------------------------------


@dataclass
class Case:
    """One backend kind: how to build it on the cluster, a fault for it, and what is in force."""

    fault: Fault
    build: Callable[[MockCluster, TrafficContext], FaultBackend]
    in_force: Callable[[FaultBackend], int]


def _http(cluster: MockCluster, _ctx: TrafficContext) -> FaultBackend:
    return HttpFaultBackend(cluster.urls, cluster.config.admin_token, Allowlist())


def _network(cluster: MockCluster, _ctx: TrafficContext) -> FaultBackend:
    net = NetworkFaultBackend(Allowlist(), run_tag="pr")
    net.plumb("axis", cluster.urls["axis"])
    return net


def _process(cluster: MockCluster, _ctx: TrafficContext) -> FaultBackend:
    return ProcessFaultBackend(cluster.services)


def _traffic(_cluster: MockCluster, ctx: TrafficContext) -> FaultBackend:
    return TrafficBackend(ctx)


def _http_rules(backend: FaultBackend) -> int:
    assert isinstance(backend, HttpFaultBackend)
    return backend.active()["portal"]


def _toxics(backend: FaultBackend) -> int:
    assert isinstance(backend, NetworkFaultBackend)
    return backend.leftover()["axis"]


def _paused(backend: FaultBackend) -> int:
    assert isinstance(backend, ProcessFaultBackend)
    return backend.leftover().get("population", 0)


def _acting(backend: FaultBackend) -> int:
    assert isinstance(backend, TrafficBackend)
    return len(backend.running)


CASES = {
    "http": Case(_fault("feedback errors", "http", "portal", {"kind": "error", "route": "/feedback"}), _http, _http_rules),
    "network": Case(_fault("axis slow", "network", "axis", {"toxic": "latency", "attributes": {"latency": 5}}),
                    _network, _toxics),
    "process": Case(_fault("population frozen", "process", "population", {"action": "pause"}), _process, _paused),
    "traffic": Case(_fault("burst", "traffic", "axis", {"action": "document_burst", "count": 2}, duration_s=20),
                    _traffic, _acting),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, clean_cluster: MockCluster,
         traffic_context: TrafficContext) -> Iterator[tuple[str, Case, FaultBackend]]:
    kind = request.param
    built = CASES[kind].build(clean_cluster, traffic_context)
    yield kind, CASES[kind], built
    built.clear_all()  # whatever the test did, nothing stays in force
    built.close()


@pytest.mark.e2e
def test_every_backend_kind_is_started_and_stopped_through_the_same_protocol(
    case: tuple[str, Case, FaultBackend]
) -> None:
    kind, spec, backend = case
    told: list[tuple[str, bool]] = []
    injector = FaultInjector({kind: backend}, StepLog(T0), lambda line: None,
                             lambda name, _kind, active: told.append((name, active)))
    state = AppliedFault(spec.fault)
    injector.inject(state)
    assert spec.in_force(backend) == 1
    injector.remove(state)
    injector.remove(state)  # once only: the rollback's second removal does nothing
    name = spec.fault.name
    assert told == [(name, True), (name, False)]
    assert state.started is not None and state.stopped is not None and state.stopped >= state.started
    journal = _journal(injector)
    if backend.runs_until_deadline:  # drill-side traffic: it acted until its deadline, its outcome is judged
        assert journal == [("fault_start", name, "started"), ("drill_step", f"traffic {name}", "ok"),
                           ("fault_stop", name, "ok")]
        assert state.traffic is not None and state.traffic.sent == state.traffic.as_expected == 2
        assert len(state.traffic.acknowledged["documents"]) == 2
    else:  # a fault in force until it was removed; nothing left of it
        assert journal == [("drill_step", f"inject {name}", "ok"), ("fault_start", name, "ok"),
                           ("drill_step", f"remove {name}", "ok"), ("fault_stop", name, "ok")]
        assert spec.in_force(backend) == 0 and state.traffic is None
    assert backend.runs_until_deadline is (kind == "traffic")

