import asyncio
import errno
import functools
import random
import sqlite3
import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.core.errors import ApiError
from mocks.core.store import GroupCommit, WalCheckpointer, open_database, storage_refusal
from mocks.core.tokens import TokenIssuer


def test_group_commit_batches_concurrent_writes_and_isolates_failures(tmp_path):
    conn = open_database(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    group = GroupCommit(conn)

    async def main():
        ok = [group.write(lambda c, k=k: c.execute("INSERT INTO t VALUES (?)", (k,))) for k in range(100)]
        dup = group.write(lambda c: c.execute("INSERT INTO t VALUES (5)"))
        results = await asyncio.gather(*ok, dup, return_exceptions=True)
        return results

    results = asyncio.run(main())
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert group.batches == 1 and group.writes == 101
    assert group.reruns == 0  # SQLite undid the failed INSERT itself: no second run
    reopened = open_database(tmp_path / "t.db")
    assert reopened.execute("SELECT count(*) FROM t").fetchone() == (100,)


def test_a_write_failing_half_way_is_undone_and_the_batch_still_commits(tmp_path):
    conn = open_database(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    group = GroupCommit(conn)
    runs = {"half": 0, "ok": 0}

    def ok(k, c):
        runs["ok"] += 1
        c.execute("INSERT INTO t VALUES (?)", (k,))
        return k

    def half(c):  # writes a row, then a rule inside the unit refuses: the row must go too
        runs["half"] += 1
        c.execute("INSERT INTO t VALUES (1000)")
        raise ApiError(409, "refused", "refused after writing")

    def before(c):  # refuses before writing: nothing to undo, no second run needed
        raise ApiError(409, "refused_early", "refused before writing")

    async def first_batch():
        return await asyncio.gather(
            *(group.write(functools.partial(ok, k)) for k in range(3)), group.write(before), return_exceptions=True
        )

    async def second_batch():
        return await asyncio.gather(
            group.write(functools.partial(ok, 10)), group.write(half), group.write(functools.partial(ok, 11)),
            return_exceptions=True,
        )

    assert asyncio.run(first_batch())[:3] == [0, 1, 2]
    assert group.reruns == 0 and runs["ok"] == 3  # an early refusal costs the others nothing
    results = asyncio.run(second_batch())
    assert results[0] == 10 and results[2] == 11
    assert isinstance(results[1], ApiError) and results[1].code == "refused"
    # The first pass stops at the half-way failure; the second runs all three, each alone.
    assert group.reruns == 1 and runs["half"] == 2 and runs["ok"] == 3 + 1 + 2
    reopened = open_database(tmp_path / "t.db")
    assert [r[0] for r in reopened.execute("SELECT k FROM t ORDER BY k")] == [0, 1, 2, 10, 11]


@settings(max_examples=60, deadline=None)
@given(kinds=st.lists(st.sampled_from(["ok", "refused", "half_done", "duplicate"]), min_size=1, max_size=12))
def test_a_batch_commits_exactly_the_writes_that_succeeded(tmp_path_factory, kinds):
    """Any mix in one batch: writes that succeed, refuse before writing, fail after
    writing, or break a constraint — the database holds the successes and nothing else,
    and each caller gets its own result."""
    conn = open_database(tmp_path_factory.mktemp("group") / "t.db")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (-1)")
    group = GroupCommit(conn)

    def write(kind: str, k: int, c):
        if kind == "refused":
            raise ApiError(409, "refused", "refused before writing")
        if kind == "duplicate":
            c.execute("INSERT INTO t VALUES (-1)")  # SQLite undoes the statement itself
        c.execute("INSERT INTO t VALUES (?)", (k,))
        if kind == "half_done":
            raise ApiError(409, "refused", "refused after writing")
        return k

    async def batch():
        return await asyncio.gather(
            *(group.write(functools.partial(write, kind, k)) for k, kind in enumerate(kinds)), return_exceptions=True
        )

    results = asyncio.run(batch())
    for k, (kind, result) in enumerate(zip(kinds, results, strict=True)):
        assert result == k if kind == "ok" else isinstance(result, Exception)
    stored = {row[0] for row in conn.execute("SELECT k FROM t")}
    assert stored == {-1} | {k for k, kind in enumerate(kinds) if kind == "ok"}
    assert group.reruns == (1 if "half_done" in kinds else 0)
    conn.close()


def _wal_bytes_after_batches(path, checkpointer_interval_s: float | None) -> int:
    """Write 20 batches of 100 rows; the WAL file's size at the end."""
    conn = open_database(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    checkpointer = None
    if checkpointer_interval_s is None:
        conn.execute("PRAGMA wal_autocheckpoint=0")  # control: nobody checkpoints
    else:
        checkpointer = WalCheckpointer(conn, interval_s=checkpointer_interval_s)
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # the writer never checkpoints
    for _ in range(20):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [("x" * 200,)] * 100)
        conn.execute("COMMIT")
        if checkpointer is not None:
            seen, deadline = checkpointer.checkpoints, time.monotonic() + 5
            while checkpointer.checkpoints < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.005)
    size = path.with_name(path.name + "-wal").stat().st_size
    if checkpointer is not None:
        checkpointer.close()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)  # SQLite takes over again
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2000,)
    conn.close()
    return size


