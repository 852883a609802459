"""The portal store's layout: history kept in the dossier row, and databases written by
the earlier layout (a history table, idempotency records stored at their key) migrated
without losing a dossier, a history entry or a replayable response."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from mocks.core.store import open_database
from mocks.portal.store import SCHEMA_VERSION, DossierRow, PortalStore

# The layout before SCHEMA_VERSION 1, as dientap 0.1 created it.
_LAYOUT_0 = """
CREATE TABLE dossiers (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, commune_code TEXT NOT NULL,
    province_code TEXT NOT NULL, procedure_code TEXT NOT NULL, owner_id TEXT NOT NULL,
    channel INTEGER NOT NULL, applicant BLOB NOT NULL, fields BLOB NOT NULL, fee_vnd INTEGER NOT NULL,
    status INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX dossiers_worklist ON dossiers (commune_code, status, id);
CREATE TABLE dossier_history (
    id INTEGER PRIMARY KEY, dossier_code TEXT NOT NULL, from_status INTEGER, to_status INTEGER NOT NULL,
    actor TEXT NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX dossier_history_code ON dossier_history (dossier_code);
CREATE TABLE idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint BLOB NOT NULL, status INTEGER NOT NULL,
    body BLOB NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (scope, key)
) WITHOUT ROWID;
"""


def _row(code: str, status: int = 1) -> DossierRow:
    return DossierRow(
        code=code, commune_code="00004", province_code="01", procedure_code="1.000001.000.00.00.H01",
        owner_id="001190000001", channel=2, applicant={"personal_id": "001190000001"}, fields={"purpose": "x"},
        fee_vnd=0, status=status, created_at="2026-11-22T08:00:00+07:00", updated_at="2026-11-22T08:00:00+07:00",
    )  # fmt: skip


def _write_layout_0(path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(_LAYOUT_0)
    for code, status in (("00004-261122-000001", 3), ("00004-261122-000002", 1)):
        conn.execute(
            "INSERT INTO dossiers (code, commune_code, province_code, procedure_code, owner_id, channel, applicant, "
            "fields, fee_vnd, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (code, "00004", "01", "1.000001.000.00.00.H01", "001190000001", 2, b"{}", b"{}", 0, status, "t0", "t1"),
        )
    history = [
        ("00004-261122-000001", None, 1, "citizen", "submitted", "t0"),
        ("00004-261122-000002", None, 1, "citizen", "submitted", "t0"),
        ("00004-261122-000001", 1, 2, "officer:00004.officer1", "received", "t1"),
        ("00004-261122-000001", 2, 3, "officer:00004.officer1", "Thụ lý", "t2"),
    ]
    conn.executemany(
        "INSERT INTO dossier_history (dossier_code, from_status, to_status, actor, note, at) VALUES (?,?,?,?,?,?)",
        history,
    )
    conn.execute(
        "INSERT INTO idempotency VALUES (?,?,?,?,?,?)",
        ("dossiers:001190000001", "key-1", b"\x01" * 32, 201, b'{"code":"00004-261122-000001"}', "t0"),
    )
    conn.commit()
    conn.close()


def test_a_layout_0_database_is_migrated_without_losing_anything(tmp_path) -> None:
    path = tmp_path / "portal.db"
    _write_layout_0(path)
    store = PortalStore(open_database(path))
    assert store.history("00004-261122-000001") == [
        {"from": None, "to": 1, "actor": "citizen", "note": "submitted", "at": "t0"},
        {"from": 1, "to": 2, "actor": "officer:00004.officer1", "note": "received", "at": "t1"},
        {"from": 2, "to": 3, "actor": "officer:00004.officer1", "note": "Thụ lý", "at": "t2"},
    ]
    assert [h["to"] for h in store.history("00004-261122-000002")] == [1]
    assert store.idempotent_response("dossiers:001190000001", "key-1") == (
        b"\x01" * 32, 201, b'{"code":"00004-261122-000001"}',
    )  # fmt: skip
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "dossier_history" not in tables and "idempotency" not in tables
    # Opening again is a no-op: nothing is migrated twice.
    again = PortalStore(open_database(path))
    assert len(again.history("00004-261122-000001")) == 3


def test_history_grows_in_the_row_with_each_status_change(tmp_path) -> None:
    store = PortalStore(open_database(tmp_path / "portal.db"))
    with store.conn:
        store.conn.execute("BEGIN")
        PortalStore.insert_dossier(store.conn, _row("00004-261122-000009"), "citizen")
        PortalStore.set_status(store.conn, "00004-261122-000009", 1, 2, "officer:x", "nhận hồ sơ", "t1")
    assert store.history("00004-261122-000009") == [
        {"from": None, "to": 1, "actor": "citizen", "note": "submitted", "at": "2026-11-22T08:00:00+07:00"},
        {"from": 1, "to": 2, "actor": "officer:x", "note": "nhận hồ sơ", "at": "t1"},
    ]
    assert store.dossier("00004-261122-000009").status == 2
    assert store.history("99999-261122-000001") == []


def test_a_newer_layout_is_refused_rather_than_guessed(tmp_path) -> None:
    path = tmp_path / "portal.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        PortalStore(open_database(path))


def test_a_stored_response_is_replayed_byte_for_byte(tmp_path) -> None:
    store = PortalStore(open_database(tmp_path / "portal.db"))
    body = orjson.dumps({"code": "00004-261122-000001", "status": 1})
    store.conn.execute("BEGIN")
    PortalStore.save_idempotent_response(store.conn, "dossiers:1", "k", b"f" * 32, 201, body, "t0")
    store.conn.execute("COMMIT")
    assert store.idempotent_response("dossiers:1", "k") == (b"f" * 32, 201, body)
    assert store.idempotent_response("dossiers:2", "k") is None


def test_a_layout_1_database_keeps_its_dossiers_and_drops_the_worklist_index(tmp_path) -> None:
    path = tmp_path / "portal.db"
    store = PortalStore(open_database(path))
    store.conn.execute("BEGIN")
    PortalStore.insert_dossier(store.conn, _row("00004-261122-000001"), "citizen")
    store.conn.execute("COMMIT")
    # What layout 1 had on top of today's: the worklist's own index.
    store.conn.executescript(
        "CREATE INDEX dossiers_worklist ON dossiers (commune_code, status, id); PRAGMA user_version = 1;"
    )
    store.conn.close()
    reopened = PortalStore(open_database(path))
    indexes = {r[0] for r in reopened.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "dossiers_worklist" not in indexes
    assert reopened.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert reopened.dossier("00004-261122-000001").status == 1


def _pages(store: PortalStore, commune: str, status: int | None, limit: int, after: int = 0) -> list[str]:
    """Every worklist page of a commune, following the cursor as the API does."""
    seen: list[str] = []
    while True:
        rows = store.worklist(commune, status, after, limit)
        seen += [d.code for _, d in rows]
        if len(rows) < limit:
            return seen
        after = rows[-1][0]


def test_the_worklist_reads_a_commune_oldest_first_page_by_page(tmp_path) -> None:
    store = PortalStore(open_database(tmp_path / "portal.db"))
    # Two neighbouring communes submitting in turn over two days, in mixed statuses.
    written = []
    store.conn.execute("BEGIN")
    for n in range(1, 41):
        commune = "00004" if n % 3 else "00007"
        code = f"{commune}-26112{1 + n // 20}-{n:06d}"
        PortalStore.insert_dossier(store.conn, _row(code, status=1 + n % 4)._replace(commune_code=commune), "citizen")
        written.append((commune, 1 + n % 4, code))
    store.conn.execute("COMMIT")
    for commune in ("00004", "00007"):
        mine = [code for c, _, code in written if c == commune]
        for limit in (1, 3, 50):
            assert _pages(store, commune, None, limit) == mine
            assert _pages(store, commune, 2, limit) == [code for c, s, code in written if c == commune and s == 2]
    # A cursor is exact whatever it names: here the id of another commune's dossier.
    other = store.conn.execute("SELECT id FROM dossiers WHERE commune_code = '00007' ORDER BY id LIMIT 1 OFFSET 3").fetchone()[0]
    later = [r[0] for r in store.conn.execute(
        "SELECT code FROM dossiers WHERE commune_code = '00004' AND id > ? ORDER BY id", (other,)
    )]  # fmt: skip
    assert _pages(store, "00004", None, 4, after=other) == later and later
    assert store.worklist("99999", None, 0, 10) == []


def test_dossier_codes_never_go_back_and_a_full_day_is_refused(tmp_path) -> None:
    from mocks.core.errors import ApiError
    from mocks.core.settings import ServiceSettings
    from mocks.portal.service import Portal

    portal = Portal(ServiceSettings(data_dir=tmp_path))
    first = portal.next_dossier_code("00004")
    prefix = first[: -len("000001")]
    assert first == f"{prefix}000001" and portal.next_dossier_code("00004") == f"{prefix}000002"
    # The clock went back a day after a later code was drawn: the later date is kept.
    portal._latest_date = "991231"
    assert portal.next_dossier_code("00004") == "00004-991231-000001"
    portal._latest_date = prefix[6:12]
    portal._sequences[prefix] = 999_999
    with pytest.raises(ApiError) as refused:
        portal.next_dossier_code("00004")
    assert refused.value.status == 503 and refused.value.code == "dossier_numbers_exhausted"
    assert portal.next_dossier_code("00007").endswith("-000001")  # other communes go on
    portal.conn.close()
