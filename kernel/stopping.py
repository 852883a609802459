"""How a dientap process stops: Ctrl-C or SIGTERM, in any phase, within a bound.

The contract every long-running command keeps (README, "Exit codes"):

* The first SIGINT or SIGTERM raises ``KeyboardInterrupt`` in the main thread. Each command
  then stops its own way — load drained, faults rolled back, journal written — and the
  process is gone within :data:`STOP_BOUND_S`, however busy the machine.
* If it is not, a watchdog enforces the bound: at :data:`KILL_CHILDREN_AT_S` every child
  process group still alive is SIGKILLed (so the waits on them return), and at the bound the
  process exits 130 after the callbacks given to :meth:`StopSignals.on_force_exit` (which
  record the interruption in the run directory).
* A second signal escalates at once: the children are SIGKILLed and the process exits
  within :data:`ESCALATED_EXIT_S`.
* Inside :meth:`StopSignals.protected` (a drill's fault rollback) a signal is noted, not
  raised, and the forced exit waits for the section to end (at most
  :data:`PROTECTED_GRACE_S` more): leaving a fault behind on a staging system is worse than
  a few seconds' wait.
* A first stop that lands where CPython drops exceptions — a weakref callback (importlib runs
  one whenever an import releases its module lock), a ``__del__`` — is raised again in the
  main flow: CPython hands the dropped ``KeyboardInterrupt`` to :func:`sys.unraisablehook`,
  which :meth:`StopSignals.installed` hooks to note it, and the watchdog then asks for the
  handler once more (a SIGINT sent to the main thread from its own: asked from the hook, the
  handler would run inside the hook and be dropped again). Without it, a run interrupted while
  importing went on with its load until the watchdog killed it.

Why the handlers are installed explicitly: a process started as a background job of a
non-interactive shell (``make test &``, ``nohup``, many CI runners) inherits SIGINT
*ignored*, and CPython then installs no ``KeyboardInterrupt`` handler at all. That is how
``dientap mocks`` once ignored a SIGINT for as long as its ``--duration``: the test's
``communicate(timeout=60)`` expired under ``make test`` launched in the background, and the
same test passed when launched from a terminal.

:data:`CHILDREN` is the one registry of the child processes this process started (mock
services, Locust, Prometheus); escalation kills their process groups.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # only to type and stop the children others started  # nosec B404
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Final

__all__ = [
    "STOP_BOUND_S",
    "KILL_CHILDREN_AT_S",
    "ESCALATED_EXIT_S",
    "PROTECTED_GRACE_S",
    "CHILD_GRACE_S",
    "SIGNAL_DURING_ROLLBACK",
    "CHILDREN",
    "STOP",
    "Children",
    "StopSignals",
    "stop_processes",
]

STOP_BOUND_S: Final = 30.0
"""Seconds from the first Ctrl-C/SIGTERM until the process has exited (documented bound)."""
KILL_CHILDREN_AT_S: Final = 25.0
"""Seconds after the first signal at which children still alive are SIGKILLed."""
ESCALATED_EXIT_S: Final = 3.0
"""Seconds from a second Ctrl-C until the process has exited."""
PROTECTED_GRACE_S: Final = 15.0
"""How much longer a forced exit waits for a protected section (a fault rollback) to end."""
CHILD_GRACE_S: Final = 5.0
"""SIGTERM → SIGKILL grace of a child process in an orderly stop."""
SIGNAL_DURING_ROLLBACK: Final = "received during the rollback; the rollback finished first"
"""The note :meth:`StopSignals.protected` records after the signal's name; the drill verdict
looks for it, so both sides use this one constant rather than two copies of the phrase."""

_WATCH_INTERVAL_S: Final = 0.05
INTERRUPTED_EXIT: Final = 130


class Children:
    """The child processes this process started, so that an escalation can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # re-entrant: see StopSignals.__init__
        self._procs: dict[int, subprocess.Popen[bytes] | subprocess.Popen[str]] = {}

    def add(self, proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
        """Remember ``proc`` until it is reaped."""
        with self._lock:
            self._procs[proc.pid] = proc

    def alive(self) -> list[subprocess.Popen[bytes] | subprocess.Popen[str]]:
        """The registered children that have not exited (reaped ones are forgotten)."""
        with self._lock:
            for pid, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[pid]
            return list(self._procs.values())

    def kill_all(self) -> int:
        """SIGKILL every live child's process group (its own, when it leads one); returns how many."""
        procs = self.alive()
        for proc in procs:
            _kill_group(proc)
        return len(procs)


def _kill_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGKILL ``proc`` and, when it leads a process group of its own, everything in that group."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def stop_processes(procs: Iterable[subprocess.Popen[bytes] | subprocess.Popen[str]],
                   grace_s: float = CHILD_GRACE_S, *, sig: int = signal.SIGTERM) -> None:
    """Stop several children at once: ``sig`` to all, one shared grace period, then SIGKILL.

    Parallel, so three services stop in one grace period rather than three in a row (what
    made a stop take up to 30 s before).
    """
    live = [p for p in procs if p.poll() is None]
    for proc in live:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)  # a frozen (SIGSTOPped) process cannot handle sig
            proc.send_signal(sig)
    deadline = time.monotonic() + grace_s
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()


