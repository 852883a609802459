"""The go-live-night migration job: dossiers in flight at the closed district tier move to
their successor communes, in batches, idempotently, journaled.

While the district tier is open (readiness ``district_tier: open``, see
:mod:`mocks.core.district_tier`) citizens may file dossiers at a district unit (its
synthesized code ``9PPDD``, :mod:`kernel.districts`); such a dossier's code starts with
the unit code and its ``commune_code`` is the unit. Once an admin has closed the tier,
``POST /admin/migrations/district-tier {"batch_size": N}`` moves the next ``N`` dossiers
still at a district unit, each to its landing commune (rule 4 of :mod:`kernel.districts`):

* **one unit of work per batch**: the dossier's ``commune_code`` is compared-and-set from
  its unit to the landing commune (with a history entry), and a journal row
  ``(code, to_commune, from_unit, batch, at)`` is written in the same transaction — so a
  batch lands whole or not at all;
* **idempotent**: a batch selects only dossiers still at their unit and not journaled,
  so re-running after a timeout or a crash moves the rest and never a dossier twice;
* **kept codes**: a citizen's status query by code answers before, during and after the
  move; the officers of the landing commune find the dossier in their worklist (their own
  range of codes, then the dossiers journaled into their commune) and may work it.

``GET /admin/migrations/district-tier`` reads the journal (batches and landings).

PLANTED DEFECT ``lossy_migration`` (``--vulnerable portal:lossy_migration``, drills only):
one dossier in :data:`LOSSY_MIGRATION_ONE_IN` (by a hash of its code) is moved without
its journal row — counted as moved, found in no worklist — and another one in as many is
journaled into two successor communes, as a buggy retry would.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import orjson
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from kernel.districts import district_tier, landing_commune
from mocks.core.district_tier import tier_switch
from mocks.core.errors import ApiError
from mocks.core.http import RequestModel, json_response, read_json
from mocks.portal.service import now_iso, portal_of
from mocks.portal.store import DossierRow, PortalStore

__all__ = [
    "LOSSY_MIGRATION_ONE_IN",
    "MIGRATION_BATCH_SCHEMA",
    "MIGRATION_JOURNAL_SCHEMA",
    "MigrationBatchRequest",
    "ensure_journal",
    "lossy_fate",
    "migrate_batch",
    "read_migration_journal",
    "run_migration_batch",
    "worklist_rows",
]

LOSSY_MIGRATION_ONE_IN = 8  # drills/golive_reconcile.py keeps the same figure (a test holds the two equal)
MAX_JOURNAL_LANDINGS = 5000

_JOURNAL = """
CREATE TABLE IF NOT EXISTS district_migrations (
    code TEXT NOT NULL,
    to_commune TEXT NOT NULL,
    from_unit TEXT NOT NULL,
    batch INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (code, to_commune)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS district_migrations_into ON district_migrations (to_commune);
"""
# Dossiers still at a district unit (codes 9PPDD-..., commune_code still the unit) and not journaled.
_PENDING = (
    "SELECT code, province_code, status FROM dossiers "
    "WHERE code > '9' AND code < ':' AND commune_code = substr(code, 1, 5) "
    "AND NOT EXISTS (SELECT 1 FROM district_migrations m WHERE m.code = dossiers.code) ORDER BY code LIMIT ?"
)
_PENDING_COUNT = (
    "SELECT count(*) FROM dossiers "
    "WHERE code > '9' AND code < ':' AND commune_code = substr(code, 1, 5) "
    "AND NOT EXISTS (SELECT 1 FROM district_migrations m WHERE m.code = dossiers.code)"
)
_MOVE = (
    "UPDATE dossiers SET commune_code = ?, updated_at = ?, history = json_insert(history, '$[#]', json(?)) "
    "WHERE code = ? AND commune_code = ?"
)
_JOURNAL_INSERT = "INSERT INTO district_migrations (code, to_commune, from_unit, batch, at) VALUES (?,?,?,?,?)"
# Spelled out in full (no string building), so every statement is a constant.
_MIGRATED_INTO = (
    "SELECT d.id, d.code, d.commune_code, d.province_code, d.procedure_code, d.owner_id, d.channel, d.applicant, "
    "d.fields, d.fee_vnd, d.status, d.created_at, d.updated_at "
    "FROM district_migrations m JOIN dossiers d ON d.code = m.code "
    "WHERE m.to_commune = ? AND d.id > ? ORDER BY d.id LIMIT ?"
)
_MIGRATED_INTO_STATUS = (
    "SELECT d.id, d.code, d.commune_code, d.province_code, d.procedure_code, d.owner_id, d.channel, d.applicant, "
    "d.fields, d.fee_vnd, d.status, d.created_at, d.updated_at "
    "FROM district_migrations m JOIN dossiers d ON d.code = m.code "
    "WHERE m.to_commune = ? AND d.id > ? AND d.status = ? ORDER BY d.id LIMIT ?"
)
_IS_MIGRATED_INTO = (
    "SELECT 1 FROM district_migrations m JOIN dossiers d ON d.code = m.code WHERE d.id = ? AND m.to_commune = ?"
)

MIGRATION_BATCH_SCHEMA = {
    "type": "object",
    "required": ["batch", "moved", "remaining"],
    "properties": {
        "batch": {"type": ["integer", "null"]},
        "moved": {"type": "array", "items": {"type": "object"}},
        "remaining": {"type": "integer"},
    },
}
MIGRATION_JOURNAL_SCHEMA = {
    "type": "object",
    "required": ["migrated", "remaining", "batches", "landings"],
    "properties": {
        "migrated": {"type": "integer"},
        "remaining": {"type": "integer"},
        "batches": {"type": "array", "items": {"type": "object"}},
        "landings": {"type": "array", "items": {"type": "object"}},
    },
}


class MigrationBatchRequest(RequestModel):
    """``POST /admin/migrations/district-tier``: how many dossiers this batch moves."""

    batch_size: int = Field(default=100, ge=1, le=1000)


def ensure_journal(conn: sqlite3.Connection) -> None:
    """Create the migration journal if the database has none (idempotent)."""
    conn.executescript(_JOURNAL)


def lossy_fate(code: str, one_in: int = LOSSY_MIGRATION_ONE_IN) -> str | None:
    """PLANTED DEFECT ``lossy_migration``: ``"dropped"``, ``"duplicated"`` or ``None`` for a dossier code."""
    bucket = int.from_bytes(hashlib.sha256(f"lossy-migration:{code}".encode()).digest()[:8], "big") % one_in
    return {0: "dropped", 1: "duplicated"}.get(bucket)


def migrate_batch(conn: sqlite3.Connection, batch_size: int, *, lossy: bool = False) -> dict[str, Any]:
    """One batch, inside a unit of work: move up to ``batch_size`` pending dossiers (see the module docstring)."""
    rows = conn.execute(_PENDING, (batch_size,)).fetchall()
    if not rows:
        return {"batch": None, "moved": [], "remaining": 0}
    (last,) = conn.execute("SELECT coalesce(max(batch), 0) FROM district_migrations").fetchone()
    batch, at = last + 1, now_iso()
    tier = district_tier()
    moved = []
    for code, province_code, status in rows:
        unit = code[:5]
        district = tier.by_unit(unit)
        if district is None:  # a 9xxxx code no district owns: not ours to move
            continue
        to = landing_commune(code, district.successors)
        note = f"moved from district unit {unit} ({district.agency_code}) to commune {to} (batch {batch})"
        entry = orjson.dumps({"from": status, "to": status, "actor": "migration", "note": note, "at": at}).decode()
        if conn.execute(_MOVE, (to, at, entry, code, unit)).rowcount != 1:
            continue  # moved meanwhile: compare-and-set keeps a dossier from moving twice
        fate = lossy_fate(code) if lossy else None
        if fate != "dropped":  # PLANTED DEFECT when dropped: moved, but journaled nowhere
            conn.execute(_JOURNAL_INSERT, (code, to, unit, batch, at))
        if fate == "duplicated":  # PLANTED DEFECT: journaled into a second successor too
            second = district.successors[(district.successors.index(to) + 1) % len(district.successors)]
            if second != to:
                conn.execute(_JOURNAL_INSERT, (code, second, unit, batch, at))
        moved.append({"code": code, "from_unit": unit, "from_agency": district.agency_code, "to_commune": to,
                      "province_code": province_code})
    (remaining,) = conn.execute(_PENDING_COUNT).fetchone()
    return {"batch": batch, "moved": moved, "remaining": remaining}


async def run_migration_batch(request: Request) -> Response:
    """``POST /admin/migrations/district-tier``: one batch (409 while the tier is still open)."""
    portal = portal_of(request)
    body = await read_json(request, MigrationBatchRequest)
    if tier_switch(request).is_open:
        raise ApiError(409, "district_tier_open",
                       "close the district tier first (POST /admin/district-tier): an open unit still takes dossiers",
                       None)
    lossy = "lossy_migration" in portal.vulnerable
    result = await portal.writer.write(lambda conn: migrate_batch(conn, body.batch_size, lossy=lossy))
    return json_response(result)


async def read_migration_journal(request: Request) -> Response:
    """``GET /admin/migrations/district-tier``: the journal (per batch, and every landing)."""
    conn = portal_of(request).store.conn
    batches = [{"batch": b, "moved": n, "at": at} for b, n, at in conn.execute(
        "SELECT batch, count(DISTINCT code), min(at) FROM district_migrations GROUP BY batch ORDER BY batch")]
    landings = [{"code": c, "to_commune": t, "from_unit": u, "batch": b, "at": at} for c, t, u, b, at in conn.execute(
        "SELECT code, to_commune, from_unit, batch, at FROM district_migrations ORDER BY batch, code LIMIT ?",
        (MAX_JOURNAL_LANDINGS,))]
    (migrated,) = conn.execute("SELECT count(DISTINCT code) FROM district_migrations").fetchone()
    (remaining,) = conn.execute(_PENDING_COUNT).fetchone()
    return json_response({"migrated": migrated, "remaining": remaining, "batches": batches, "landings": landings})


def _row(row: tuple) -> tuple[int, DossierRow]:
    return row[0], DossierRow(
        row[1], row[2], row[3], row[4], row[5], row[6],
        orjson.loads(row[7]), orjson.loads(row[8]), row[9], row[10], row[11], row[12],
    )  # fmt: skip


def worklist_rows(portal_store: PortalStore, commune: str, status: int | None, after_id: int, limit: int
                  ) -> list[tuple[int, DossierRow]]:
    """An officer's worklist page: the commune's own dossiers (code order), then the ones
    migrated into it (id order). A cursor on a migrated dossier continues the second part."""
    conn = portal_store.conn
    in_migrated = bool(after_id) and conn.execute(_IS_MIGRATED_INTO, (after_id, commune)).fetchone() is not None
    rows = [] if in_migrated else portal_store.worklist(commune, status, after_id, limit)
    if len(rows) < limit:
        start = after_id if in_migrated else 0
        if status is None:
            extra = conn.execute(_MIGRATED_INTO, (commune, start, limit - len(rows)))
        else:
            extra = conn.execute(_MIGRATED_INTO_STATUS, (commune, start, status, limit - len(rows)))
        rows += [_row(r) for r in extra]
    return rows
