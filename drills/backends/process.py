"""Process faults on the embedded mocks: SIGKILL then restart on the same socket, SIGSTOP/SIGCONT."""

from __future__ import annotations

import signal
from collections.abc import Mapping

from drills.backends.protocol import InjectedFaultBackend
from drills.load import ServiceHandle
from drills.model import Fault
from kernel.errors import UsageError

__all__ = ["ProcessFaultBackend"]


class ProcessFaultBackend(InjectedFaultBackend):
    """Kills, restarts, pauses and resumes the embedded mock processes."""

    def __init__(self, services: Mapping[str, ServiceHandle] | None):
        if not services:
            raise UsageError("process faults need the embedded mocks (--target embedded)")
        self.services = services
        self.paused: set[str] = set()
        self.killed: set[str] = set()

    def inject(self, fault: Fault) -> dict[str, str | int | float | bool | None]:
        """SIGKILL (crash: no shutdown hooks) or SIGSTOP (freeze) the target."""
        assert fault.process is not None  # nosec B101
        proc = self.services[fault.target]
        pid = proc.pid
        if fault.process.action == "kill":
            proc.kill()
            self.killed.add(fault.target)
            return {"signal": "SIGKILL", "pid": pid}
        proc.signal(signal.SIGSTOP)
        self.paused.add(fault.target)
        return {"signal": "SIGSTOP", "pid": pid}

    def remove(self, fault: Fault) -> str:
        """Restart a killed service (same socket, waits until healthy) or SIGCONT a paused one."""
        assert fault.process is not None  # nosec B101
        proc = self.services[fault.target]
        if fault.process.action == "kill":
            proc.restart()
            self.killed.discard(fault.target)
            return f"restarted (pid {proc.pid or '?'}, restarts {proc.restarts})"
        proc.signal(signal.SIGCONT)
        self.paused.discard(fault.target)
        return "resumed (SIGCONT)"

    def clear_all(self) -> dict[str, int | str]:
        """Rollback: resume every paused service and restart every killed one."""
        done: dict[str, int | str] = {}
        for name in sorted(self.paused):
            self.services[name].signal(signal.SIGCONT)
            done[name] = "resumed"
        self.paused.clear()
        for name in sorted(self.killed):
            try:
                self.services[name].restart()
                done[name] = "restarted"
                self.killed.discard(name)
            except Exception as exc:  # noqa: BLE001 - reported; the other rollbacks still run
                done[name] = f"restart failed: {exc}"  # still down: stays in killed, so leftover() reports it
        return done

    def leftover(self) -> dict[str, int]:
        """1 for a service still paused or down."""
        return {name: 1 for name in self.paused | self.killed}
