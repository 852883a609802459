"""How a drill treats Ctrl-C (SIGINT) and SIGTERM: obeyed while the load runs, noted but
not obeyed while faults are rolled back — a second Ctrl-C must not leave a fault behind.

Both only act in the main thread (Python delivers signals there only); elsewhere they
change nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["interrupts_raise", "interrupts_ignored"]


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (restored afterwards)."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    with _signals_handled_by(handler):
        yield


@contextmanager
def interrupts_ignored(notes: list[str]) -> Iterator[None]:
    """During the rollback a further Ctrl-C is noted in ``notes``, not obeyed: nothing may be left behind."""

    def handler(signum: int, _frame: object) -> None:
        notes.append(f"{signal.Signals(signum).name} ignored during rollback")

    with _signals_handled_by(handler):
        yield


@contextmanager
def _signals_handled_by(handler: Callable[[int, object], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
