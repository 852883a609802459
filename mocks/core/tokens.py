"""Short-lived signed access tokens (JWT, HS256 only) with revocation by ``jti``.

One algorithm is fixed on both sides, so ``alg: none``, algorithm confusion (HS256
re-signed with a public key) and injected ``jwk``/``jku`` headers never verify.
``exp``, ``iat``, ``nbf``, ``iss``, ``aud`` and ``jti`` are all required.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid

import jwt
from starlette.requests import Request

from mocks.core.errors import ApiError

__all__ = ["TokenIssuer", "bearer_claims", "bearer_token"]

_ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "jti", "sub"]
_CACHE_LIMIT = 50_000


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "invalid_token", message, "Authorization", {"WWW-Authenticate": 'Bearer error="invalid_token"'})


class TokenIssuer:
    """Issues and verifies one service's tokens; revocations persist in ``conn`` if given."""

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        ttl_s: int,
        conn: sqlite3.Connection | None = None,
        *,
        accept_unsigned: bool = False,
        check_claims: bool = True,
    ):
        # Derive a per-service key so a token of one mock never verifies at another.
        self._key = hashlib.sha256(f"{secret}|jwt|{issuer}".encode()).digest()
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self._conn = conn
        self._accept_unsigned = accept_unsigned  # planted weakness `jwt_alg_none` only
        self._check_claims = check_claims  # False: planted weakness `token_claims_unchecked` (exp, nbf, aud) only
        self._revoked: dict[str, float] = {}
        self._cache: dict[str, dict] = {}
        if conn is not None:
            conn.execute("CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, exp REAL NOT NULL)")
            now = time.time()
            conn.execute("DELETE FROM revoked_tokens WHERE exp < ?", (now,))
            self._revoked = dict(conn.execute("SELECT jti, exp FROM revoked_tokens"))

    def issue(self, subject: str, role: str, **claims: object) -> tuple[str, int]:
        """A signed token for ``subject`` with ``role``; returns (token, expires_in seconds)."""
        now = int(time.time())
        payload = {
            "sub": subject,
            "role": role,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM), self.ttl_s

    def verify(self, token: str) -> dict:
        """The claims of a valid, unrevoked token; raises 401 :class:`ApiError` otherwise."""
        claims = self._cache.get(token)
        now = time.time()
        if claims is None:
            claims = self._decode(token)
            _drop_expired(self._cache, now)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = claims
        if claims["exp"] <= now and self._check_claims:
            self._cache.pop(token, None)
            raise _unauthorized("token has expired")
        if claims["jti"] in self._revoked:
            raise _unauthorized("token has been revoked")
        return claims

    def _decode(self, token: str) -> dict:
        if self._accept_unsigned:
            header = jwt.get_unverified_header(token) if token.count(".") == 2 else {}
            if str(header.get("alg", "")).lower() == "none":
                return jwt.decode(token, options={"verify_signature": False})
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED, "verify_exp": self._check_claims, "verify_nbf": self._check_claims,
                         "verify_aud": self._check_claims},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("token is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise _unauthorized("token was issued by another issuer") from None
        except jwt.PyJWTError:
            raise _unauthorized("token is malformed or its signature does not verify") from None

    def revoke(self, jti: str, exp: float) -> None:
        """Revoke a token by id until it would have expired anyway (persisted if possible)."""
        _drop_expired(self._revoked, time.time())
        self._revoked[jti] = exp
        if self._conn is not None:
            self._conn.execute("INSERT OR REPLACE INTO revoked_tokens (jti, exp) VALUES (?, ?)", (jti, exp))

    def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` was revoked."""
        return jti in self._revoked

    def held(self) -> tuple[int, int]:
        """How many verified tokens are cached and how many revocations are held in memory."""
        return len(self._cache), len(self._revoked)


def _drop_expired(entries: dict, now: float) -> None:
    """Drop the expired entries at the front of ``entries`` (claims dicts, or expiry times).

    Entries go in as tokens are first seen, so the oldest expire first: what is held is the
    tokens still alive (issue rate × lifetime) — bounded data — where the cache used to keep
    every token seen until it held 50,000: ≈ 1.8 KB each (the claims ≈ 1.4 KB by tracemalloc,
    plus the token), ≈ 90 MB before the first clear, growing with every sign-in until then.
    Amortised O(1): each entry is dropped once.
    """
    while entries:
        first = next(iter(entries))
        value = entries[first]
        if (value["exp"] if isinstance(value, dict) else value) > now:
            return
        del entries[first]


def bearer_token(request: Request) -> str:
    """The bearer token of the request (401 naming the Authorization header otherwise)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization: Bearer <token> is required")
    return token.strip()


def bearer_claims(request: Request, issuer: TokenIssuer) -> dict:
    """Verify the request's bearer token with ``issuer`` and return its claims."""
    return issuer.verify(bearer_token(request))
