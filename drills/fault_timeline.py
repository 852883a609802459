"""A drill's faults on the load's timeline: the plan (what to inject or remove at which
offset), and starting and stopping each step through its backend when its time comes.

Every backend is a :class:`~drills.backends.FaultBackend`, started and stopped the same
way; the journal follows what the backend declares, never its name:

* a fault **in force until stopped** (http, network, process): an ``inject NAME`` step and
  a ``fault_start`` event; at its end a ``remove NAME`` step and a ``fault_stop`` event;
* a step that **runs until its deadline** (drill-side traffic, in its own thread): a
  ``fault_start`` event (``started``); at its end the timeline waits for it, then a
  ``<backend> NAME`` step with its outcome (``failed`` when it did not do its job) and a
  ``fault_stop`` event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drills.backends import FaultBackend, FaultOutcome, TrafficOutcome
from drills.model import Drill, Fault
from drills.step_log import StepLog
from reports.journal import JournalEvent

if TYPE_CHECKING:
    from drills.load import LoadSession

__all__ = ["AppliedFault", "FaultBackend", "FaultInjector", "planned_steps"]

UTC = dt.UTC


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


class FaultInjector:
    """Starts and stops faults through ``backends`` (by backend name), journalling into ``steps``.

    ``backends`` is read at each call, so the runner may fill it after creating the injector.
    ``on_fault(name, kind, active)`` is told when each fault starts and stops; a failing hook
    is ignored.
    """

    def __init__(self, backends: Mapping[str, FaultBackend], steps: StepLog, say: Callable[[str], None],
                 on_fault: Callable[[str, str, bool], None] | None = None):
        self.backends = backends
        self.steps = steps
        self.say = say
        self.on_fault = on_fault

    def run_plan(self, drill: Drill, load: LoadSession, applied: list[AppliedFault]) -> None:
        """Inject and remove every fault at its offset from the load's start (returns at the last step)."""
        by_fault = {id(a.fault): a for a in applied}
        pending = planned_steps(drill)
        while pending:
            offset, what, fault = pending[0]
            # The run's one clock: offsets count from the load's own start (kernel.load_clock),
            # unknown (None) until its doors open. A load that ended without starting lets
            # the remaining steps run at once.
            elapsed = load.elapsed()
            if (elapsed is None or elapsed < offset) and not load.wait(0):
                time.sleep(0.05 if elapsed is None else min(0.1, offset - elapsed))
                continue
            pending.pop(0)
            state = by_fault[id(fault)]
            planned = None if load.started_at is None else load.started_at + offset
            if what == "inject":
                self.inject(state, planned)
            elif state.started is not None:
                self.remove(state, planned)

    def _tell(self, fault: Fault, active: bool) -> None:
        if self.on_fault is not None:
            with contextlib.suppress(Exception):  # an observer must never break a drill or its rollback
                self.on_fault(fault.name, fault.kind, active)

    def _runs_until_deadline(self, fault: Fault) -> bool:
        # A missing backend is journalled as the failure of an ordinary step (its KeyError).
        backend = self.backends.get(fault.backend)
        return backend is not None and backend.runs_until_deadline

    def inject(self, state: AppliedFault, planned: float | None = None) -> None:
        """Start one fault (a step running until its deadline runs in its own thread) and journal it.

        ``planned`` is when it was due (epoch seconds on the run's clock); the ``fault_start``
        event carries it as ``planned_offset_s`` and how late it started as ``late_ms``.
        """
        fault, steps = state.fault, self.steps
        self._tell(fault, True)
        self.say(f"  inject {fault.name} ({fault.backend} {fault.kind} on {fault.proxy_key})")
        deadline = time.monotonic() + fault.duration_s
        if self._runs_until_deadline(fault):
            state.started = dt.datetime.now(UTC)
            steps.event("fault_start", fault.name, t=state.started, status="started", backend=fault.backend,
                        target=fault.proxy_key, fault_kind=fault.kind, **_timing(fault.at_s, planned, state.started))
            state.detail = self.backends[fault.backend].start(fault, deadline)
            return
        with steps.step(f"inject {fault.name}", backend=fault.backend, target=fault.proxy_key, fault_kind=fault.kind) as step:
            state.started = dt.datetime.now(UTC)
            state.detail = self.backends[fault.backend].start(fault, deadline)
            step.detail.update(state.detail)
            step.output = ", ".join(f"{k}={v}" for k, v in state.detail.items())
        steps.event("fault_start", fault.name, t=state.started, status="ok", backend=fault.backend,
                    target=fault.proxy_key, fault_kind=fault.kind, **_timing(fault.at_s, planned, state.started))

    def remove(self, state: AppliedFault, planned: float | None = None) -> None:
        """Stop one fault (once; a step running until its deadline is waited for) and journal how it ended."""
        fault, steps = state.fault, self.steps
        if state.stopped is not None:
            return
        began = dt.datetime.now(UTC)
        timing = _timing(fault.end_s, planned, began)
        self._tell(fault, False)
        self.say(f"  remove {fault.name}")
        if self._runs_until_deadline(fault):
            outcome = self.backends[fault.backend].stop(fault)  # waits (bounded) for it to reach its deadline
            state.stopped = dt.datetime.now(UTC)
            with steps.step(f"{fault.backend} {fault.name}", target=fault.proxy_key, fault_kind=fault.kind) as step:
                _journal_outcome(state, step, outcome)
            steps.event("fault_stop", fault.name, t=state.stopped, status="ok", backend=fault.backend, **timing)
            return
        try:
            with steps.step(f"remove {fault.name}", backend=fault.backend, target=fault.proxy_key) as step:
                _journal_outcome(state, step, self.backends[fault.backend].stop(fault))
        finally:
            state.stopped = dt.datetime.now(UTC)
            steps.event("fault_stop", fault.name, t=state.stopped, status="ok", backend=fault.backend, **timing)


def _timing(offset_s: float, planned: float | None, at: dt.datetime) -> dict[str, float]:
    """When a step was due on the run's clock (``planned_offset_s``) and how late it began
    (``late_ms``; absent when the load's clock never started, e.g. a load that crashed)."""
    timing = {"planned_offset_s": offset_s}
    if planned is not None:
        timing["late_ms"] = round((at.timestamp() - planned) * 1000, 1)
    return timing


def _journal_outcome(state: AppliedFault, step: JournalEvent, outcome: FaultOutcome) -> None:
    """How a fault ended, into its journal step (``failed`` when it did not do its job) and its state."""
    step.output = outcome.output
    if not outcome.ok:
        step.status = "failed"
    step.detail.update(outcome.detail)
    state.traffic = outcome.traffic
