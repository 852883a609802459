"""The SQLite choices behind the mocks' write paths, each against its alternative in the same run.

    python bench/sqlite_paths.py          # ≈ 30 s

1. audit: the population audit log (``AuditLog``, its real batched writer) with and
   without an index on the subject — subjects arrive in random order — and what a
   newest-first query by subject costs per million entries without that index;
2. portal writes: dossiers written through ``GroupCommit`` (15 per transaction, the
   batch size measured under the submit benchmark) with SQLite's automatic checkpoint
   on the writer versus a ``WalCheckpointer`` thread. The figure is the writer's time
   per dossier — the time the event loop is busy;
3. portal layout: the same dossiers and idempotency records in layout 0 (a history
   table with its own index; idempotency records stored whole at their key), layout 1
   (history in the dossier row; records appended, unique index on the key) and layout 2
   (today's: layout 1 without the worklist's own index);
4. group commit: each write in a savepoint of its own (what ``GroupCommit`` did before)
   versus none (what it does now, re-running a batch isolated only when a write fails
   after changing rows);
5. what layout 2 costs the officer's worklist: a page filtered by status in a commune of
   10,000 dossiers whose 50 matches come last, through layout 1's own index versus
   layout 2's walk along the code index.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mocks.core.store import GroupCommit, WalCheckpointer, open_database
from mocks.population.audit import AuditAction, AuditLog
from mocks.portal.store import DossierRow, PortalStore

AUDIT_ENTRIES = 300_000
SCANNED_ENTRIES = 1_000_000
SUBJECTS = 20_000
DOSSIERS = 45_000
BATCH = 15


def _subjects() -> list[str]:
    rng = random.Random(7)
    return [f"0{rng.randrange(10**11):011d}" for _ in range(SUBJECTS)]


async def _audit_us_per_entry(path: Path, *, subject_index: bool, entries: int) -> float:
    log = AuditLog(path, open_database)
    await log.start()
    if subject_index:  # the index the audit had before (the log drops it when it opens)
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE INDEX audit_subject ON audit (subject, id)")
    subjects = _subjects()
    started = time.perf_counter()
    for i in range(entries):
        log.record("police", "police", subjects[i % SUBJECTS], "bench", AuditAction.LOOKUP, "found")
        if i % 500 == 499:
            await log.flush()
    await log.flush()
    elapsed = time.perf_counter() - started
    await log.close()
    return elapsed / entries * 1e6


async def _subject_query_ms(path: Path) -> float:
    """A newest-first query for a subject with no entry: the worst case, a full scan."""
    await _audit_us_per_entry(path, subject_index=False, entries=SCANNED_ENTRIES)
    log = AuditLog(path, open_database)
    await log.start()
    started = time.perf_counter()
    found = await log.query(subject="999999999999", limit=100)
    elapsed_ms = (time.perf_counter() - started) * 1000
    await log.close()
    if found:
        raise SystemExit("the absent subject was found: the scan measured nothing")
    return elapsed_ms


def _row(n: int, rng: random.Random) -> DossierRow:
    commune = f"{rng.randrange(3321):05d}"
    return DossierRow(
        code=f"{commune}-261122-{n:06d}", commune_code=commune, province_code="01",
        procedure_code="1.000001.000.00.00.H01", owner_id="001190000001", channel=2,
        applicant={"personal_id": "001190000001", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-01-01"},
        fields={"purpose": "bench"}, fee_vnd=0, status=1,
        created_at="2026-11-22T17:00:00.000Z", updated_at="2026-11-22T17:00:00.000Z",
    )


# Layout 0 of the portal store, for comparison: what a submission wrote before.
_LAYOUT_0 = """
CREATE TABLE dossiers (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, commune_code TEXT NOT NULL,
    province_code TEXT NOT NULL, procedure_code TEXT NOT NULL, owner_id TEXT NOT NULL, channel INTEGER NOT NULL,
    applicant BLOB NOT NULL, fields BLOB NOT NULL, fee_vnd INTEGER NOT NULL, status INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX dossiers_worklist ON dossiers (commune_code, status, id);
CREATE TABLE dossier_history (id INTEGER PRIMARY KEY, dossier_code TEXT NOT NULL, from_status INTEGER,
    to_status INTEGER NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX dossier_history_code ON dossier_history (dossier_code);
CREATE TABLE idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint BLOB NOT NULL,
    status INTEGER NOT NULL, body BLOB NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (scope, key)) WITHOUT ROWID;
"""


class _SavepointEachWrite(GroupCommit):
    """``GroupCommit`` as it was: every write in a savepoint, failing or not."""

    def _run(self, batch: list):
        return self._run_isolated(batch)


def _write_layout_0(c: sqlite3.Connection, d: DossierRow, key: str, fp: bytes, answer: bytes) -> None:
    c.execute(
        "INSERT INTO dossiers (code, commune_code, province_code, procedure_code, owner_id, channel, applicant, "
        "fields, fee_vnd, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (d.code, d.commune_code, d.province_code, d.procedure_code, d.owner_id, d.channel, b"{}", b"{}",
         d.fee_vnd, d.status, d.created_at, d.updated_at),
    )  # fmt: skip
    c.execute(
        "INSERT INTO dossier_history (dossier_code, from_status, to_status, actor, note, at) VALUES (?,?,?,?,?,?)",
        (d.code, None, d.status, "citizen", "submitted", d.created_at),
    )
    c.execute("INSERT INTO idempotency VALUES (?,?,?,?,?,?)", (d.owner_id, key, fp, 201, answer, d.created_at))


async def _portal_us_per_dossier(
    path: Path, *, background_checkpoint: bool, layout: int = 2, savepoints: bool = False
) -> float:
    conn = open_database(path)
    if layout == 0:
        conn.executescript(_LAYOUT_0)
    else:
        PortalStore(conn)
        if layout == 1:
            conn.execute("CREATE INDEX dossiers_worklist ON dossiers (commune_code, status, id)")
    checkpointer = WalCheckpointer(conn) if background_checkpoint else None
    group = _SavepointEachWrite(conn) if savepoints else GroupCommit(conn)
    rng = random.Random(3)
    answer = b'{"code":"00001-261122-000001","status":1,"status_name":"submitted"}' + b" " * 200

    def unit(row: DossierRow, key: str):
        def write(c: sqlite3.Connection) -> None:
            if layout == 0:
                _write_layout_0(c, row, key, rng.randbytes(32), answer)
                return
            PortalStore.insert_dossier(c, row, "citizen")
            PortalStore.save_idempotent_response(c, row.owner_id, key, rng.randbytes(32), 201, answer, row.created_at)
        return write

    busy = 0.0
    for start in range(0, DOSSIERS, BATCH):
        writes = [group.write(unit(_row(n, rng), f"bench-{n}-{rng.randrange(10**9)}")) for n in range(start, start + BATCH)]
        cpu = time.perf_counter()
        await asyncio.gather(*writes)
        busy += time.perf_counter() - cpu
    if checkpointer is not None:
        checkpointer.close()
    conn.close()
    return busy / DOSSIERS * 1e6


_WORKLIST_LAYOUT_1 = (
    "SELECT id, code, commune_code, province_code, procedure_code, owner_id, channel, applicant, fields, fee_vnd, "
    "status, created_at, updated_at FROM dossiers WHERE commune_code = ? AND status = ? AND id > ? ORDER BY id LIMIT ?"
)


def _worklist_page_ms(path: Path, *, layout: int, per_commune: int = 10_000, matching: int = 50) -> float:
    """ms for one status-filtered worklist page (``matching`` rows) of a busy commune."""
    store = PortalStore(open_database(path))
    if layout == 1:
        store.conn.execute("CREATE INDEX dossiers_worklist ON dossiers (commune_code, status, id)")
    store.conn.execute("BEGIN")
    for commune in (f"{i:05d}" for i in range(10)):
        for k in range(per_commune):
            done = k < per_commune - matching  # the commune's older dossiers are finished (status 10)
            row = _row(k + 1, random.Random(k))._replace(code=f"{commune}-261122-{k + 1:06d}", commune_code=commune,
                                                         status=10 if done else 1)
            PortalStore.insert_dossier(store.conn, row, "citizen")
    store.conn.execute("COMMIT")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as the portal's checkpointer keeps it: reads from the file
    pages = 50
    started = time.perf_counter()
    for _ in range(pages):
        if layout == 1:
            rows = store.conn.execute(_WORKLIST_LAYOUT_1, ("00005", 1, 0, matching)).fetchall()
        else:
            rows = store.worklist("00005", 1, 0, matching)
        assert len(rows) == matching
    store.conn.close()
    return (time.perf_counter() - started) / pages * 1e3


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dientap-bench-", dir=Path.cwd()) as tmp:
        work = Path(tmp)
        indexed = asyncio.run(_audit_us_per_entry(work / "a1.db", subject_index=True, entries=AUDIT_ENTRIES))
        plain = asyncio.run(_audit_us_per_entry(work / "a2.db", subject_index=False, entries=AUDIT_ENTRIES))
        scan_ms = asyncio.run(_subject_query_ms(work / "a3.db"))
        automatic = asyncio.run(_portal_us_per_dossier(work / "p1.db", background_checkpoint=False))
        background = asyncio.run(_portal_us_per_dossier(work / "p2.db", background_checkpoint=True))
        layout_0 = asyncio.run(_portal_us_per_dossier(work / "p3.db", background_checkpoint=True, layout=0))
        layout_1 = asyncio.run(_portal_us_per_dossier(work / "p4.db", background_checkpoint=True, layout=1))
        savepoints = asyncio.run(_portal_us_per_dossier(work / "p5.db", background_checkpoint=True, savepoints=True))
        page_1 = _worklist_page_ms(work / "w1.db", layout=1)
        page_2 = _worklist_page_ms(work / "w2.db", layout=2)
    print(f"audit: {indexed:.2f} µs per entry with a subject index, {plain:.2f} µs without "
          f"(ratio {indexed / plain:.1f}×; {AUDIT_ENTRIES:,} entries, {SUBJECTS:,} random subjects)")
    print(f"audit query by subject without the index: {scan_ms:.0f} ms for a full scan of {SCANNED_ENTRIES:,} entries")
    print(f"portal writes: {automatic:.1f} µs per dossier with SQLite's automatic checkpoint on the writer, "
          f"{background:.1f} µs with a WalCheckpointer thread (ratio {automatic / background:.2f}×; "
          f"{DOSSIERS:,} dossiers, {BATCH} per transaction)")
    print(f"portal layout: {layout_0:.1f} µs per dossier in layout 0 (history table, idempotency records at their key), "
          f"{layout_1:.1f} µs in layout 1 (history in the row, records appended), {background:.1f} µs in layout 2 "
          f"(no worklist index): 0 ÷ 2 = {layout_0 / background:.2f}×, 1 ÷ 2 = {layout_1 / background:.2f}×")
    print(f"group commit: {savepoints:.1f} µs per dossier with a savepoint per write, {background:.1f} µs without "
          f"(ratio {savepoints / background:.2f}×)")
    print(f"worklist page by status (50 matches last among a commune's 10,000 dossiers): {page_1:.3f} ms through "
          f"layout 1's own index, {page_2:.3f} ms along layout 2's code index (ratio {page_2 / page_1:.0f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
