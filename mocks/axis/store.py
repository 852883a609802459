"""SQLite persistence of the document axis: documents, deliveries, receipts.

One connection, used only from the event-loop thread, and every write is one short
transaction committed *before* the HTTP answer is built — so what the axis acknowledged
survives a SIGKILL (WAL, ``synchronous=NORMAL`` survives a process crash; the machine
losing power is out of scope for a mock). Handlers never ``await`` inside a transaction,
so check-then-insert (duplicate message ids) cannot race.

Tables::

    documents(document_id PK, sender_code, message_id, digest, subject, priority,
              package, accepted_at)      -- document_id is a hash of (sender, message id)
    document_recipients(document_id, recipient_code, last_status)   -- receipt state
    deliveries(delivery_id PK AUTOINCREMENT, recipient_code, kind, document_id,
               receipt_id, attempt, visible_at, delivered_at, acked, acked_at)
    receipts(receipt_id PK AUTOINCREMENT, document_id, from_code, status_code, note, created_at)
    inbox_high_water(agency_code PK, high_water)

The pull/lease rules are documented in :mod:`mocks.axis.inbox`. A (sender, message id)
pair is unique through the primary key alone, since the document id is derived from it
(:func:`~mocks.axis.records.document_id_for`): a second unique index on the pair would
cost every send one more insertion at a random position. Databases created before
keep that index; it changes nothing but their speed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mocks.axis.inbox import MAX_PAGE_PACKAGE_BYTES, effective_cursor, next_cursor
from mocks.axis.receipts import ReceiptCode, check_transition
from mocks.axis.records import (
    AcceptedDocument,
    AxisLedger,
    InboxEntry,
    InboxPage,
    MessageIdConflict,
    NewDocument,
    Receipt,
    StoredDocument,
    document_id_for,
)
from mocks.core.store import GroupCommit

__all__ = ["AxisStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    sender_code TEXT NOT NULL,
    message_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    subject TEXT NOT NULL,
    priority INTEGER NOT NULL,
    package BLOB NOT NULL,
    accepted_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS document_recipients (
    document_id TEXT NOT NULL,
    recipient_code TEXT NOT NULL,
    position INTEGER NOT NULL,
    last_status TEXT,
    PRIMARY KEY (document_id, recipient_code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipts (
    receipt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL,
    from_code TEXT NOT NULL,
    status_code TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_by_document ON receipts (document_id, receipt_id);
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    document_id TEXT NOT NULL,
    receipt_id INTEGER,
    attempt INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL DEFAULT 0,
    delivered_at REAL,
    acked INTEGER NOT NULL DEFAULT 0,
    acked_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (recipient_code, delivery_id) WHERE acked = 0;
CREATE TABLE IF NOT EXISTS inbox_high_water (
    agency_code TEXT PRIMARY KEY,
    high_water INTEGER NOT NULL
) WITHOUT ROWID;
"""


