"""SQLite helpers: one WAL database per service, and group commit.

Durability: WAL with ``synchronous=NORMAL`` keeps every committed transaction across a
*process* crash (SIGKILL) — the guarantee the crash drills test — and may lose the last
transactions only on power loss or an OS crash. ``DIENTAP_SQLITE_SYNCHRONOUS=FULL``
trades throughput for that too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernel.defaults import sqlite_synchronous
from mocks.core.errors import ApiError

__all__ = ["open_database", "GroupCommit", "WalCheckpointer", "storage_refusal", "STORAGE_RETRY_AFTER_S"]

_log = logging.getLogger(__name__)
_PASSIVE_PASSES = 4
_SHORT_PASS_FRAMES = 1_000  # a pass that copied fewer frames than this leaves little behind
_RESTART_WAIT_MS = 50

#: Retry-After of a refusal for want of storage: an operator has to free space, which takes
#: longer than a blip; a client that retries sooner only adds load.
STORAGE_RETRY_AFTER_S = 30
# SQLite primary result codes (the low byte of an extended code, e.g. SQLITE_IOERR_WRITE 778).
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13
_STORAGE_ERRNOS = {errno.ENOSPC: "no space left", errno.EDQUOT: "quota exceeded", errno.EROFS: "read-only"}
# SQLite's unix VFS reports a write that hit ENOSPC as SQLITE_FULL, but a few paths (growing
# the -shm file, truncating) report any failure as an SQLITE_IOERR_* without the errno. Such
# an error counts as the disk being full only when the data directory's filesystem is
# (nearly) full right now: an I/O error on a disk with room is a real fault, and stays a 500.
_NEARLY_FULL_BYTES = 1 << 20


def storage_refusal(exc: BaseException, data_dir: str | Path | None = None) -> ApiError | None:
    """``exc`` (or an exception it was raised from) as a refusal for want of storage, else None.

    A full (or read-only) disk is no bug of the service, and nothing of the request was
    kept — the group commit acknowledges only what it committed — so the honest answer is
    a retryable ``507 insufficient_storage`` with ``Retry-After``, not a ``500``. Faces
    answer it in their own form (their error form maps a 5xx to their "try later" code).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        reason = _storage_reason(current, data_dir)
        if reason is not None:
            return ApiError(507, "insufficient_storage",
                            f"the service's storage (its database in the data directory) is {reason}: nothing "
                            "of this request was stored; retry later", None,
                            {"Retry-After": str(STORAGE_RETRY_AFTER_S)})
        current = current.__cause__ or current.__context__
    return None


def _storage_reason(exc: BaseException, data_dir: str | Path | None) -> str | None:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return None
        name = getattr(exc, "sqlite_errorname", str(code))
        primary = code & 0xFF
        if primary == _SQLITE_FULL:
            return f"full ({name})"
        if primary == _SQLITE_READONLY:
            return f"read-only ({name})"
        if primary == _SQLITE_IOERR and data_dir is not None and _nearly_full(data_dir):
            return f"full ({name})"
        return None
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return f"{_STORAGE_ERRNOS[exc.errno]} ({errno.errorcode[exc.errno]})"
    return None


