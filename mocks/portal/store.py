"""The portal's SQLite store: dossiers with their status history, payments, feedback,
and idempotency records (revoked tokens: :class:`mocks.core.tokens.TokenIssuer`).

Reads run directly on the one connection; writes are *units of work* (functions of the
connection) run through :class:`~mocks.core.store.GroupCommit`, so they commit
before the request is answered. Read-modify-write rules (a status transition, a payment
callback) run inside the unit, so they see and change the row atomically.

Every index a submission touches is written at a random position (codes, communes and
keys arrive in no order), and each one costs a B-tree descent, a dirty page and a WAL
frame at the next commit; so a submission writes only what it must:

* a dossier's status history is a short JSON array in its own row — it is only ever read
  with its dossier — rather than a table with an index of its own (layout 1);
* the idempotency records are appended in arrival order with a narrow unique index on
  the key, instead of being stored whole at the key's random position (layout 1);
* the officer's worklist reads the unique index on ``code`` rather than an index of its
  own (layout 2). A code is ``<commune>-<yymmdd>-<sequence>`` and
  :meth:`~mocks.portal.service.Portal.next_dossier_code` keeps a commune's codes rising
  in submission order, so a commune's dossiers are one contiguous, oldest-first range of
  that index; a status filter is checked along the range (a page whose matches sit
  behind 10,000 dossiers in other statuses takes ≈ 1.3 ms instead of 0.1 ms — see
  BENCHMARKS.md — for one index write fewer on every submission).

Databases written before a layout are migrated when opened (``PRAGMA user_version``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

import orjson

__all__ = ["SCHEMA", "SCHEMA_VERSION", "DossierRow", "PaymentRow", "PortalStore"]

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS dossiers (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    commune_code TEXT NOT NULL,
    province_code TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    channel INTEGER NOT NULL,
    applicant BLOB NOT NULL,
    fields BLOB NOT NULL,
    fee_vnd INTEGER NOT NULL,
    status INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL,
    payer_id TEXT NOT NULL,
    amount_vnd INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    paid_at TEXT,
    transaction_ref TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS payments_dossier ON payments (dossier_code, status);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    author_id TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_records (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idempotency_key ON idempotency_records (scope, key);
"""

# Layout 0 → 1: history rows move into their dossier's row, idempotency records into
# the appended table. One transaction: a crash mid-migration leaves layout 0 intact.
_MIGRATE_FROM_0 = """
ALTER TABLE dossiers ADD COLUMN history TEXT NOT NULL DEFAULT '[]';
UPDATE dossiers SET history = (
    SELECT json_group_array(json_object('from', h.from_status, 'to', h.to_status, 'actor', h.actor,
                                        'note', h.note, 'at', h.at))
    FROM (SELECT * FROM dossier_history WHERE dossier_code = dossiers.code ORDER BY id) AS h
);
DROP TABLE dossier_history;
"""
_MIGRATE_IDEMPOTENCY_FROM_0 = """
INSERT INTO idempotency_records (scope, key, fingerprint, status, body, created_at)
    SELECT scope, key, fingerprint, status, body, created_at FROM idempotency ORDER BY created_at;
DROP TABLE idempotency;
"""
# Layout 1 → 2: the worklist reads the code index (see the module's docstring).
_MIGRATE_FROM_1 = "DROP INDEX IF EXISTS dossiers_worklist;\n"


class DossierRow(NamedTuple):
    """A stored dossier (hồ sơ). Rows are tuples: one is built for every dossier written
    or read, and a frozen dataclass costs several times as much to build."""

    code: str
    commune_code: str
    province_code: str
    procedure_code: str
    owner_id: str
    channel: int
    applicant: dict[str, str]
    fields: dict[str, str]
    fee_vnd: int
    status: int
    created_at: str
    updated_at: str


class PaymentRow(NamedTuple):
    """A stored fee payment."""

    id: str
    dossier_code: str
    payer_id: str
    amount_vnd: int
    status: str  # pending | paid
    created_at: str
    paid_at: str | None
    transaction_ref: str | None