def _say(line: str) -> None:
    """Tell the operator, from a signal handler: the handler may have interrupted a write to
    stderr in the main thread, and a buffered stream then refuses a second, re-entrant
    write (RuntimeError). The message is dropped rather than the stop."""
    with contextlib.suppress(RuntimeError, OSError):
        print(line, file=sys.stderr, flush=True)


class StopSignals:
    """Process-wide handling of SIGINT and SIGTERM (see the module docstring)."""

    def __init__(self, children: Children) -> None:
        self._children = children
        # Re-entrant: the signal handler runs in the main thread between any two of its steps,
        # also while that thread holds this lock (protected(), the unraisable hook); a plain lock
        # would wait for itself for ever, and the watchdog, needing it too, would never force the exit.
        self._lock = threading.RLock()
        self._depth = 0  # nesting of installed()
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
        self._protected = 0
        self._notes: list[list[str]] = []
        self._callbacks: list[Callable[[], None]] = []
        self._first_at: float | None = None
        self._deadline: float | None = None
        self.signal_name: str | None = None
        self.requested_at: datetime | None = None
        self.escalated = False
        self.children_killed = False
        self._dropped: KeyboardInterrupt | None = None  # our first stop, dropped by CPython: raise it again
        self._redelivering = False  # the watchdog asked for the handler again, for the dropped stop
        self._raised: KeyboardInterrupt | None = None  # what the handler raised for the first stop
        self._previous_unraisable: Callable[[Any], Any] | None = None

    # -- state ------------------------------------------------------------------------

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self._first_at is not None

    # -- installation -----------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle SIGINT and SIGTERM for the duration (main thread only; nests)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        if self._depth == 0:
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
            self._previous_unraisable, sys.unraisablehook = sys.unraisablehook, self._unraisable
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                for sig, old in self._previous.items():
                    signal.signal(sig, old)
                self._previous = {}
                if self._previous_unraisable is not None:
                    sys.unraisablehook, self._previous_unraisable = self._previous_unraisable, None

    @contextlib.contextmanager
    def protected(self, notes: list[str] | None = None) -> Iterator[None]:
        """A section a signal must not cut short: signals are noted in ``notes``, not raised."""
        with self._lock:
            self._protected += 1
            self._notes.append(notes if notes is not None else [])
        try:
            yield
        finally:
            with self._lock:
                self._protected -= 1
                self._notes.pop()

    def on_force_exit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` just before a forced exit (e.g. mark the run directory interrupted)."""
        self._callbacks.append(callback)

    # -- waiting ----------------------------------------------------------------------

    def sleep(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until stopped); raise ``KeyboardInterrupt`` once a stop is asked.

        Slices of 0.2 s: a signal that lands just before a blocking call starts only runs its
        Python handler when the call returns, so a long single wait could miss it.
        """
        end = None if seconds is None else time.monotonic() + seconds
        while end is None or time.monotonic() < end:
            if self.requested and not self._protected:
                raise KeyboardInterrupt(self.signal_name or "stop")
            time.sleep(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))

    # -- the handler and the watchdog ---------------------------------------------------

    def _unraisable(self, unraisable: Any) -> None:
        """CPython dropped an exception (a weakref callback, a ``__del__``): when it is the first
        stop's, have the handler raise it again in the main flow, and say nothing about it."""
        if self._raised is not None and unraisable.exc_value is self._raised:
            with self._lock:
                self._dropped = self._raised  # the watchdog raises it again, once we are out of here
            return
        if self._previous_unraisable is not None:
            self._previous_unraisable(unraisable)

    def _handle(self, signum: int, _frame: object) -> None:
        with self._lock:
            redelivery, self._redelivering = self._redelivering, False
            dropped = self._dropped if redelivery and not self._protected else None
            if dropped is not None:
                self._dropped = None
        if redelivery:  # not a second signal: the first one's KeyboardInterrupt, again (or later)
            if dropped is not None:
                self._raised = KeyboardInterrupt(*dropped.args)
                raise self._raised
            return
        name = signal.Signals(signum).name
        first = False
        with self._lock:
            now = time.monotonic()
            if self._first_at is None:
                first = True
                self._first_at = now
                self._deadline = now + STOP_BOUND_S
                self.signal_name = name
                self.requested_at = datetime.now(UTC)
                threading.Thread(target=self._watch, name="dientap-stop-watchdog", daemon=True).start()
            else:
                self.escalated = True
                self._deadline = min(self._deadline or now, now + ESCALATED_EXIT_S)
            for notes in self._notes:
                notes.append(f"{name} {SIGNAL_DURING_ROLLBACK}")
            protected = self._protected > 0
        if first:
            _say(f"\n{name}: stopping (at most {STOP_BOUND_S:g} s; press Ctrl-C again to stop at once)")
        else:
            _say(f"\n{name} again: killing every child process and exiting")
            self._kill_children()
        if first and not protected:
            self._raised = KeyboardInterrupt(name)
            raise self._raised

    def _kill_children(self) -> None:
        self.children_killed = True
        self._children.kill_all()

    def _watch(self) -> None:
        """Enforce the bound: kill the children, then exit, whatever the main thread is doing."""
        while True:
            time.sleep(_WATCH_INTERVAL_S)
            with self._lock:
                if self._first_at is None or self._deadline is None:
                    return  # reset
                now = time.monotonic()
                kill_due = now >= self._first_at + KILL_CHILDREN_AT_S or self._deadline - now < 1.0
                exit_due = now >= self._deadline
                waiting_for_rollback = self._protected > 0 and now < self._deadline + PROTECTED_GRACE_S
                redeliver = self._dropped is not None and not self._redelivering and not self._protected
                self._redelivering = self._redelivering or redeliver
            if redeliver:
                # A real signal, not _thread.interrupt_main: it also ends a blocking call the main
                # thread is in (EINTR), so self._handle runs at once.
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            if kill_due and not self.children_killed:
                self._kill_children()
            if exit_due and not waiting_for_rollback:
                self._force_exit()

    def _force_exit(self) -> None:
        for callback in self._callbacks:
            with contextlib.suppress(Exception):
                callback()
        self._children.kill_all()
        with contextlib.suppress(Exception):
            print(f"stopped: exceeded the stop bound; exit {INTERRUPTED_EXIT}", file=sys.stderr, flush=True)
            sys.stdout.flush()
        os._exit(INTERRUPTED_EXIT)


CHILDREN: Final = Children()
"""Every child process this process started (the wiring registers them)."""

STOP: Final = StopSignals(CHILDREN)
"""The process's stop handling; the CLI installs it, parts mark their protected sections."""
