"""The dossier lifecycle: official status codes 1–10 and the transitions between them.

Pure rules, no I/O, so the state machine can be property-tested on its own. The
transition model is inferred from the published status list (DOMAIN.md), not from a
published spec::

    1 submitted ──► 2 accepted ──► 4 processing ──► 9 result ready ──► 10 result returned
      └──► 3 not accepted           │  ▲   ▲  └──► 8 processing stopped
                                    ▼  │   │
                 5 more documents ──┘  │   └── 6 fees due ──► 9
                                       └──────── 6 (paid)
    any open (non-terminal) state ──► 7 withdrawn (by the applicant only)

Who may ask for what: an officer of the dossier's commune drives every transition
except 7; only the owner citizen may withdraw (7); the payment system moves 6 → 4
when a fee is paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from types import MappingProxyType

__all__ = [
    "DossierStatus",
    "Actor",
    "TRANSITIONS",
    "TERMINAL",
    "IllegalTransition",
    "TransitionNotAllowed",
    "next_status",
    "reachable_from",
]


class DossierStatus(IntEnum):
    """Official dossier status codes of the National Public Service Portal."""

    SUBMITTED = 1  # Mới đăng ký
    ACCEPTED = 2
    NOT_ACCEPTED = 3
    PROCESSING = 4
    MORE_DOCUMENTS_REQUESTED = 5
    FEES_DUE = 6
    WITHDRAWN = 7
    PROCESSING_STOPPED = 8
    RESULT_READY = 9
    RESULT_RETURNED = 10

    @property
    def status_name(self) -> str:
        """The snake_case name used in API responses (``fees_due``)."""
        return self.name.lower()


class Actor(StrEnum):
    """Who asks for a transition."""

    OFFICER = "officer"  # an officer of the dossier's commune
    OWNER = "owner"  # the citizen who submitted the dossier
    PAYMENT = "payment"  # the payment callback (fee paid)


S = DossierStatus
TERMINAL: frozenset[DossierStatus] = frozenset({S.NOT_ACCEPTED, S.WITHDRAWN, S.PROCESSING_STOPPED, S.RESULT_RETURNED})

_FORWARD: dict[DossierStatus, frozenset[DossierStatus]] = {
    S.SUBMITTED: frozenset({S.ACCEPTED, S.NOT_ACCEPTED}),
    S.ACCEPTED: frozenset({S.PROCESSING}),
    S.PROCESSING: frozenset({S.MORE_DOCUMENTS_REQUESTED, S.FEES_DUE, S.PROCESSING_STOPPED, S.RESULT_READY}),
    S.MORE_DOCUMENTS_REQUESTED: frozenset({S.PROCESSING}),
    S.FEES_DUE: frozenset({S.PROCESSING, S.RESULT_READY}),
    S.RESULT_READY: frozenset({S.RESULT_RETURNED}),
}

#: Every legal transition of the model (withdrawal from any open state included).
TRANSITIONS: Mapping[DossierStatus, frozenset[DossierStatus]] = MappingProxyType(
    {
        status: (frozenset() if status in TERMINAL else _FORWARD.get(status, frozenset()) | {S.WITHDRAWN})
        for status in DossierStatus
    }
)


class IllegalTransition(ValueError):
    """The model has no edge ``current → requested`` (HTTP 409)."""

    def __init__(self, current: DossierStatus, requested: int):
        self.current = current
        self.requested = requested
        if current in TERMINAL:
            why = f"status {int(current)} ({current.status_name}) is terminal"
        else:
            allowed = ", ".join(str(int(s)) for s in sorted(TRANSITIONS[current]))
            why = f"allowed from {int(current)}: {allowed}"
        super().__init__(f"illegal transition from {int(current)} to {requested}: {why}")


class TransitionNotAllowed(PermissionError):
    """The edge exists but this actor may not take it (HTTP 403)."""

    def __init__(self, actor: Actor, requested: DossierStatus):
        self.actor = actor
        self.requested = requested
        who = "only the applicant may withdraw a dossier" if requested == S.WITHDRAWN else (
            "only an officer of the dossier's commune may make this transition"
        )
        super().__init__(f"{actor.value} may not move a dossier to {int(requested)}: {who}")


def next_status(current: DossierStatus, requested: int, actor: Actor) -> DossierStatus:
    """Validate ``current → requested`` for ``actor`` and return the new status.

    Raises :class:`IllegalTransition` when the model has no such edge (whoever asks),
    and :class:`TransitionNotAllowed` when the edge exists but belongs to someone else.
    """
    try:
        target = DossierStatus(requested)
    except ValueError:
        raise IllegalTransition(current, requested) from None
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, requested)
    if target == S.WITHDRAWN:
        if actor != Actor.OWNER:
            raise TransitionNotAllowed(actor, target)
    elif actor == Actor.OWNER or (actor == Actor.PAYMENT and not (current == S.FEES_DUE and target == S.PROCESSING)):
        raise TransitionNotAllowed(actor, target)
    return target


def reachable_from(start: DossierStatus = S.SUBMITTED) -> frozenset[DossierStatus]:
    """Every status reachable from ``start`` in the model (``start`` included)."""
    seen = {start}
    todo = [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)
