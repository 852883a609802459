"""The portal's client of the population service: verify an applicant's identity.

The portal signs in to the population service as client system ``portal`` (password
derived from the dry-run secret), caches the token until shortly before it expires and
re-authenticates once if the service answers 401. Calls go over pooled keep-alive
connections (:class:`~mocks.portal.upstream.KeepAliveClient`; see there why not httpx)
with one overall timeout per call (``upstream_timeout_s``, default 2 s).

Checks are coalesced: every applicant waiting in the same turn of the event loop goes
in one ``POST /citizens/verify-batch`` (at most 100 per call; more calls run side by
side), so a submission never waits for another one's answer, and under load the
portal pays one round trip for many dossiers instead of one each. The population
service checks and audits every item as it would a single ``/citizens/verify``.

Outcomes are three, never more: the applicant matches, does not match, or the check
could not be made (:class:`IdentityUnavailable`: connection refused, timeout, 5xx, a
response we cannot read). The portal answers 503 for the last one and stores nothing:
an unverified dossier is never accepted.

The answers are untrusted input (OWASP API10:2023): an answer is read only when it is a
200 with ``Content-Type: application/json``, at most ``upstream_max_response_bytes``, a
JSON object whose ``results`` holds exactly one object per item asked, each with a JSON
boolean ``match``. Anything else — malformed, oversized, wrong-typed (``"match": "true"``,
``1``), hostile (more results than asked) — is "could not be made": 503, nothing stored.
"""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

import orjson

from kernel.credentials import derive_password
from mocks.portal.upstream import KeepAliveClient, UpstreamError, UpstreamResponse

__all__ = ["Applicant", "IdentityUnavailable", "PopulationClient", "PORTAL_CLIENT_ID"]

PORTAL_CLIENT_ID = "portal"
VERIFY_BATCH_MAX = 100  # the population service's limit per verify-batch call
# Re-authenticate this long before the cached token expires, so a request never races it.
_TOKEN_MARGIN_S = 10.0


class IdentityUnavailable(Exception):
    """The identity check could not be made (the population service is down or slow)."""


class Applicant(NamedTuple):
    """Who claims to submit: ID number, full name, date of birth (ISO)."""

    personal_id: str
    full_name: str
    date_of_birth: str


