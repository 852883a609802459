"""Status receipts (*thông báo trạng thái*) and the order in which a recipient may send them.

Each recipient of a document walks its own small state machine; the state is the last
receipt code it sent (``None`` before the first). The official codes are from
QCVN 102:2016; the *order* below is our simple, documented reading of the workflow,
not a published spec:

=====================  ==========================================
current state          may be followed by
=====================  ==========================================
(none)                 01 arrived, 02 refused, 03 accepted, 04 awaiting assignment
01 arrived             02, 03, 04, 13 recall
04 awaiting assignment 02, 03, 05 in progress, 13
03 accepted            05, 06 done, 13
05 in progress         06, 13
06 done                13
13 recall              15 recall/update agreed, 16 recall/update refused
16 recall refused      05, 13 (the document continues)
02 refused, 15 agreed  nothing (terminal)
=====================  ==========================================

So 06 *done* only comes directly after 03 or 05, and 02 *refused* is terminal and impossible once
the document was accepted.

Sending the same code as the current state again is an idempotent repeat, not an error.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ReceiptCode", "ReceiptRuleError", "check_transition", "TERMINAL_CODES"]


class ReceiptCode(StrEnum):
    """Official status-receipt codes of the national document axis."""

    ARRIVED = "01"
    REFUSED = "02"
    ACCEPTED = "03"
    AWAITING_ASSIGNMENT = "04"
    IN_PROGRESS = "05"
    DONE = "06"
    RECALL = "13"
    RECALL_AGREED = "15"
    RECALL_REFUSED = "16"


C = ReceiptCode
_ALLOWED: dict[ReceiptCode | None, frozenset[ReceiptCode]] = {
    None: frozenset({C.ARRIVED, C.REFUSED, C.ACCEPTED, C.AWAITING_ASSIGNMENT}),
    C.ARRIVED: frozenset({C.REFUSED, C.ACCEPTED, C.AWAITING_ASSIGNMENT, C.RECALL}),
    C.AWAITING_ASSIGNMENT: frozenset({C.REFUSED, C.ACCEPTED, C.IN_PROGRESS, C.RECALL}),
    C.ACCEPTED: frozenset({C.IN_PROGRESS, C.DONE, C.RECALL}),
    C.IN_PROGRESS: frozenset({C.DONE, C.RECALL}),
    C.DONE: frozenset({C.RECALL}),
    C.RECALL: frozenset({C.RECALL_AGREED, C.RECALL_REFUSED}),
    C.RECALL_REFUSED: frozenset({C.IN_PROGRESS, C.RECALL}),
    C.REFUSED: frozenset(),
    C.RECALL_AGREED: frozenset(),
}
TERMINAL_CODES = frozenset(code for code, nxt in _ALLOWED.items() if code is not None and not nxt)


class ReceiptRuleError(ValueError):
    """A receipt code that may not follow the recipient's current state."""

    def __init__(self, current: ReceiptCode | None, requested: ReceiptCode):
        self.current = current
        self.requested = requested
        allowed = ", ".join(sorted(_ALLOWED[current])) or "none (terminal)"
        where = f"after {current.value}" if current else "as the first receipt"
        super().__init__(f"receipt {requested.value} is not allowed {where}; allowed: {allowed}")


def check_transition(current: ReceiptCode | None, requested: ReceiptCode) -> bool:
    """Return ``True`` for a new state, ``False`` for an idempotent repeat; raise if illegal."""
    if requested == current:
        return False
    if requested not in _ALLOWED[current]:
        raise ReceiptRuleError(current, requested)
    return True
