"""Rolling a drill back: remove every fault still active, run every backend's rollback
(declared or not), then verify that nothing is left behind — by asking each backend, not
by assuming.

Runs in the runner's ``finally:``, with further Ctrl-C ignored (:mod:`drills.interrupts`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from drills.fault_timeline import AppliedFault, FaultInjector

__all__ = ["roll_back"]

_BACKEND_OF_ROLLBACK = {"clear_http_faults": "http", "reset_proxy": "network", "resume_processes": "process"}


def roll_back(applied: list[AppliedFault], injector: FaultInjector, declared: Sequence[str], *,
              embedded: bool) -> dict[str, int]:
    """Remove every fault still active, then run every backend's rollback and verify.

    ``declared`` are the drill file's rollbacks (by name); ``embedded`` says the target is
    the embedded mocks. Returns what is left behind (``backend:what`` → count; -1: could
    not check), empty when the rollback is complete.
    """
    for state in applied:
        if state.started is not None and state.stopped is None:
            with contextlib.suppress(Exception):  # the blanket rollback below still runs; the step has the error
                injector.remove(state)
    backends, steps = injector.backends, injector.steps
    # Declared rollbacks first (journalled by name); every backend's rollback runs regardless,
    # because a drill file must not be able to forget one.
    order = [_BACKEND_OF_ROLLBACK[r] for r in declared] + [
        b for b in ("http", "network", "process") if b not in [_BACKEND_OF_ROLLBACK[r] for r in declared]]
    for backend_name in order:
        backend = backends.get(backend_name)
        if backend is None:
            continue
        with steps.step(f"rollback {backend_name}", backend=backend_name) as step:
            try:
                done = backend.clear_all()
                step.output = ", ".join(f"{k}: {v}" for k, v in done.items()) or "nothing to do"
            except Exception as exc:  # noqa: BLE001 - a failed rollback is recorded; the others still run
                step.status, step.error = "error", f"{type(exc).__name__}: {exc}"
    return _verify(injector, embedded=embedded)


def _verify(injector: FaultInjector, *, embedded: bool) -> dict[str, int]:
    backends = injector.backends
    leftovers: dict[str, int] = {}
    with injector.steps.step("verify rollback") as step:
        # Every backend says what it still holds, and what is gone by itself; no backend
        # is asked by name or type.
        for name, backend in backends.items():
            left = backend.left_behind(embedded=embedded)
            for target, note in left.notes.items():
                step.detail[f"{name}:{target}"] = note
            leftovers.update({f"{name}:{target}": count for target, count in left.counts.items()})
        step.output = "nothing left behind" if not leftovers else "LEFT BEHIND (-1: could not check): " + ", ".join(
            f"{k}={v}" for k, v in leftovers.items())
        for key, value in leftovers.items():
            step.detail[key] = value
        if leftovers:
            step.status = "failed"
    return leftovers
