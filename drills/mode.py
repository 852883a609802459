"""How a drill is run: for real, or dry (Chaos Toolkit's ``--dry``, kept to the one dry mode
dientap needs: nothing at all is started, injected or sent — Chaos Toolkit's ``activities``).

Both modes write the same journal shape; the dry walk records its mode in the journal's
opening ``note`` event (``detail.mode``).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DrillMode"]


class DrillMode(StrEnum):
    """What :class:`drills.runner.DrillRunner` does with a drill (``dientap drill --dry`` → ``DRY``)."""

    RUN = "run"
    """Start the target and the load, inject and remove every fault, roll back, reconcile."""
    DRY = "dry"
    """Validate and walk the plan: nothing is started, injected or sent."""
