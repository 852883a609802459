"""Inbox delivery rules: cursor, visibility timeout, redelivery (pure, no I/O).

Every document (and every receipt flowing back to a sender) becomes one *delivery*
row per receiving agency, numbered by a global, strictly increasing ``delivery_id``
assigned at commit time. An agency pulls ``GET /inbox?cursor=C&limit=N``:

* A delivery is **deliverable** when it is not acknowledged, its lease has expired
  (``visible_at <= now``; a never-delivered one has ``visible_at = 0``), and either it
  lies after the cursor (``delivery_id > C``) or it was handed out before
  (``attempt > 0``) — so an unacknowledged delivery comes back after the visibility
  timeout *even when the cursor has moved past it*.
* A pull returns the ``N`` deliverable rows with the lowest ids (fewer if their
  packages pass ``MAX_PAGE_PACKAGE_BYTES``), and leases them:
  ``attempt += 1``, ``visible_at = now + visibility``. A leased row is invisible to
  every pull (same or other consumer) until the lease runs out or it is acknowledged.
* ``next_cursor`` is the highest id returned (or the cursor itself when nothing past
  it was returned). Clients pass it back to skip what they have already seen.
* The requested cursor is **clamped to the agency's high-water mark** (the highest id
  ever handed to that agency). Invariant: every delivery with ``id <= high_water`` has
  been handed out at least once. So a stale, forged or too-large cursor can never hide a
  delivery that was never handed out: the worst it can do is re-read, never lose.
* ``POST /inbox/{id}/ack`` marks the row acknowledged (idempotent); an acknowledged
  row is never deliverable again.

Guarantee: at-least-once delivery of every row until acknowledged, and no delivery
after acknowledgement. Redelivery carries the same ``delivery_id`` and document, with a
higher ``attempt``; de-duplicating is the consumer's job (by ``delivery_id`` or
``message_id``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_PULL_LIMIT",
    "MAX_PAGE_PACKAGE_BYTES",
    "MAX_PULL_LIMIT",
    "LeaseState",
    "effective_cursor",
    "is_deliverable",
    "next_cursor",
]

DEFAULT_PULL_LIMIT = 20
MAX_PULL_LIMIT = 100
# A page stops growing once its packages pass this many bytes (it always holds at least
# one delivery), so limit=100 of 1 MiB packages does not build a 100 MiB answer.
MAX_PAGE_PACKAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The delivery fields the rules look at."""

    delivery_id: int
    attempt: int
    acked: bool
    visible_at: float


def effective_cursor(requested: int, high_water: int) -> int:
    """The cursor a pull really uses: never below 0, never past the high-water mark."""
    return max(0, min(requested, high_water))


def is_deliverable(state: LeaseState, cursor: int, now: float) -> bool:
    """True when a pull at ``cursor`` (already clamped) and time ``now`` may return ``state``.

    The store's SQL ``WHERE`` clause is the same predicate; the unit tests check both agree.
    """
    return (
        not state.acked
        and state.visible_at <= now
        and (state.delivery_id > cursor or state.attempt > 0)
    )


def next_cursor(cursor: int, returned_ids: list[int]) -> int:
    """The cursor to hand back after a pull that returned ``returned_ids``."""
    return max([cursor, *returned_ids])
