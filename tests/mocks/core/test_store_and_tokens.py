import asyncio
import time

import jwt
import pytest

from mocks.core.errors import ApiError
from mocks.core.store import GroupCommit, open_database
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
    reopened = open_database(tmp_path / "t.db")
    assert reopened.execute("SELECT count(*) FROM t").fetchone() == (100,)


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