# SQL is spelled out in full (no string building), so every statement is a constant.
_SELECT_DOSSIER = (
    "SELECT code, commune_code, province_code, procedure_code, owner_id, channel, applicant, fields, fee_vnd, status, "
    "created_at, updated_at "
    "FROM dossiers WHERE code = ?"
)
_WORKLIST = (
    "SELECT id, code, commune_code, province_code, procedure_code, owner_id, channel, applicant, fields, fee_vnd, status, "
    "created_at, updated_at "
    "FROM dossiers WHERE code > ? AND code < ? AND +id > ? ORDER BY code LIMIT ?"
)
_WORKLIST_STATUS = (
    "SELECT id, code, commune_code, province_code, procedure_code, owner_id, channel, applicant, fields, fee_vnd, status, "
    "created_at, updated_at "
    "FROM dossiers WHERE code > ? AND code < ? AND +id > ? AND status = ? ORDER BY code LIMIT ?"
)
_INSERT_DOSSIER = (
    "INSERT INTO dossiers (code, commune_code, province_code, procedure_code, owner_id, channel, applicant, fields, fee_vnd, "
    "status, created_at, updated_at, history) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_SET_STATUS = (
    "UPDATE dossiers SET status = ?, updated_at = ?, history = json_insert(history, '$[#]', json(?)) WHERE code = ?"
)
_SELECT_PAYMENT = (
    "SELECT id, dossier_code, payer_id, amount_vnd, status, created_at, paid_at, transaction_ref "
    "FROM payments WHERE id = ?"
)
_PENDING_OF = (
    "SELECT id, dossier_code, payer_id, amount_vnd, status, created_at, paid_at, transaction_ref "
    "FROM payments WHERE dossier_code = ? AND status = 'pending'"
)
_ALL_PENDING = (
    "SELECT id, dossier_code, payer_id, amount_vnd, status, created_at, paid_at, transaction_ref "
    "FROM payments WHERE status = 'pending'"
)
_INSERT_PAYMENT = (
    "INSERT INTO payments (id, dossier_code, payer_id, amount_vnd, status, created_at, paid_at, transaction_ref) "
    "VALUES (?,?,?,?,?,?,?,?)"
)


def _dossier(row: tuple) -> DossierRow:
    return DossierRow(
        row[0], row[1], row[2], row[3], row[4], row[5],
        orjson.loads(row[6]), orjson.loads(row[7]), row[8], row[9], row[10], row[11],
    )  # fmt: skip