class PopulationClient:
    """Verifies applicants against ``POST /citizens/verify-batch`` of the population service."""

    def __init__(self, base_url: str | None, secret: str, timeout_s: float = 2.0, ca_file: str | None = None,
                 client_cert: tuple[str, str] | None = None, max_response_bytes: int = 256 * 1024,
                 trust_answers: bool = False):
        self.base_url = base_url.rstrip("/") if base_url else None
        self._password = derive_password(secret, PORTAL_CLIENT_ID)
        self._trust_answers = trust_answers  # planted weakness `trust_population_answers` only
        if trust_answers:
            max_response_bytes = 64 * 1024 * 1024
        self._http = (KeepAliveClient(self.base_url, timeout_s, ca_file=ca_file, client_cert=client_cert,
                                      max_response_bytes=max_response_bytes)
                      if self.base_url else None)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._waiting: list[tuple[dict[str, str], asyncio.Future[bool]]] = []
        self._scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Stop the checks in flight (their callers get :class:`IdentityUnavailable`) and close."""
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    async def _post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> UpstreamResponse:
        assert self._http is not None  # verify() checks base_url first  # nosec B101
        try:
            return await self._http.post_json(path, body, headers)
        except UpstreamError as exc:
            raise IdentityUnavailable(f"population service unreachable: {exc}") from None

    def _usable_token(self, stale: str | None) -> str | None:
        token = self._token
        if token and token != stale and time.monotonic() < self._token_expires:
            return token
        return None

    async def _bearer(self, stale: str | None = None) -> str:
        """A valid token; ``stale`` is one the service just refused (never returned again)."""
        token = self._usable_token(stale)
        if token:
            return token
        async with self._token_lock:  # one sign-in, however many requests wait for it
            token = self._usable_token(stale)
            if token:
                return token
            resp = await self._post(
                "/auth/token", orjson.dumps({"client_id": PORTAL_CLIENT_ID, "client_secret": self._password})
            )
            if resp.status != 200:
                raise IdentityUnavailable(f"population service refused the portal's sign-in ({resp.status})")
            try:
                data = orjson.loads(resp.body)
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
        item = {
            "personal_id": applicant.personal_id,
            "full_name": applicant.full_name,
            "date_of_birth": applicant.date_of_birth,
            "purpose": purpose[:200],  # audited by the population service
        }
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((item, answer))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return await answer

    def _dispatch(self) -> None:
        """Send everything queued this turn of the loop, in batches of at most 100."""
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        loop = asyncio.get_running_loop()
        for start in range(0, len(waiting), VERIFY_BATCH_MAX):
            task = loop.create_task(self._check(waiting[start : start + VERIFY_BATCH_MAX]))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _check(self, batch: list[tuple[dict[str, str], asyncio.Future[bool]]]) -> None:
        try:
            matches = await self._verify_batch([item for item, _ in batch])
        except IdentityUnavailable as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(IdentityUnavailable(str(exc)))
            return
        except BaseException as exc:  # a bug or a shutdown: nobody may wait forever
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(IdentityUnavailable(f"identity check interrupted ({type(exc).__name__})"))
            raise
        for (_, answer), match in zip(batch, matches, strict=True):
            if not answer.done():  # its submission may have been cancelled meanwhile
                answer.set_result(match)

    async def _verify_batch(self, items: list[dict[str, str]]) -> list[bool]:
        body = orjson.dumps({"items": items})
        token: str | None = None
        for attempt in range(2):
            token = await self._bearer(stale=token)
            resp = await self._post("/citizens/verify-batch", body, {"Authorization": f"Bearer {token}"})
            if resp.status == 401 and attempt == 0:
                continue  # token expired or revoked on their side: sign in again, once
            if self._trust_answers:
                return _trusting_outcomes(resp, len(items))
            return self._outcomes(resp, len(items))
        raise IdentityUnavailable("population service keeps refusing the portal's token")

    @staticmethod
    def _outcomes(resp: UpstreamResponse, expected: int) -> list[bool]:
        if resp.status != 200:
            raise IdentityUnavailable(f"population service answered {resp.status}")
        media_type = resp.content_type.split(";", 1)[0].strip()
        if media_type != "application/json":
            raise IdentityUnavailable(f"population service answered Content-Type {media_type[:40]!r}, not JSON")
        try:
            results = orjson.loads(resp.body)["results"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise IdentityUnavailable("population service sent an unreadable verify response") from None
        if not isinstance(results, list):
            raise IdentityUnavailable("population service sent an unreadable verify response")
        if len(results) != expected:
            raise IdentityUnavailable(f"population service answered {len(results)} of {expected} checks")
        matches = []
        for result in results:
            match = result.get("match") if isinstance(result, dict) else None
            if not isinstance(match, bool):  # "true", 1, null: not an answer to "does it match?"
                raise IdentityUnavailable("population service sent a verify result without a boolean match")
            matches.append(match)
        # An item refused for its input (a malformed ID number) is a mismatch too: the
        # applicant is not who they claim.
        return matches


def _trusting_outcomes(resp: UpstreamResponse, expected: int) -> list[bool]:
    """PLANTED WEAKNESS ``trust_population_answers``: whatever parses is believed —
    any Content-Type, any size, any truthy ``match``, extra results ignored."""
    if resp.status != 200:
        raise IdentityUnavailable(f"population service answered {resp.status}")
    try:
        results = orjson.loads(resp.body)["results"]
        return [bool(result.get("match")) for result in results][:expected] + [False] * (expected - len(results))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise IdentityUnavailable("population service sent an unreadable verify response") from None
