"""How a drill treats Ctrl-C (SIGINT) and SIGTERM: obeyed while the load runs, noted but
not obeyed while faults are rolled back — a second Ctrl-C must not leave a fault behind.

Both delegate to the process-wide :data:`kernel.stopping.STOP`, which the CLI installs
for every command, so the drill and the command agree on one stop bound: the first
signal raises ``KeyboardInterrupt``; a second kills the child processes (load, embedded
mocks) at once, while the rollback of faults on the targets still finishes first. Outside
the main thread (Python delivers signals there only) they change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kernel.stopping import STOP

__all__ = ["interrupts_raise", "interrupts_ignored"]


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (restored afterwards)."""
    with STOP.installed():
        yield


@contextmanager
def interrupts_ignored(notes: list[str]) -> Iterator[None]:
    """During the rollback a further Ctrl-C is noted in ``notes``, not obeyed: nothing may be left behind."""
    with STOP.installed(), STOP.protected(notes):
        yield