class PortalStore:
    """Typed queries over the portal database (one connection, event-loop thread only)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"the portal database has layout {version}, newer than this dientap's {SCHEMA_VERSION}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        script = ["BEGIN IMMEDIATE;", SCHEMA]
        if version == 0 and "dossier_history" in tables:
            script.append(_MIGRATE_FROM_0)
        if version == 0 and "idempotency" in tables:
            script.append(_MIGRATE_IDEMPOTENCY_FROM_0)
        if version < 2:
            script.append(_MIGRATE_FROM_1)
        script.append(f"PRAGMA user_version = {SCHEMA_VERSION:d}; COMMIT;")
        try:
            conn.executescript("".join(script))
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- dossiers ---------------------------------------------------------------------
    def dossier(self, code: str, conn: sqlite3.Connection | None = None) -> DossierRow | None:
        """The dossier with this code, or ``None``."""
        row = (conn or self.conn).execute(_SELECT_DOSSIER, (code,)).fetchone()
        return _dossier(row) if row else None

    def worklist(self, commune_code: str, status: int | None, after_id: int, limit: int) -> list[tuple[int, DossierRow]]:
        """Dossiers of one commune (optionally in one status), oldest first, after a cursor id."""
        # The commune's range of the code index, started after the cursor's own code so a
        # page does not walk the pages before it; ``id > after_id`` keeps any cursor exact
        # (written ``+id`` so that the planner never scans by id instead).
        low, high = f"{commune_code}-", f"{commune_code}."  # "." sorts right after "-"
        if after_id:
            row = self.conn.execute("SELECT code FROM dossiers WHERE id = ?", (after_id,)).fetchone()
            if row and low < row[0] < high:
                low = row[0]
        if status is None:
            sql = _WORKLIST
            args: tuple = (low, high, after_id, limit)
        else:
            sql = _WORKLIST_STATUS
            args = (low, high, after_id, status, limit)
        return [(row[0], _dossier(row[1:])) for row in self.conn.execute(sql, args)]

    def history(self, code: str) -> list[dict[str, object]]:
        """The status history of a dossier, oldest first (empty for an unknown code)."""
        row = self.conn.execute("SELECT history FROM dossiers WHERE code = ?", (code,)).fetchone()
        return orjson.loads(row[0]) if row else []

    def max_sequence(self, prefix: str) -> int:
        """Highest 6-digit sequence used by dossier codes starting with ``prefix`` (``00004-250701-``)."""
        row = self.conn.execute(
            "SELECT MAX(code) FROM dossiers WHERE code >= ? AND code < ?", (prefix, prefix + "\x7f")
        ).fetchone()
        return int(row[0][len(prefix):]) if row and row[0] else 0

    @staticmethod
    def insert_dossier(conn: sqlite3.Connection, d: DossierRow, actor: str) -> None:
        """Insert a new dossier with its first history entry (inside a unit of work)."""
        first = {"from": None, "to": d.status, "actor": actor, "note": "submitted", "at": d.created_at}
        conn.execute(
            _INSERT_DOSSIER,
            (d.code, d.commune_code, d.province_code, d.procedure_code, d.owner_id, d.channel,
             orjson.dumps(d.applicant), orjson.dumps(d.fields), d.fee_vnd, d.status, d.created_at, d.updated_at,
             orjson.dumps([first]).decode()),
        )  # fmt: skip

    @staticmethod
    def set_status(conn: sqlite3.Connection, code: str, old: int, new: int, actor: str, note: str, at: str) -> None:
        """Record a status change and its history entry (inside a unit of work)."""
        entry = orjson.dumps({"from": old, "to": new, "actor": actor, "note": note, "at": at}).decode()
        conn.execute(_SET_STATUS, (new, at, entry, code))

    # -- payments ---------------------------------------------------------------------
    def payment(self, payment_id: str, conn: sqlite3.Connection | None = None) -> PaymentRow | None:
        """The payment with this id, or ``None``."""
        row = (conn or self.conn).execute(_SELECT_PAYMENT, (payment_id,)).fetchone()
        return PaymentRow(*row) if row else None

    def pending_payment_of(self, dossier_code: str, conn: sqlite3.Connection | None = None) -> PaymentRow | None:
        """The pending payment of a dossier, if any."""
        row = (conn or self.conn).execute(_PENDING_OF, (dossier_code,)).fetchone()
        return PaymentRow(*row) if row else None

    def pending_payments(self) -> list[PaymentRow]:
        """Every payment still waiting for its callback (re-scheduled at startup)."""
        rows = self.conn.execute(_ALL_PENDING)
        return [PaymentRow(*r) for r in rows]

    @staticmethod
    def insert_payment(conn: sqlite3.Connection, p: PaymentRow) -> None:
        """Insert a new payment (inside a unit of work)."""
        conn.execute(
            _INSERT_PAYMENT,
            (p.id, p.dossier_code, p.payer_id, p.amount_vnd, p.status, p.created_at, p.paid_at, p.transaction_ref),
        )

    @staticmethod
    def mark_paid(conn: sqlite3.Connection, payment_id: str, at: str, transaction_ref: str) -> None:
        """Mark a payment paid (inside a unit of work)."""
        conn.execute(
            "UPDATE payments SET status = 'paid', paid_at = ?, transaction_ref = ? WHERE id = ?",
            (at, transaction_ref, payment_id),
        )

    # -- feedback ---------------------------------------------------------------------
    @staticmethod
    def insert_feedback(conn: sqlite3.Connection, author_id: str, commune_code: str, subject: str, body: str, at: str) -> str:
        """Insert a feedback item and return its code ``PAKN-000001`` (inside a unit of work)."""
        cur = conn.execute(
            "INSERT INTO feedback (code, author_id, commune_code, subject, body, created_at) VALUES ('', ?,?,?,?,?)",
            (author_id, commune_code, subject, body, at),
        )
        code = f"PAKN-{cur.lastrowid:06d}"
        conn.execute("UPDATE feedback SET code = ? WHERE id = ?", (code, cur.lastrowid))
        return code

    # -- idempotency ------------------------------------------------------------------
    def idempotent_response(self, scope: str, key: str) -> tuple[bytes, int, bytes] | None:
        """The stored ``(fingerprint, status, body)`` of an earlier request with this key."""
        row = self.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency_records WHERE scope = ? AND key = ?", (scope, key)
        ).fetchone()
        return (bytes(row[0]), row[1], bytes(row[2])) if row else None

    def idempotency_keys(self) -> tuple[int, Iterator[tuple[str, str]]]:
        """How many idempotency records there are, and their ``(scope, key)`` pairs."""
        (count,) = self.conn.execute("SELECT count(*) FROM idempotency_records").fetchone()
        return count, self.conn.execute("SELECT scope, key FROM idempotency_records")

    @staticmethod
    def save_idempotent_response(
        conn: sqlite3.Connection, scope: str, key: str, fingerprint: bytes, status: int, body: bytes, at: str
    ) -> None:
        """Remember the response to a keyed request (same unit of work as its effect)."""
        conn.execute(
            "INSERT INTO idempotency_records (scope, key, fingerprint, status, body, created_at) VALUES (?,?,?,?,?,?)",
            (scope, key, fingerprint, status, body, at),
        )

    # -- ledger -----------------------------------------------------------------------
    def ledger_ids(self) -> dict[str, list[str]]:
        """Ids of everything acknowledged: dossiers, paid payments, feedback."""
        c = self.conn
        return {
            "dossiers": [r[0] for r in c.execute("SELECT code FROM dossiers ORDER BY id")],
            "payments": [r[0] for r in c.execute("SELECT id FROM payments WHERE status = 'paid' ORDER BY paid_at, id")],
            "feedback": [r[0] for r in c.execute("SELECT code FROM feedback ORDER BY id")],
        }
