"""Idempotency keys: a retried request gets the original response, exactly once in effect.

A keyed request is identified by ``(scope, key)`` — the scope names the caller and the
operation (``dossiers:<personal id>``), so two citizens may pick the same key. Its
*fingerprint* is a hash of the operation and the canonical body. Rules:

* same key, same fingerprint → the stored response, byte for byte (same status, same body);
* same key, different fingerprint → 422 ``idempotency_key_reused``;
* two requests with the same key *at the same time* → the second waits for the first and
  then replays its response, so the effect happens once.

Only successful responses are stored, in the same transaction as their effect: once the
key has been ruled out, :meth:`IdempotencyGuard.run` hands the produce step a
:class:`Remember` already bound to the request's scope, key and fingerprint, which it
calls inside its unit of work with only the status, the body and the time. The key is
bound once, where it is checked, so a produce step (a hundred lines of validation and
effect) neither carries it along only to hand it back nor can store under another key.
Failures such as a 503 are not stored, so a retry after the outage is tried afresh.

Almost every key arrives once, so looking each one up in the database mostly finds
nothing — at a price: a read transaction (two lock calls on the WAL index) and a descent
of a random index, a twentieth of a submission. A Bloom filter of every stored key,
filled from the database at startup and added to as keys are used, answers "certainly
never stored" in a fifth of a microsecond; only keys it may have seen (a retry, or one
in a thousand false positives) are looked up. It is exact for one process, which is how
the portal runs: one process owns its database (one writer, see
:class:`~mocks.core.store.GroupCommit`). Past its capacity the filter answers "maybe"
more often, which costs look-ups and never correctness; it is sized anew at each start.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

import orjson
from rbloom import Bloom

from mocks.core.errors import ApiError
from mocks.portal.store import PortalStore

__all__ = ["StoredResponse", "Remember", "IdempotencyGuard", "fingerprint"]

_MIN_CAPACITY = 4_000_000  # keys before the false-positive rate passes its target (7 MB)
_FALSE_POSITIVE_RATE = 0.001


def fingerprint(operation: str, payload: object) -> bytes:
    """Hash of an operation and its payload in canonical JSON (key order and spacing ignored)."""
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(operation.encode() + b"\x00" + canonical).digest()


class StoredResponse(NamedTuple):
    """The response given to the first request with a key."""

    status: int
    body: bytes
    replayed: bool


class Remember(Protocol):
    """Stores the response to the keyed request it is bound to (call inside the effect's unit of work)."""

    def __call__(self, conn: sqlite3.Connection, status: int, body: bytes, at: str) -> None: ...


class _KeyedRequest(NamedTuple):
    """A keyed request's ``(scope, key, fingerprint)``; calling it stores its response.

    One small tuple, made only when a request is produced: a closure in :meth:`IdempotencyGuard.run`
    would turn scope, key and fingerprint into cells for every request, replays included.
    """

    scope: str
    key: str
    fp: bytes

    def __call__(self, conn: sqlite3.Connection, status: int, body: bytes, at: str) -> None:
        PortalStore.save_idempotent_response(conn, self.scope, self.key, self.fp, status, body, at)


class IdempotencyGuard:
    """Runs a keyed operation at most once and replays its response."""

    def __init__(self, store: PortalStore):
        self._store = store
        self._in_flight: dict[tuple[str, str], asyncio.Future[None]] = {}
        count, keys = store.idempotency_keys()
        self._seen = Bloom(max(_MIN_CAPACITY, 2 * count), _FALSE_POSITIVE_RATE)
        self._seen.update(keys)
        self.lookups = 0  # database look-ups made (the filter could not rule the key out)

    def _replay(self, scope: str, key: str, fp: bytes) -> StoredResponse | None:
        if (scope, key) not in self._seen:
            return None
        self.lookups += 1
        hit = self._store.idempotent_response(scope, key)
        if hit is None:
            return None
        stored_fp, status, body = hit
        if stored_fp != fp:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request body; use a new key",
                "Idempotency-Key",
            )
        return StoredResponse(status, body, replayed=True)

    async def run(
        self, scope: str, key: str, fp: bytes, produce: Callable[[Remember], Awaitable[StoredResponse]]
    ) -> StoredResponse:
        """Replay the stored response for ``(scope, key)`` or run ``produce`` once.

        ``produce`` gets a :class:`Remember` bound to ``scope``, ``key`` and ``fp`` and must
        call it inside the unit of work that commits its effect.
        """
        while True:
            hit = self._replay(scope, key, fp)
            if hit is not None:
                return hit
            waiting = self._in_flight.get((scope, key))
            if waiting is None:
                break
            await asyncio.shield(waiting)  # the first request is still running: wait, then replay
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[(scope, key)] = done
        try:
            return await produce(_KeyedRequest(scope, key, fp))
        finally:
            # Whatever the outcome, before anyone waiting looks again: a key the filter
            # holds needlessly costs one look-up, a stored key it missed would run twice.
            self._seen.add((scope, key))
            del self._in_flight[(scope, key)]
            done.set_result(None)