class AxisStore:
    """Documents, deliveries and receipts in one SQLite database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Callable[[], float] = time.time,
        group: GroupCommit | None = None,
    ):
        if conn.isolation_level is not None:
            raise ValueError("AxisStore needs an autocommit connection (isolation_level=None)")
        self._conn = conn
        self._clock = clock
        self._group = group
        conn.executescript(_SCHEMA)

    def _write_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in its own transaction, committed before returning."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` through group commit when configured, else in its own transaction."""
        if self._group is None:
            return self._write_now(fn)
        return await self._group.write(fn)

    def now(self) -> float:
        """The store's clock (injectable for tests)."""
        return self._clock()

    # -- documents -----------------------------------------------------------------

    def accept_document(self, doc: NewDocument) -> AcceptedDocument:
        """Store ``doc`` and one delivery per recipient, committed before returning.

        A repeated (sender, message id) with the same digest returns the original result
        with ``duplicate=True`` and writes nothing; a different digest raises
        :class:`MessageIdConflict`.
        """
        return self._write_now(lambda conn: self._accept(conn, doc))

    async def accept_document_async(self, doc: NewDocument) -> AcceptedDocument:
        """:meth:`accept_document` through group commit (resumes after COMMIT)."""
        return await self._write(lambda conn: self._accept(conn, doc))

    def find_duplicate(self, sender_code: str, message_id: str, digest: str) -> AcceptedDocument | None:
        """The stored answer (``duplicate=True``) when this (sender, message id) is already
        stored with ``digest``; ``None`` when it is new; :class:`MessageIdConflict` when it
        is stored with another digest. A read: the send still checks again in its write."""
        return self._existing(self._conn, sender_code, message_id, digest)

    def _existing(
        self, conn: sqlite3.Connection, sender_code: str, message_id: str, digest: str
    ) -> AcceptedDocument | None:
        document_id = document_id_for(sender_code, message_id)
        existing = conn.execute(
            "SELECT digest, accepted_at FROM documents WHERE document_id = ?", (document_id,)
        ).fetchone()
        if existing is None:
            return None
        if existing[0] != digest:
            raise MessageIdConflict(document_id)
        return AcceptedDocument(document_id, message_id, self._recipients(document_id), existing[1], True)

    def _accept(self, conn: sqlite3.Connection, doc: NewDocument) -> AcceptedDocument:
        # The duplicate check runs inside the write transaction, so two concurrent sends
        # of one message id in one group-commit batch still store it once.
        duplicate = self._existing(conn, doc.sender_code, doc.message_id, doc.digest)
        if duplicate is not None:
            return duplicate
        document_id = document_id_for(doc.sender_code, doc.message_id)
        now = self._clock()
        conn.execute(
            "INSERT INTO documents (document_id, sender_code, message_id, digest, subject, priority,"
            " package, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (document_id, doc.sender_code, doc.message_id, doc.digest, doc.subject, doc.priority,
             doc.package, now),
        )
        conn.executemany(
            "INSERT INTO document_recipients (document_id, recipient_code, position) VALUES (?, ?, ?)",
            [(document_id, r, i) for i, r in enumerate(doc.recipients)],
        )
        conn.executemany(
            "INSERT INTO deliveries (recipient_code, kind, document_id) VALUES (?, 'document', ?)",
            [(r, document_id) for r in doc.recipients],
        )
        return AcceptedDocument(document_id, doc.message_id, doc.recipients, now, False)

    def _recipients(self, document_id: str) -> tuple[str, ...]:
        rows = self._conn.execute(
            "SELECT recipient_code FROM document_recipients WHERE document_id = ? ORDER BY position",
            (document_id,),
        ).fetchall()
        return tuple(r[0] for r in rows)

    def parties(self, document_id: str) -> tuple[str, tuple[str, ...]] | None:
        """``(sender, recipients)`` of a document, or ``None`` — the authorization look-up."""
        row = self._conn.execute("SELECT sender_code FROM documents WHERE document_id = ?", (document_id,)).fetchone()
        if row is None:
            return None
        return row[0], self._recipients(document_id)

    def get_document(self, document_id: str) -> StoredDocument | None:
        """The document with its recipients, or ``None``."""
        row = self._conn.execute(
            "SELECT document_id, sender_code, message_id, digest, subject, priority, package, accepted_at"
            " FROM documents WHERE document_id = ?",
            (document_id,),
        ).fetchone()
        if row is None:
            return None
        rec = self._conn.execute(
            "SELECT recipient_code, last_status FROM document_recipients WHERE document_id = ? ORDER BY position",
            (document_id,),
        ).fetchall()
        columns: tuple[str, str, str, str, str, int, bytes, float] = row  # the SELECT's columns, in field order
        return StoredDocument(*columns, recipients=tuple(r[0] for r in rec), recipient_status={r[0]: r[1] for r in rec})

    # -- receipts ------------------------------------------------------------------

    def add_receipt(self, document_id: str, from_code: str, code: ReceiptCode, note: str) -> Receipt:
        """Record a receipt from recipient ``from_code`` and queue it to the sender's inbox.

        Raises :class:`~mocks.axis.receipts.ReceiptRuleError` for an illegal order and
        ``KeyError`` when ``from_code`` is not a recipient. A repeat of the current state
        returns the earlier receipt with ``duplicate=True``.
        """
        return self._write_now(lambda conn: self._add_receipt(conn, document_id, from_code, code, note))

    async def add_receipt_async(self, document_id: str, from_code: str, code: ReceiptCode, note: str) -> Receipt:
        """:meth:`add_receipt` through group commit."""
        return await self._write(lambda conn: self._add_receipt(conn, document_id, from_code, code, note))

    def _add_receipt(
        self, conn: sqlite3.Connection, document_id: str, from_code: str, code: ReceiptCode, note: str
    ) -> Receipt:
        row = conn.execute(
            "SELECT r.last_status, d.sender_code FROM document_recipients r JOIN documents d"
            " ON d.document_id = r.document_id WHERE r.document_id = ? AND r.recipient_code = ?",
            (document_id, from_code),
        ).fetchone()
        if row is None:
            raise KeyError(document_id)
        current = ReceiptCode(row[0]) if row[0] else None
        if not check_transition(current, code):
            last = conn.execute(
                "SELECT receipt_id, document_id, from_code, status_code, note, created_at FROM receipts"
                " WHERE document_id = ? AND from_code = ? ORDER BY receipt_id DESC LIMIT 1",
                (document_id, from_code),
            ).fetchone()
            columns: tuple[int, str, str, str, str, float] = last  # the SELECT's columns, in field order
            return Receipt(*columns, duplicate=True)
        now = self._clock()
        cur = conn.execute(
            "INSERT INTO receipts (document_id, from_code, status_code, note, created_at) VALUES (?, ?, ?, ?, ?)",
            (document_id, from_code, code.value, note, now),
        )
        receipt_id = int(cur.lastrowid or 0)
        conn.execute(
            "UPDATE document_recipients SET last_status = ? WHERE document_id = ? AND recipient_code = ?",
            (code.value, document_id, from_code),
        )
        # The receipt flows back to the sender as an inbox delivery of kind "receipt".
        conn.execute(
            "INSERT INTO deliveries (recipient_code, kind, document_id, receipt_id) VALUES (?, 'receipt', ?, ?)",
            (row[1], document_id, receipt_id),
        )
        return Receipt(receipt_id, document_id, from_code, code.value, note, now)

    def receipts(self, document_id: str) -> list[Receipt]:
        """All receipts of a document, oldest first."""
        rows = self._conn.execute(
            "SELECT receipt_id, document_id, from_code, status_code, note, created_at FROM receipts"
            " WHERE document_id = ? ORDER BY receipt_id",
            (document_id,),
        ).fetchall()
        return [Receipt(*r) for r in rows]

    # -- inbox ---------------------------------------------------------------------

    def pull(
        self, agency_code: str, cursor: int, limit: int, visibility_s: float, kind: str | None = None
    ) -> InboxPage:
        """Hand out and lease up to ``limit`` deliverable rows (rules in :mod:`mocks.axis.inbox`).

        ``kind`` (``"document"`` or ``"receipt"``) hands out that kind only, from cursor 0
        (the SDK face's lists): such a pull leaves the high-water mark alone, since rows
        of the other kind below what it returned were not handed out.
        """
        return self._write_now(lambda conn: self._pull(conn, agency_code, cursor, limit, visibility_s, kind))

    async def pull_async(
        self, agency_code: str, cursor: int, limit: int, visibility_s: float, kind: str | None = None
    ) -> InboxPage:
        """:meth:`pull` through group commit (the lease is durable before the answer)."""
        return await self._write(lambda conn: self._pull(conn, agency_code, cursor, limit, visibility_s, kind))

    def _pull(
        self, conn: sqlite3.Connection, agency_code: str, cursor: int, limit: int, visibility_s: float,
        kind: str | None = None,
    ) -> InboxPage:
        now = self._clock()
        hw_row = conn.execute(
            "SELECT high_water FROM inbox_high_water WHERE agency_code = ?", (agency_code,)
        ).fetchone()
        high_water = hw_row[0] if hw_row else 0
        cursor = effective_cursor(cursor, high_water) if kind is None else 0
        # Same predicate as mocks.axis.inbox.is_deliverable.
        candidates = conn.execute(
            "SELECT v.delivery_id, v.kind, v.document_id, v.attempt, d.message_id, d.sender_code, d.subject,"
            " d.priority, CASE WHEN v.kind = 'document' THEN d.package END,"
            " r.receipt_id, r.from_code, r.status_code, r.note, r.created_at"
            " FROM deliveries v JOIN documents d ON d.document_id = v.document_id"
            " LEFT JOIN receipts r ON r.receipt_id = v.receipt_id"
            " WHERE v.recipient_code = ? AND v.acked = 0 AND v.visible_at <= ?"
            " AND (v.delivery_id > ? OR v.attempt > 0)"
            " AND (? IS NULL OR v.kind = ?)"  # one kind, or both when None
            " ORDER BY v.delivery_id LIMIT ?",
            (agency_code, now, cursor, kind, kind, limit),
        )
        # Iterate lazily so that a page of large packages stops at the byte budget
        # without loading the rest.
        rows: list[Any] = []
        page_bytes = 0
        for row in candidates:
            size = len(row[8]) if row[8] is not None else 0
            if rows and page_bytes + size > MAX_PAGE_PACKAGE_BYTES:
                break
            rows.append(row)
            page_bytes += size
        candidates.close()
        if not rows:
            return InboxPage((), cursor)
        ids = [r[0] for r in rows]
        new_cursor = next_cursor(cursor, ids)
        conn.executemany(
            "UPDATE deliveries SET attempt = attempt + 1, visible_at = ?, delivered_at = ? WHERE delivery_id = ?",
            [(now + visibility_s, now, i) for i in ids],
        )
        if new_cursor > high_water and kind is None:
            conn.execute(
                "INSERT INTO inbox_high_water (agency_code, high_water) VALUES (?, ?)"
                " ON CONFLICT (agency_code) DO UPDATE SET high_water = excluded.high_water",
                (agency_code, new_cursor),
            )
        entries = tuple(
            InboxEntry(
                delivery_id=r[0],
                kind=r[1],
                document_id=r[2],
                message_id=r[4],
                # For a receipt, the "sender" of this inbox entry is the recipient that sent it.
                sender_code=r[10] if r[9] is not None else r[5],
                subject=r[6],
                priority=r[7],
                package=r[8],
                receipt=Receipt(r[9], r[2], r[10], r[11], r[12], r[13]) if r[9] is not None else None,
                delivered_at=now,
                attempt=r[3] + 1,
            )
            for r in rows
        )
        return InboxPage(entries, new_cursor)

    def ack(self, agency_code: str, delivery_id: int) -> tuple[bool, float] | None:
        """Acknowledge a delivery of ``agency_code``.

        Returns ``(newly_acked, acked_at)``, or ``None`` when no such delivery belongs to
        the agency (the caller answers 404 either way, so ids of others do not leak).
        """
        return self._write_now(lambda conn: self._ack(conn, agency_code, delivery_id))

    async def ack_async(self, agency_code: str, delivery_id: int) -> tuple[bool, float] | None:
        """:meth:`ack` through group commit."""
        return await self._write(lambda conn: self._ack(conn, agency_code, delivery_id))

    def _ack(self, conn: sqlite3.Connection, agency_code: str, delivery_id: int) -> tuple[bool, float] | None:
        row = conn.execute(
            "SELECT acked, acked_at FROM deliveries WHERE delivery_id = ? AND recipient_code = ?",
            (delivery_id, agency_code),
        ).fetchone()
        if row is None:
            return None
        if row[0]:
            return False, row[1]
        now = self._clock()
        conn.execute("UPDATE deliveries SET acked = 1, acked_at = ? WHERE delivery_id = ?", (now, delivery_id))
        return True, now

    def handed_out_pending(self, agency_code: str, document_id: str) -> list[int]:
        """Ids of ``agency_code``'s unacknowledged deliveries about ``document_id`` (the
        document itself, or receipts of it) that were handed out to it at least once
        (``attempt > 0``), oldest first. One never handed out is left out: acknowledging
        it by document would lose it, since the agency never saw it."""
        rows = self._conn.execute(
            "SELECT delivery_id FROM deliveries WHERE recipient_code = ? AND acked = 0 AND document_id = ?"
            " AND attempt > 0 ORDER BY delivery_id",
            (agency_code, document_id),
        ).fetchall()
        return [r[0] for r in rows]

    def delivery_document(self, agency_code: str, delivery_id: int) -> str | None:
        """The document a delivery of ``agency_code`` is about, or ``None`` (no such delivery of it)."""
        row = self._conn.execute(
            "SELECT document_id FROM deliveries WHERE delivery_id = ? AND recipient_code = ?",
            (delivery_id, agency_code),
        ).fetchone()
        return row[0] if row else None

    # -- ledger --------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Sizes for the ledger and the store-size gauges."""
        c = self._conn
        return {
            "documents": c.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "receipts": c.execute("SELECT COUNT(*) FROM receipts").fetchone()[0],
            "deliveries_acked": c.execute("SELECT COUNT(*) FROM deliveries WHERE acked = 1").fetchone()[0],
            "deliveries_pending": c.execute("SELECT COUNT(*) FROM deliveries WHERE acked = 0").fetchone()[0],
        }

    def ledger(self, since: float | None = None) -> AxisLedger:
        """Ids of everything acknowledged (optionally only what was accepted at/after ``since``)."""
        t = since if since is not None else float("-inf")
        c = self._conn
        return AxisLedger(
            documents=tuple(
                r[0] for r in c.execute(
                    "SELECT document_id FROM documents WHERE accepted_at >= ? ORDER BY accepted_at, document_id", (t,)
                )
            ),
            receipts=tuple(
                r[0] for r in c.execute("SELECT receipt_id FROM receipts WHERE created_at >= ? ORDER BY receipt_id", (t,))
            ),
            deliveries_acked=tuple(
                r[0] for r in c.execute(
                    "SELECT delivery_id FROM deliveries WHERE acked = 1 AND acked_at >= ? ORDER BY delivery_id", (t,)
                )
            ),
            deliveries_pending=tuple(
                r[0] for r in c.execute("SELECT delivery_id FROM deliveries WHERE acked = 0 ORDER BY delivery_id")
            ),
        )
