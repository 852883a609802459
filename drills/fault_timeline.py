"""A drill's faults on the load's timeline: the plan (what to inject or remove at which
offset), and injecting and removing each fault through its backend when its time comes.

Every injection and removal is journalled as a step plus a ``fault_start`` / ``fault_stop``
event. Drill-side traffic (``traffic`` backend) runs in its own thread until its deadline;
its "removal" waits for it and journals its outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from drills.backends import TrafficBackend, TrafficOutcome
from drills.model import Drill, Fault
from drills.step_log import StepLog

if TYPE_CHECKING:
    from drills.load import LoadSession

__all__ = ["AppliedFault", "FaultBackend", "FaultInjector", "planned_steps"]

UTC = dt.UTC


class FaultBackend(Protocol):
    """What the http, network and process backends do (drill-side traffic is a :class:`TrafficBackend`)."""

    def inject(self, fault: Fault) -> dict[str, str | int | float | bool | None]:
        """Start ``fault``; what was done, for the journal."""

    def remove(self, fault: Fault) -> str:
        """Stop ``fault``; a one-line outcome."""

    def clear_all(self) -> dict[str, int | str]:
        """Rollback: everything this backend may have left, removed; per target, a count or an error."""


def planned_steps(drill: Drill) -> list[tuple[float, str, Fault]]:
    """The schedule: (offset, "inject" | "remove", fault), in time order (removals first on ties)."""
    steps = [(f.at_s, "inject", f) for f in drill.method] + [(f.end_s, "remove", f) for f in drill.method]
    return sorted(steps, key=lambda s: (s[0], 0 if s[1] == "remove" else 1))


@dataclass
class AppliedFault:
    """A fault as it really happened (wall-clock times)."""

    fault: Fault
    started: dt.datetime | None = None
    stopped: dt.datetime | None = None
    detail: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    traffic: TrafficOutcome | None = None
    thread: threading.Thread | None = None


class FaultInjector:
    """Injects and removes faults through ``backends`` (by backend name), journalling into ``steps``.

    ``backends`` is read at each call, so the runner may fill it after creating the injector.
    ``on_fault(name, kind, active)`` is told when each fault starts and stops; a failing hook
    is ignored.
    """

    def __init__(self, backends: dict[str, FaultBackend | TrafficBackend], steps: StepLog, say: Callable[[str], None],
                 on_fault: Callable[[str, str, bool], None] | None = None):
        self.backends = backends
        self.steps = steps
        self.say = say
        self.on_fault = on_fault

    def fault_backend(self, name: str) -> FaultBackend:
        """The backend named ``name``, which must inject faults (not send drill-side traffic)."""
        backend = self.backends[name]
        if isinstance(backend, TrafficBackend):
            raise TypeError(f"backend {name!r} sends drill-side traffic, it injects no faults")
        return backend

    def run_plan(self, drill: Drill, dry: LoadSession, applied: list[AppliedFault]) -> None:
        """Inject and remove every fault at its offset from the load's start (returns at the last step)."""
        by_fault = {id(a.fault): a for a in applied}
        pending = planned_steps(drill)
        while pending:
            offset, what, fault = pending[0]
            if dry.elapsed() < offset and not dry.wait(0):
                time.sleep(min(0.1, offset - dry.elapsed()))
                continue
            pending.pop(0)
            state = by_fault[id(fault)]
            if what == "inject":
                self.inject(state)
            elif state.started is not None:
                self.remove(state)

    def _tell(self, fault: Fault, active: bool) -> None:
        if self.on_fault is not None:
            with contextlib.suppress(Exception):  # an observer must never break a drill or its rollback
                self.on_fault(fault.name, fault.kind, active)

    def inject(self, state: AppliedFault) -> None:
        """Start one fault (or drill-side traffic, in its own thread) and journal it."""
        fault, backends, steps = state.fault, self.backends, self.steps
        self._tell(fault, True)
        self.say(f"  inject {fault.name} ({fault.backend} {fault.kind} on {fault.proxy_key})")
        if fault.backend == "traffic":
            backend = backends["traffic"]
            if not isinstance(backend, TrafficBackend):
                raise TypeError(f"backend 'traffic' is a {type(backend).__name__}, not a TrafficBackend")
            deadline = time.monotonic() + fault.duration_s
            state.started = dt.datetime.now(UTC)
            steps.event("fault_start", fault.name, t=state.started, status="started", backend="traffic",
                        target=fault.target, fault_kind=fault.kind)

            def run() -> None:
                try:
                    state.traffic = backend.run(fault, deadline)
                except Exception as exc:  # noqa: BLE001 - reported as this action's failure
                    state.traffic = TrafficOutcome(fault.kind, notes=[f"{type(exc).__name__}: {exc}"])

            state.thread = threading.Thread(target=run, name=f"drill-traffic-{fault.name}", daemon=True)
            state.thread.start()
            return
        with steps.step(f"inject {fault.name}", backend=fault.backend, target=fault.proxy_key, fault_kind=fault.kind) as step:
            state.started = dt.datetime.now(UTC)
            state.detail = self.fault_backend(fault.backend).inject(fault)
            step.detail.update(state.detail)
            step.output = ", ".join(f"{k}={v}" for k, v in state.detail.items())
        steps.event("fault_start", fault.name, t=state.started, status="ok", backend=fault.backend,
                    target=fault.proxy_key, fault_kind=fault.kind)

    def remove(self, state: AppliedFault) -> None:
        """Stop one fault (once; wait for drill-side traffic to end) and journal it."""
        fault, steps = state.fault, self.steps
        if state.stopped is not None:
            return
        self._tell(fault, False)
        self.say(f"  remove {fault.name}")
        if fault.backend == "traffic":
            if state.thread is not None:
                state.thread.join(30)  # bounded: the action stops at its own deadline
            state.stopped = dt.datetime.now(UTC)
            outcome = state.traffic
            with steps.step(f"traffic {fault.name}", target=fault.target, fault_kind=fault.kind) as step:
                step.output = outcome.summary() if outcome else "no outcome (still running?)"
                if outcome is None or not outcome.ok:
                    step.status = "failed"
                if outcome is not None:
                    step.detail.update({"sent": outcome.sent, "as_expected": outcome.as_expected})
            steps.event("fault_stop", fault.name, t=state.stopped, status="ok", backend="traffic")
            return
        try:
            with steps.step(f"remove {fault.name}", backend=fault.backend, target=fault.proxy_key) as step:
                step.output = self.fault_backend(fault.backend).remove(fault)
        finally:
            state.stopped = dt.datetime.now(UTC)
            steps.event("fault_stop", fault.name, t=state.stopped, status="ok", backend=fault.backend)