def test_background_checkpoints_let_the_writer_reuse_the_wal(tmp_path):
    unchecked = _wal_bytes_after_batches(tmp_path / "control.db", None)
    checked = _wal_bytes_after_batches(tmp_path / "checked.db", 0.005)
    assert unchecked > 400_000  # 2,000 rows of 200 bytes, all still in the WAL
    assert checked < unchecked / 4  # checkpointed between batches, so the WAL restarts from its start


async def _sustained_writes(path, *, restart_after_frames: int | None, batches: int | None) -> tuple[int, int, int]:
    """Group-committed random-key inserts with no pause between transactions, as under a
    load test: ``batches`` of them, or (``None``) until the checkpointer has rewound the
    WAL once and 300 more. The WAL file's size at the end, the restarts, the batches."""
    conn = open_database(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)")
    checkpointer = WalCheckpointer(conn, interval_s=0.01, restart_after_frames=restart_after_frames or 10**9)
    group = GroupCommit(conn)
    rng = random.Random(5)

    def insert(key: str, c) -> None:
        c.execute("INSERT INTO t (k, v) VALUES (?, ?)", (key, b"x" * 300))

    done, after_restart = 0, 0
    while (batches is None and after_restart < 300 and done < 20_000) or done < (batches or 0):
        await asyncio.gather(*(group.write(functools.partial(insert, f"{rng.random():.17f}")) for _ in range(10)))
        done += 1
        after_restart += 1 if checkpointer.restarts else 0
    size = path.with_name(path.name + "-wal").stat().st_size
    restarts = checkpointer.restarts
    checkpointer.close()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (10 * done,)
    conn.close()
    return size, restarts, done


def test_sustained_writes_rewind_the_wal_instead_of_growing_it(tmp_path):
    rewound, restarts, batches = asyncio.run(
        _sustained_writes(tmp_path / "rewound.db", restart_after_frames=256, batches=None)
    )
    # Control, the same writes: passive checkpoints alone never find the WAL idle, so it
    # holds every frame written.
    passive_only, _, _ = asyncio.run(_sustained_writes(tmp_path / "control.db", restart_after_frames=None,
                                                       batches=batches))
    assert restarts >= 1
    assert rewound < passive_only, (rewound, passive_only)


def test_background_checkpoint_refuses_bad_settings(tmp_path):
    conn = open_database(tmp_path / "x.db")
    with pytest.raises(ValueError, match="interval_s must be > 0"):
        WalCheckpointer(conn, interval_s=0)
    with pytest.raises(ValueError, match="restart_after_frames"):
        WalCheckpointer(conn, restart_after_frames=0)
    import sqlite3

    with pytest.raises(ValueError, match="needs a file database"):
        WalCheckpointer(sqlite3.connect(":memory:"))


def test_tokens_verify_and_carry_claims():
    issuer = TokenIssuer("s", "portal", "portal-api", ttl_s=60)
    token, ttl = issuer.issue("079190123456", "citizen", province="79")
    claims = issuer.verify(token)
    assert ttl == 60 and claims["role"] == "citizen" and claims["province"] == "79"


@pytest.mark.parametrize(
    "forge",
    [
        lambda key, claims: jwt.encode(claims, key="", algorithm="none"),
        lambda key, claims: jwt.encode(claims, b"a-wrong-key-of-thirty-two-bytes!", algorithm="HS256"),
        lambda key, claims: jwt.encode({**claims, "aud": "other"}, key, algorithm="HS256"),
        lambda key, claims: jwt.encode({**claims, "exp": int(time.time()) - 1}, key, algorithm="HS256"),
        lambda key, claims: jwt.encode({**claims, "nbf": int(time.time()) + 600}, key, algorithm="HS256"),
        lambda key, claims: jwt.encode({k: v for k, v in claims.items() if k != "jti"}, key, algorithm="HS256"),
    ],
    ids=["alg-none", "wrong-key", "wrong-audience", "expired", "not-yet-valid", "no-jti"],
)
def test_forged_or_invalid_tokens_are_refused_with_401(forge):
    issuer = TokenIssuer("s", "portal", "portal-api", ttl_s=60)
    token, _ = issuer.issue("a", "citizen")
    claims = jwt.decode(token, options={"verify_signature": False})
    with pytest.raises(ApiError) as info:
        issuer.verify(forge(issuer._key, claims))
    assert info.value.status == 401


