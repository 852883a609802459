"""The batched audit log: entries commit within the flush interval, survive a clean close,
and are queryable by subject and caller."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mocks.core.store import open_database
from mocks.population.audit import AuditAction, AuditLog


def _open(path: Path) -> sqlite3.Connection:
    return open_database(path)


def _committed(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
    finally:
        conn.close()


def test_entries_are_batched_then_committed_by_the_background_flush(tmp_path: Path) -> None:
    path = tmp_path / "population.db"

    async def scenario() -> tuple[int, int, int]:
        log = AuditLog(path, _open, flush_interval_s=0.05)
        await log.start()
        for n in range(10):
            log.record("police", "police", f"00119001234{n}", "investigation", AuditAction.LOOKUP, "found")
        queued = log.pending
        committed_before = _committed(path)
        for _ in range(100):  # wait (bounded) for the flusher, not a fixed sleep
            await asyncio.sleep(0.01)
            if log.pending == 0 and _committed(path) == 10:
                break
        committed_after = _committed(path)
        await log.close()
        return queued, committed_before, committed_after

    assert asyncio.run(scenario()) == (10, 0, 10)


def test_a_full_batch_wakes_the_flusher_early(tmp_path: Path) -> None:
    path = tmp_path / "population.db"

    async def scenario() -> int:
        log = AuditLog(path, _open, flush_interval_s=30.0, max_batch=5)
        await log.start()
        for n in range(5):
            log.record("portal", "portal", str(n), "dossier", AuditAction.VERIFY, "match")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if _committed(path) == 5:
                break
        committed = _committed(path)
        await log.close()
        return committed

    assert asyncio.run(scenario()) == 5


def test_close_flushes_everything_and_count_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "population.db"

    async def write() -> None:
        log = AuditLog(path, _open, flush_interval_s=30.0)
        await log.start()
        for n in range(3):
            log.record("province-01", "commune_officer", str(n), "dossier", AuditAction.LOOKUP, "found")
        await log.close()

    async def reopen() -> int:
        log = AuditLog(path, _open)
        await log.start()
        count = log.count
        await log.close()
        return count

    asyncio.run(write())
    assert _committed(path) == 3
    assert asyncio.run(reopen()) == 3


def test_query_filters_newest_first_and_includes_unflushed_entries(tmp_path: Path) -> None:
    path = tmp_path / "population.db"

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        log = AuditLog(path, _open, flush_interval_s=30.0)
        await log.start()
        log.record("police", "police", "A", "p1", AuditAction.LOOKUP, "found")
        log.record("portal", "portal", "A", "p2", AuditAction.VERIFY, "mismatch")
        log.record("police", "police", "B", "p3", AuditAction.LOOKUP, "not_found")
        by_subject = [e.purpose for e in await log.query(subject="A")]
        by_caller = [e.subject for e in await log.query(caller="police")]
        both = [e.result for e in await log.query(subject="A", caller="portal", limit=5)]
        await log.close()
        return by_subject, by_caller, both

    assert asyncio.run(scenario()) == (["p2", "p1"], ["B", "A"], ["mismatch"])


def test_entry_fields_and_timestamp_format(tmp_path: Path) -> None:
    path = tmp_path / "population.db"

    async def scenario():
        log = AuditLog(path, _open)
        await log.start()
        log.record("police", "police", "001190012345", "x" * 500, AuditAction.LOOKUP, "found")
        entries = await log.query(limit=1)
        await log.close()
        return entries

    (entry,) = asyncio.run(scenario())
    assert (entry.caller, entry.role, entry.subject, entry.action, entry.result) == (
        "police", "police", "001190012345", "lookup", "found",
    )
    assert len(entry.purpose) == 200  # bounded, like the API's purpose rule
    assert entry.at.endswith("Z") and entry.at[10] == "T"


def test_zero_flush_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_interval_s must be > 0"):
        AuditLog(tmp_path / "x.db", _open, flush_interval_s=0)
