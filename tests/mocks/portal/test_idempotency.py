"""Idempotency guard over a real SQLite store with group commit."""

from __future__ import annotations

import asyncio

import pytest

from mocks.core.errors import ApiError
from mocks.core.store import GroupCommit, open_database
from mocks.portal.idempotency import IdempotencyGuard, StoredResponse, fingerprint
from mocks.portal.store import PortalStore


@pytest.fixture()
def parts(tmp_path):
    conn = open_database(tmp_path / "portal.db")
    store = PortalStore(conn)
    yield store, GroupCommit(conn), IdempotencyGuard(store)
    conn.close()


def _producer(writer, calls, label="k", body=b'{"n":1}'):
    """A produce step as the routes write one: it stores its response through the
    ``remember`` the guard hands it, never naming the scope, key or fingerprint."""

    async def produce(remember):
        calls.append(label)
        await asyncio.sleep(0.01)  # long enough for a concurrent duplicate to arrive

        def unit(conn):
            remember(conn, 201, body, "2025-07-01T00:00:00Z")
            return StoredResponse(201, body, replayed=False)

        return await writer.write(unit)

    return produce


def test_fingerprint_ignores_key_order_but_not_values():
    assert fingerprint("op", {"a": 1, "b": 2}) == fingerprint("op", {"b": 2, "a": 1})
    assert fingerprint("op", {"a": 1}) != fingerprint("op", {"a": 2})
    assert fingerprint("op1", {"a": 1}) != fingerprint("op2", {"a": 1})


def test_retry_replays_the_original_response_and_runs_once(parts):
    store, writer, guard = parts
    fp = fingerprint("op", {"x": 1})
    calls: list[str] = []

    async def scenario():
        first = await guard.run("s", "k", fp, _producer(writer, calls))
        second = await guard.run("s", "k", fp, _producer(writer, calls, body=b"other"))
        return first, second

    first, second = asyncio.run(scenario())
    assert calls == ["k"]
    assert (first.status, first.body, first.replayed) == (201, b'{"n":1}', False)
    assert (second.status, second.body, second.replayed) == (201, b'{"n":1}', True)
    assert store.idempotent_response("s", "k") == (fp, 201, b'{"n":1}')  # stored under the key run was given


def test_same_key_different_body_is_422(parts):
    _store, writer, guard = parts
    fp1, fp2 = fingerprint("op", {"x": 1}), fingerprint("op", {"x": 2})
    calls: list[str] = []

    async def scenario():
        await guard.run("s", "k", fp1, _producer(writer, calls))
        await guard.run("s", "k", fp2, _producer(writer, calls))

    with pytest.raises(ApiError) as info:
        asyncio.run(scenario())
    assert (info.value.status, info.value.code, info.value.field) == (422, "idempotency_key_reused", "Idempotency-Key")
    assert calls == ["k"]


def test_concurrent_duplicates_run_once(parts):
    _store, writer, guard = parts
    fp = fingerprint("op", {"x": 1})
    calls: list[str] = []

    async def scenario():
        return await asyncio.gather(*(guard.run("s", "k", fp, _producer(writer, calls)) for _ in range(5)))

    results = asyncio.run(scenario())
    assert calls == ["k"]
    assert [r.replayed for r in results].count(False) == 1
    assert {r.body for r in results} == {b'{"n":1}'}


def test_keys_are_scoped_per_caller(parts):
    _store, writer, guard = parts
    fp = fingerprint("op", {"x": 1})
    calls: list[str] = []

    async def scenario():
        await guard.run("citizen-a", "k", fp, _producer(writer, calls))
        await guard.run("citizen-b", "k", fp, _producer(writer, calls))

    asyncio.run(scenario())
    assert calls == ["k", "k"]


def test_a_failed_attempt_is_not_remembered(parts):
    _store, writer, guard = parts
    fp = fingerprint("op", {"x": 1})
    calls: list[str] = []

    async def failing(remember):
        calls.append("fail")
        raise ApiError(503, "identity_service_unavailable", "down")

    async def scenario():
        with pytest.raises(ApiError):
            await guard.run("s", "k", fp, failing)
        return await guard.run("s", "k", fp, _producer(writer, calls))

    result = asyncio.run(scenario())
    assert calls == ["fail", "k"] and not result.replayed


def test_stored_response_survives_reopening(tmp_path):
    conn = open_database(tmp_path / "p.db")
    store = PortalStore(conn)
    store.save_idempotent_response(conn, "s", "k", b"fp", 201, b"body", "t")
    conn.close()
    reopened = PortalStore(open_database(tmp_path / "p.db"))
    assert reopened.idempotent_response("s", "k") == (b"fp", 201, b"body")


def test_fresh_keys_skip_the_database_and_retries_are_looked_up(parts):
    _store, writer, guard = parts
    fp = fingerprint("op", {"x": 1})
    calls: list[str] = []

    async def scenario():
        for n in range(50):
            await guard.run("s", f"k{n}", fp, _producer(writer, calls, f"k{n}"))
        fresh_lookups = guard.lookups
        retried = await guard.run("s", "k7", fp, _producer(writer, calls, "k7"))
        return fresh_lookups, retried

    fresh_lookups, retried = asyncio.run(scenario())
    assert fresh_lookups == 0  # 50 keys in a filter sized for millions: no false positive
    assert retried.replayed and guard.lookups == fresh_lookups + 1
    assert len(calls) == 50


def test_a_restarted_guard_replays_keys_stored_before_the_restart(tmp_path):
    """The filter is refilled from the database: a retry after a restart replays, and
    does not run a second time (which the unique index would refuse with an error)."""
    fp = fingerprint("op", {"x": 1})
    calls: list[str] = []
    for attempt in range(2):
        conn = open_database(tmp_path / "p.db")
        store = PortalStore(conn)
        writer, guard = GroupCommit(conn), IdempotencyGuard(store)
        result = asyncio.run(guard.run("s", "k", fp, _producer(writer, calls)))
        assert result.replayed is (attempt == 1)
        conn.close()
    assert calls == ["k"]