def test_revocation_survives_a_restart(tmp_path):
    conn = open_database(tmp_path / "r.db")
    issuer = TokenIssuer("s", "portal", "portal-api", ttl_s=60, conn=conn)
    token, _ = issuer.issue("a", "citizen")
    claims = issuer.verify(token)
    issuer.revoke(claims["jti"], claims["exp"])
    again = TokenIssuer("s", "portal", "portal-api", ttl_s=60, conn=open_database(tmp_path / "r.db"))
    with pytest.raises(ApiError, match="revoked"):
        again.verify(token)


def test_expired_tokens_and_revocations_leave_memory_as_new_ones_arrive():
    """The verified-token cache holds the tokens still alive, not every token ever seen (the
    soak's growth): once a token has expired, the next new token verified drops it."""
    # exp is in whole seconds (now rounded down + ttl): a 1-s lifetime can end a moment after
    # issue, before the first verify. Three seconds leave at least two to verify them in.
    issuer = TokenIssuer("s" * 32, "dientap-portal", "portal", ttl_s=3)
    old = [issuer.issue(f"{i:012d}", "citizen")[0] for i in range(50)]
    for token in old:
        issuer.verify(token)
    last_exp = max(issuer.verify(token)["exp"] for token in old)
    issuer.revoke("jti-old", last_exp)
    assert issuer.held() == (50, 1)
    time.sleep(max(0.0, last_exp - time.time()) + 0.05)  # past every old token's exp and the revocation's
    issuer.ttl_s = 900
    new, _ = issuer.issue("000000000099", "citizen")
    assert issuer.verify(new)["sub"] == "000000000099"
    issuer.revoke("jti-new", time.time() + 900)
    assert issuer.held() == (1, 1)  # only what is still alive
    assert issuer.is_revoked("jti-new") and not issuer.is_revoked("jti-old")
    with pytest.raises(ApiError, match="token has expired"):
        issuer.verify(old[0])  # expired tokens are still refused, not served from a cache


class _FailingOnce:
    """A connection whose next COMMIT and the ROLLBACK after it fail, as on a full disk
    (the transaction stays open); every other call goes to the real connection."""

    def __init__(self, conn):
        self._conn = conn
        self.failing = {"COMMIT", "ROLLBACK"}

    def execute(self, sql, *args):
        if sql in self.failing:
            self.failing.discard(sql)
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_failed_commit_and_rollback_fail_their_batch_and_the_writer_goes_on(tmp_path):
    conn = open_database(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    group = GroupCommit(_FailingOnce(conn))  # type: ignore[arg-type]  # a stand-in for the full disk

    async def main():
        failed = await asyncio.wait_for(asyncio.gather(
            *(group.write(lambda c, k=k: c.execute("INSERT INTO t VALUES (?)", (k,))) for k in range(3)),
            return_exceptions=True), timeout=5)  # bounded: a wedged writer never answers
        later = await asyncio.wait_for(group.write(lambda c: c.execute("INSERT INTO t VALUES (10)")), timeout=5)
        return failed, later

    failed, _ = asyncio.run(main())
    assert all(isinstance(r, sqlite3.OperationalError) for r in failed), failed
    reopened = open_database(tmp_path / "t.db")
    assert reopened.execute("SELECT k FROM t").fetchall() == [(10,)]  # the failed batch left nothing


def test_storage_full_errors_are_refusals_and_other_errors_are_not(tmp_path):
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode, full.sqlite_errorname = 13, "SQLITE_FULL"  # type: ignore[attr-defined]
    refusal = storage_refusal(full)
    assert refusal is not None and refusal.status == 507 and refusal.code == "insufficient_storage"
    assert int(refusal.headers["Retry-After"]) > 0 and "SQLITE_FULL" in refusal.message
    wrapped = RuntimeError("while saving")
    wrapped.__cause__ = OSError(errno.EROFS, "Read-only file system")
    assert storage_refusal(wrapped) is not None
    io = sqlite3.OperationalError("disk I/O error")
    io.sqlite_errorcode, io.sqlite_errorname = 778, "SQLITE_IOERR_WRITE"  # type: ignore[attr-defined]
    assert storage_refusal(io, tmp_path) is None  # the disk has room: a real I/O fault stays a 500
    assert storage_refusal(RuntimeError("x")) is None
    assert storage_refusal(OSError(errno.ENOENT, "gone")) is None
