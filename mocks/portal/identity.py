"""The portal's client of the population service: verify an applicant's identity.

The portal signs in to the population service as client system ``portal`` (password
derived from the dry-run secret), caches the token until shortly before it expires and
re-authenticates once if the service answers 401. One :class:`httpx.AsyncClient` with
keep-alive is shared by all requests.

Outcomes are three, never more: the applicant matches, does not match, or the check
could not be made (:class:`IdentityUnavailable`: connection refused, timeout, 5xx, a
response we cannot read). The portal answers 503 for the last one and stores nothing:
an unverified dossier is never accepted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import orjson

from dientap.credentials import derive_password

__all__ = ["Applicant", "IdentityUnavailable", "PopulationClient", "PORTAL_CLIENT_ID"]

PORTAL_CLIENT_ID = "portal"
# Re-authenticate this long before the cached token expires, so a request never races it.
_TOKEN_MARGIN_S = 10.0


class IdentityUnavailable(Exception):
    """The identity check could not be made (the population service is down or slow)."""


@dataclass(frozen=True, slots=True)
class Applicant:
    """Who claims to submit: ID number, full name, date of birth (ISO)."""

    personal_id: str
    full_name: str
    date_of_birth: str


class PopulationClient:
    """Verifies applicants against ``POST /citizens/verify`` of the population service."""

    def __init__(
        self,
        base_url: str | None,
        secret: str,
        timeout_s: float = 2.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._transport = transport  # tests inject a stub; production uses real sockets
        self.base_url = base_url.rstrip("/") if base_url else None
        self._password = derive_password(secret, PORTAL_CLIENT_ID)
        self._client: httpx.AsyncClient | None = None
        self._timeout = httpx.Timeout(timeout_s, connect=timeout_s)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url or "http://127.0.0.1:1",
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
                trust_env=False,  # never send identity checks through an environment proxy
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the keep-alive connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _bearer(self, *, refresh: bool = False) -> str:
        if not refresh and self._token and time.monotonic() < self._token_expires:
            return self._token
        async with self._token_lock:  # one sign-in, however many requests wait for it
            if not refresh and self._token and time.monotonic() < self._token_expires:
                return self._token
            try:
                resp = await self._http().post(
                    "/auth/token", json={"client_id": PORTAL_CLIENT_ID, "client_secret": self._password}
                )
            except httpx.HTTPError as exc:
                raise IdentityUnavailable(f"population service unreachable: {type(exc).__name__}") from None
            if resp.status_code != 200:
                raise IdentityUnavailable(f"population service refused the portal's sign-in ({resp.status_code})")
            try:
                data = orjson.loads(resp.content)
                token = str(data["access_token"])
                ttl = float(data.get("expires_in", 60))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                raise IdentityUnavailable("population service sent an unreadable token response") from None
            self._token = token
            self._token_expires = time.monotonic() + max(1.0, ttl - _TOKEN_MARGIN_S)
            return token

    async def verify(self, applicant: Applicant, purpose: str = "dossier submission") -> bool:
        """True if the population register matches the applicant, False if not.

        Raises :class:`IdentityUnavailable` when no answer could be obtained.
        """
        if self.base_url is None:
            raise IdentityUnavailable("no population service is configured (population_url)")
        body = orjson.dumps(
            {
                "personal_id": applicant.personal_id,
                "full_name": applicant.full_name,
                "date_of_birth": applicant.date_of_birth,
                "purpose": purpose[:200],  # audited by the population service
            }
        )
        for attempt in range(2):
            token = await self._bearer(refresh=attempt > 0)
            try:
                resp = await self._http().post(
                    "/citizens/verify",
                    content=body,
                    headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise IdentityUnavailable(f"population service unreachable: {type(exc).__name__}") from None
            if resp.status_code == 401 and attempt == 0:
                continue  # token expired or revoked on their side: sign in again, once
            return self._outcome(resp)
        raise IdentityUnavailable("population service keeps refusing the portal's token")

    @staticmethod
    def _outcome(resp: httpx.Response) -> bool:
        if resp.status_code == 200:
            try:
                return orjson.loads(resp.content)["match"] is True
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise IdentityUnavailable("population service sent an unreadable verify response") from None
        if resp.status_code in (404, 422):
            return False  # unknown or malformed ID number: the applicant is not who they claim
        raise IdentityUnavailable(f"population service answered {resp.status_code}")
