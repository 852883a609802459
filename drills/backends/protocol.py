"""The one seam between the fault timeline and the backends: every step of a drill's
method — an HTTP, network or process fault, or bounded drill-side traffic — is started and
stopped through :class:`FaultBackend`, so the timeline never asks which backend it holds.

How a started step ends is declared by its backend (``runs_until_deadline``), never
guessed from the backend's name::

    in force until stopped    http, network, process   start = inject, stop = remove
    runs until its deadline   traffic                  start = a thread acting until the
                                                        deadline, stop = wait for it and
                                                        hand back what it saw (judged)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from drills.model import Fault
from reports.journal import DetailValue

if TYPE_CHECKING:
    from drills.backends.traffic import TrafficOutcome

__all__ = ["FaultBackend", "FaultOutcome", "InjectedFaultBackend", "LeftBehind"]


@dataclass(frozen=True)
class FaultOutcome:
    """How one step of the method ended: a line for the journal, whether it did its job,
    the figures worth keeping, and (drill-side traffic) what it saw and was acknowledged."""

    output: str
    ok: bool = True
    detail: dict[str, DetailValue] = field(default_factory=dict)
    traffic: TrafficOutcome | None = None


@dataclass(frozen=True)
class LeftBehind:
    """What a backend still has in force after the rollback: per target a count (−1: could
    not check), and per target a note for what is gone by itself and so is not left behind."""

    counts: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


class FaultBackend(Protocol):
    """What the timeline and the rollback need of any backend (http, network, process, traffic)."""

    @property
    def runs_until_deadline(self) -> bool:
        """True when a started step acts by itself until its deadline (in its own thread) and
        its stop waits for it; False when it stays in force until it is stopped."""
        ...

    def start(self, fault: Fault, deadline: float) -> dict[str, DetailValue]:
        """Start ``fault``, to end by ``deadline`` (``time.monotonic()``); what was done, for the journal."""
        ...

    def stop(self, fault: Fault) -> FaultOutcome:
        """Stop ``fault`` (or wait for it to reach its deadline); how it ended."""
        ...

    def clear_all(self) -> dict[str, int | str]:
        """Rollback: everything this backend may have left, removed; per target, a count or an error."""
        ...

    def left_behind(self, *, embedded: bool) -> LeftBehind:
        """After the rollback: what is still in force (``embedded``: the targets are our own
        mocks, which a terminal's Ctrl-C may be stopping)."""
        ...

    def close(self) -> None:
        """Release what the backend holds (connections, proxies); the drill is over."""
        ...


class InjectedFaultBackend(ABC):
    """The :class:`FaultBackend` face of a backend whose faults stay in force from
    :meth:`inject` to :meth:`remove` (HTTP, network, process): the timeline keeps the deadline."""

    runs_until_deadline = False

    @abstractmethod
    def inject(self, fault: Fault) -> dict[str, DetailValue]:
        """Put ``fault`` in force; what was done, for the journal."""

    @abstractmethod
    def remove(self, fault: Fault) -> str:
        """Take ``fault`` out of force; a one-line outcome."""

    @abstractmethod
    def clear_all(self) -> dict[str, int | str]:
        """Rollback: everything this backend may have left, removed; per target, a count or an error."""

    def start(self, fault: Fault, deadline: float) -> dict[str, DetailValue]:
        """:meth:`inject` ``fault``; it stays in force until :meth:`stop`, whatever the deadline."""
        return self.inject(fault)

    def stop(self, fault: Fault) -> FaultOutcome:
        """:meth:`remove` ``fault``."""
        return FaultOutcome(self.remove(fault))

    def leftover(self) -> dict[str, int]:
        """Faults still in force per target (−1 when it cannot be read); none by default."""
        return {}

    def left_behind(self, *, embedded: bool) -> LeftBehind:
        """:meth:`leftover`, the targets with nothing in force left out."""
        return LeftBehind({target: count for target, count in self.leftover().items() if count})

    def close(self) -> None:  # noqa: B027 - an optional hook, not abstract: the process backend holds nothing
        """Nothing held by default; a backend with connections or proxies closes them."""
