"""The citizen table of the population mock: deterministic seeding and look-ups by ID.

The database holds exactly ``kernel.synthetic.citizen_at(seed, i)`` for
``i in range(size)``, so the load generator — which calls the same function — knows who
exists without reading this database. Seeding happens once: the ``meta`` table records
the seed and size, written in the same transaction as the rows, so a crash mid-seed
leaves an unseeded database (re-seeded on the next start), never a half-seeded one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from kernel.roster import load_roster
from kernel.synthetic import citizen_at

__all__ = ["CitizenRecord", "CitizenStore", "SeedReport", "CITIZEN_FIELDS"]

# Column order of the citizens table; also the order of CitizenRecord's fields.
CITIZEN_FIELDS = (
    "personal_id",
    "full_name",
    "date_of_birth",
    "sex",
    "address",
    "commune_code",
    "province_code",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS citizens (
    personal_id   TEXT PRIMARY KEY,
    full_name     TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    sex           TEXT NOT NULL,
    address       TEXT NOT NULL,
    commune_code  TEXT NOT NULL,
    province_code TEXT NOT NULL
) WITHOUT ROWID;
"""
_MMAP_BYTES = 1 << 30
_CACHE_KIB = 64 * 1024
_LOOKUP = (
    "SELECT personal_id, full_name, date_of_birth, sex, address, commune_code, province_code "
    "FROM citizens WHERE personal_id = ?"
)
_INSERT = "INSERT INTO citizens VALUES (?, ?, ?, ?, ?, ?, ?)"
# Rows per executemany call: big enough to amortise the call, small enough that the
# generator never holds the whole population in memory.
_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class CitizenRecord:
    """One row of the citizens table (dates as ISO ``YYYY-MM-DD`` text, as stored)."""

    personal_id: str
    full_name: str
    date_of_birth: str
    sex: str
    address: str
    commune_code: str
    province_code: str


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What :meth:`CitizenStore.seed` did: seeded or skipped, how many rows, how long."""

    seeded: bool
    seed: int
    size: int
    seconds: float


class CitizenStore:
    """Citizen look-ups over one SQLite connection (the event loop's; never shared)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        conn.executescript(_SCHEMA)
        # The table is read-mostly and small (≈ 15 MB per 100,000 citizens): map it and
        # cache it whole, so a look-up of a cold citizen costs no read() system call.
        conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")

    def seeded_as(self) -> tuple[int, int] | None:
        """The ``(seed, size)`` the database was seeded with, or ``None`` if never."""
        rows = dict(self._conn.execute("SELECT key, value FROM meta WHERE key IN ('seed', 'size')"))
        if "seed" not in rows or "size" not in rows:
            return None
        return int(rows["seed"]), int(rows["size"])

    def seed(self, seed: int, size: int) -> SeedReport:
        """Fill the table with ``citizen_at(seed, i)`` for ``i < size``; skip if already so.

        A database seeded with another seed or size is emptied and re-seeded. The bulk
        load runs with ``synchronous=OFF`` (a crash during seeding only costs a re-seed,
        because the meta row commits with the data), then restores the previous level.
        """
        started = time.perf_counter()
        if self.seeded_as() == (seed, size):
            return SeedReport(False, seed, size, time.perf_counter() - started)
        conn = self._conn
        (previous,) = conn.execute("PRAGMA synchronous").fetchone()
        conn.execute("PRAGMA synchronous=OFF")
        try:
            # One explicit transaction (the connection may be in autocommit mode):
            # rows and meta commit together or not at all.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM meta WHERE key IN ('seed', 'size')")
                conn.execute("DELETE FROM citizens")
                rows = _rows(seed, size)
                while chunk := list(islice(rows, _CHUNK)):
                    conn.executemany(_INSERT, chunk)
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("seed", str(seed)), ("size", str(size))],
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.execute(f"PRAGMA synchronous={int(previous)}")
        # Move the seeded rows from the WAL into the database file: look-ups then read the
        # memory-mapped file instead of searching the WAL for every page (the first run
        # after a seeding was ≈ 15 % slower than later ones before this).
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return SeedReport(True, seed, size, time.perf_counter() - started)

    def lookup(self, personal_id: str) -> CitizenRecord | None:
        """The citizen with this ID number, or ``None``."""
        row = self._conn.execute(_LOOKUP, (personal_id,)).fetchone()
        return None if row is None else CitizenRecord(*row)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def count(self) -> int:
        """Number of citizens in the table."""
        return int(self._conn.execute("SELECT count(*) FROM citizens").fetchone()[0])


def _rows(seed: int, size: int) -> Iterator[tuple[str, ...]]:
    roster = load_roster()
    for i in range(size):
        c = citizen_at(seed, i, roster)
        yield (
            c.personal_id,
            c.full_name,
            c.date_of_birth.isoformat(),
            c.sex,
            c.address,
            c.commune_code,
            c.province_code,
        )

