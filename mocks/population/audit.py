"""The audit log: who looked up or verified whom, why, when, and with what result.

Writes are batched so the audit never dominates look-up latency: :meth:`AuditLog.record`
appends a tuple to an in-memory list (well under a microsecond), and a background task
writes the list in one transaction every ``flush_interval_s`` (50 ms) or as soon as
``max_batch`` (500) entries wait, on a dedicated writer thread with its own SQLite
connection, so the event loop never waits for the disk.

Durability trade-off, stated plainly: a look-up is answered *before* its audit entry is
committed. A clean stop (SIGTERM, Ctrl-C) flushes everything; a SIGKILL or a crash loses
at most the entries of the last flush interval (≈ 50 ms, ≤ 500 entries by default), and
with ``synchronous=NORMAL`` a power loss may also roll back the last committed batches.
For a rehearsal mock that is acceptable — the real register would have to make the entry
durable before answering. A failed write (disk full) is logged and its batch re-queued
ahead of newer entries, so nothing is dropped while the process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = ["AuditAction", "AuditEntry", "AuditLog"]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    caller  TEXT NOT NULL,
    role    TEXT NOT NULL,
    subject TEXT NOT NULL,
    purpose TEXT NOT NULL,
    action  TEXT NOT NULL,
    result  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_caller ON audit (caller, id);
DROP INDEX IF EXISTS audit_subject;
"""
# No index on subject, on purpose: subjects arrive in random order, so each entry would
# dirty an index page of its own — ≈ 8 µs per entry instead of ≈ 2.3 µs, a tenth of a
# look-up's cost. The audit is written all the time and read by an administrator now and
# then; a newest-first query by subject scans ≈ 32 ms per million entries
# (bench/sqlite_paths.py). Callers are a handful of client systems, so their index stays
# cheap (entries append per caller).
_INSERT = "INSERT INTO audit (at, caller, role, subject, purpose, action, result) VALUES (?, ?, ?, ?, ?, ?, ?)"
_COLUMNS = "SELECT id, at, caller, role, subject, purpose, action, result FROM audit"
# One static statement per filter combination (no SQL assembled from input).
_QUERIES = {
    (False, False): f"{_COLUMNS} WHERE ?1 IS NULL AND ?2 IS NULL ORDER BY id DESC LIMIT ?3",
    (True, False): f"{_COLUMNS} WHERE subject = ?1 AND ?2 IS NULL ORDER BY id DESC LIMIT ?3",
    (False, True): f"{_COLUMNS} WHERE ?1 IS NULL AND caller = ?2 ORDER BY id DESC LIMIT ?3",
    (True, True): f"{_COLUMNS} WHERE subject = ?1 AND caller = ?2 ORDER BY id DESC LIMIT ?3",
}
# Subjects are stored as given (even malformed IDs are worth auditing), but bounded.
_MAX_SUBJECT = 64
_MAX_PURPOSE = 200


class AuditAction(StrEnum):
    """What the caller did."""

    LOOKUP = "lookup"
    VERIFY = "verify"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited access, as returned by ``GET /admin/audit``."""

    id: int
    at: str  # ISO 8601 UTC, millisecond precision
    caller: str
    role: str
    subject: str
    purpose: str
    action: str
    result: str


def _iso(epoch: float) -> str:
    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Batched, append-only audit log in its own SQLite connection and writer thread."""

    def __init__(
        self,
        path: Path,
        open_database: Callable[[Path], sqlite3.Connection],
        *,
        flush_interval_s: float = 0.05,
        max_batch: int = 500,
    ):
        self._path = path
        self._open_database = open_database
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self._interval = flush_interval_s
        self._max_batch = max(1, max_batch)
        self._pending: list[tuple[float, str, str, str, str, str, str]] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="population-audit")
        self._conn: sqlite3.Connection | None = None  # used only on the writer thread
        self._count = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database (on the writer thread) and start the periodic flusher."""
        loop = asyncio.get_running_loop()
        self._count = await loop.run_in_executor(self._executor, self._open)
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._flush_forever(), name="population-audit-flush")

    async def close(self) -> None:
        """Stop the flusher, write everything still pending, close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    # -- writing -----------------------------------------------------------------------

    def record(
        self, caller: str, role: str, subject: str, purpose: str, action: AuditAction, result: str
    ) -> None:
        """Queue one entry; it is committed within ``flush_interval_s`` (see module doc)."""
        self._pending.append(
            (time.time(), caller, role, subject[:_MAX_SUBJECT], purpose[:_MAX_PURPOSE], action, result)
        )
        self._count += 1
        if len(self._pending) >= self._max_batch and self._wake is not None:
            self._wake.set()

    async def flush(self) -> None:
        """Commit every queued entry now (in order: the writer thread is FIFO)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write, batch)
        except Exception:
            self._pending[:0] = batch  # keep order: the failed batch is older than new entries
            raise

    @property
    def count(self) -> int:
        """Entries recorded since the database was created (committed or queued)."""
        return self._count

    @property
    def pending(self) -> int:
        """Entries queued but not yet committed."""
        return len(self._pending)

    # -- reading -----------------------------------------------------------------------

    async def query(
        self, *, subject: str | None = None, caller: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest-first entries, filtered by subject and/or caller; flushes first."""
        await self.flush()
        rows = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._select, subject, caller, limit
        )
        return [
            AuditEntry(id=r[0], at=_iso(r[1]), caller=r[2], role=r[3], subject=r[4],
                       purpose=r[5], action=r[6], result=r[7])
            for r in rows
        ]

    # -- writer thread -----------------------------------------------------------------

    async def _flush_forever(self) -> None:
        wake = self._wake
        if wake is None:
            raise RuntimeError("AuditLog.start() creates the wake event before the flusher")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._interval)
            wake.clear()
            try:
                await self.flush()
            except (sqlite3.Error, OSError):
                _log.exception("audit flush failed; %d entries stay queued", len(self._pending))
                await asyncio.sleep(1.0)

    def _open(self) -> int:
        self._conn = self._open_database(self._path)
        self._conn.executescript(_SCHEMA)
        return int(self._conn.execute("SELECT count(*) FROM audit").fetchone()[0])

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the audit log is not open (call start() first)")
        return self._conn

    def _write(self, batch: list[tuple[float, str, str, str, str, str, str]]) -> None:
        conn = self._connection()
        # Explicit transaction: the connection may be in autocommit mode, and one
        # commit per batch (not per entry) is the point of batching.
        conn.execute("BEGIN")
        try:
            conn.executemany(_INSERT, batch)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _select(self, subject: str | None, caller: str | None, limit: int) -> list[tuple]:
        sql = _QUERIES[(subject is not None, caller is not None)]
        return self._connection().execute(sql, (subject, caller, limit)).fetchall()