def _nearly_full(data_dir: str | Path) -> bool:
    try:
        return shutil.disk_usage(data_dir).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def open_database(path: str | Path) -> sqlite3.Connection:
    """Open (creating parents) a SQLite database tuned for one writer on the event loop."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    synchronous = sqlite_synchronous(os.environ)  # checked before the service starts (mocks.__main__)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


class GroupCommit:
    """Commit the writes of concurrent requests in one transaction.

    ``await group.write(fn)`` queues ``fn(conn)``; all writes queued during the same turn of
    the event loop run in one transaction and every caller resumes only after the COMMIT —
    nothing is acknowledged before it is durable. A write that raises fails alone, in its
    own caller, and leaves nothing behind; the others commit.

    The writes run without a savepoint each: a savepoint makes SQLite copy every page the
    write touches into a sub-journal (3–5 µs a dossier, ≈ 5 % of a submission). A
    write that raises before changing a row — the common case: a rule checked inside the
    unit, or a single statement that SQLite rolled back itself — has nothing to undo,
    which ``conn.total_changes`` tells. Only when one raises *after* changing rows is the
    whole transaction rolled back and the batch run again, each write in a savepoint of
    its own. So a unit may run twice before its commit: it must keep its effects in the
    connection and only compute what it returns (a dossier code it drew is then skipped).
    """

    def __init__(self, conn: sqlite3.Connection, *, max_batch: int = 512):
        self.conn = conn
        self.max_batch = max_batch
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = []
        self._scheduled = False
        self.batches = 0
        self.writes = 0
        self.reruns = 0  # batches run again because a write failed half-way

    async def write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(conn)`` in the next group transaction and return its result after COMMIT."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((fn, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        conn = self.conn
        # A transaction still open here is one whose ROLLBACK failed (see _roll_back): none
        # of its writes was acknowledged; end it now, or every later BEGIN would fail.
        self._roll_back()
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = self._run(batch)
            if results is None:
                if conn.in_transaction:  # SQLite ends it itself after some errors (disk full, I/O)
                    conn.execute("ROLLBACK")
                self.reruns += 1
                conn.execute("BEGIN IMMEDIATE")
                results = self._run_isolated(batch)
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the transaction itself failed (any error): nobody is acknowledged
            self._roll_back()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.writes += len(batch)
        for future, value, error in results:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def _run(self, batch: list) -> list[tuple[asyncio.Future, Any, BaseException | None]] | None:
        """Every write in turn; ``None`` as soon as one fails after changing rows."""
        conn = self.conn
        results: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        for fn, future in batch:
            changes = conn.total_changes
            try:
                value = fn(conn)
            except Exception as exc:  # noqa: BLE001 - any error of a caller's write goes back to that caller
                if conn.total_changes != changes or not conn.in_transaction:
                    return None
                results.append((future, None, exc))
            else:
                results.append((future, value, None))
        return results

    def _roll_back(self) -> None:
        # A COMMIT that failed for want of space (SQLITE_FULL) may leave the transaction
        # open, or SQLite may have rolled it back itself. A ROLLBACK that raised here used to
        # escape _flush before any future was answered: every caller of the batch waited
        # forever and the writer was wedged. Now the batch's futures always get the error,
        # and a transaction this could not end is ended before the next batch begins.
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            _log.exception("ROLLBACK of a failed group transaction failed")

    def _run_isolated(self, batch: list) -> list[tuple[asyncio.Future, Any, BaseException | None]]:
        """Every write in turn, each in a savepoint that a failure rolls back."""
        conn = self.conn
        results: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        for fn, future in batch:
            conn.execute("SAVEPOINT w")
            try:
                value = fn(conn)
            except Exception as exc:  # the caller gets its own error, whatever it is; the batch goes on
                if not conn.in_transaction:
                    # SQLite ended the whole transaction itself (disk full, I/O error): the
                    # writes before this one are gone too, and "ROLLBACK TO w" would fail with
                    # "no such savepoint", hiding the cause. The batch fails with the cause.
                    raise
                conn.execute("ROLLBACK TO w")
                conn.execute("RELEASE w")
                results.append((future, None, exc))
            else:
                conn.execute("RELEASE w")
                results.append((future, value, None))
        return results


class WalCheckpointer:
    """Checkpoint a WAL database from a thread of its own, so the event loop never fsyncs.

    SQLite's automatic checkpoint runs inside whichever COMMIT pushes the WAL past 1,000
    pages — on the event loop, where its fsyncs of the database file stall every request
    in flight (a sixth of the portal's time under a submit load). This turns the automatic
    checkpoint off on the writer's connection and runs a PASSIVE checkpoint, which never
    blocks the writer or readers, every ``interval_s`` on a second connection; SQLite
    releases the GIL while it works. When the WAL has grown long it ends with a RESTART
    checkpoint, so the writer starts the file over instead of appending forever (see
    :meth:`_catch_up`); the file keeps its largest size (≈ 100 MB under the submit
    benchmark's full load) rather than being cut back, because truncating it stalled the
    writer 100–200 ms each time. Durability is unchanged: a transaction is durable in
    the WAL when its COMMIT returns, whether or not it has been checkpointed yet.
    """

    def __init__(self, conn: sqlite3.Connection, *, interval_s: float = 0.5, restart_after_frames: int = 4096):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if restart_after_frames < 1:
            raise ValueError(f"restart_after_frames must be ≥ 1, got {restart_after_frames}")
        self._restart_frames = restart_after_frames
        (_, _, path) = conn.execute("PRAGMA database_list").fetchone()
        if not path:
            raise ValueError("a background checkpoint needs a file database, not :memory:")
        self._writer = conn
        self._interval = interval_s
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._stop = threading.Event()
        self.checkpoints = 0
        self.restarts = 0  # checkpoints after which the writer starts the WAL over
        conn.execute("PRAGMA wal_autocheckpoint=0")

        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint-{os.path.basename(path)}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._catch_up()
            except sqlite3.Error:
                _log.exception("background WAL checkpoint failed; retrying in %.1f s", self._interval)

    def _catch_up(self) -> None:
        # A passive checkpoint copies the frames that were in the WAL when it began, and
        # SQLite rewinds the WAL only when a write begins after *every* frame was copied.
        # Under sustained writes that moment never comes — the writer appends while the
        # checkpoint copies — and the WAL grew without bound (1.6 GB in a 10 s submit
        # benchmark). So: passive passes while each copies much (each is shorter than the
        # last), then, if the WAL is long (default 4,096 frames, ≈ 16 MB), one RESTART
        # checkpoint. That one holds the writer back while it copies the last few frames,
        # and waits at most _RESTART_WAIT_MS for the writer or a reader to finish.
        frames = copied_before = 0
        for _ in range(_PASSIVE_PASSES):
            _busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            if copied - copied_before < _SHORT_PASS_FRAMES:
                break
            copied_before = copied
        if frames < self._restart_frames:
            return
        self._conn.execute(f"PRAGMA busy_timeout={_RESTART_WAIT_MS}")
        try:
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            self._conn.execute("PRAGMA busy_timeout=5000")
        self.checkpoints += 1
        if not busy:
            self.restarts += 1

    def close(self) -> None:
        """Stop the thread and hand checkpointing back to SQLite (call before closing the writer)."""
        self._stop.set()
        self._thread.join()
        self._conn.close()
        with contextlib.suppress(sqlite3.ProgrammingError):  # the writer was closed first: nothing to hand back
            self._writer.execute("PRAGMA wal_autocheckpoint=1000")
