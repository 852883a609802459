"""Which drill faults are in force, as a tiny process-wide registry the exporter reads.

Drills call :meth:`DrillState.set_active` when a fault starts and stops; the exporter
exposes ``dientap_drill_fault_active{fault, kind}`` (1 while active, 0 once cleared, so
dashboards can draw start *and* end markers). Names come from the drill catalog, so the
label set is bounded; :data:`MAX_FAULTS` guards against a loop inventing names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["MAX_FAULTS", "FaultState", "DrillState"]

MAX_FAULTS = 200


@dataclass(frozen=True, slots=True)
class FaultState:
    """One fault the registry has seen."""

    name: str
    kind: str
    active: bool


class DrillState:
    """Process-wide registry of drill faults (class-level: call it without an instance)."""

    _lock = threading.Lock()
    _faults: ClassVar[dict[tuple[str, str], bool]] = {}

    @classmethod
    def set_active(cls, name: str, kind: str, active: bool) -> None:
        """Mark fault ``name`` of ``kind`` (e.g. ``latency``, ``error``, ``partition``) on or off."""
        if not name or not kind:
            raise ValueError(f"set_active: name and kind must be non-empty, got name={name!r} kind={kind!r}")
        with cls._lock:
            key = (name, kind)
            if key not in cls._faults and len(cls._faults) >= MAX_FAULTS:
                raise ValueError(f"set_active: more than {MAX_FAULTS} distinct faults; fault names must come from the catalog")
            cls._faults[key] = bool(active)

    @classmethod
    def faults(cls) -> list[FaultState]:
        """Every fault seen so far, sorted by name then kind."""
        with cls._lock:
            return [FaultState(name, kind, active) for (name, kind), active in sorted(cls._faults.items())]

    @classmethod
    def active(cls) -> list[FaultState]:
        """The faults in force now."""
        return [f for f in cls.faults() if f.active]

    @classmethod
    def reset(cls) -> None:
        """Forget every fault (a new run, or a test)."""
        with cls._lock:
            cls._faults.clear()
