"""The SDK face's signed requests and its error form (``/vdxp/*``).

Every request carries three headers (names in :mod:`kernel.national.vdxp`, ours in the
SDK's ``XroadVnpt-`` style): the system id (an agency code), a timestamp and the
signature — lowercase hex HMAC-SHA256, keyed by the system's secret (the agency's
native client secret), over ``systemid + timestamp + Content-Type + body``. Refused, each
in the SDK's error form naming the header:

* a header missing or malformed — 400 ``missing_header`` / ``invalid_header``;
* a timestamp further than :data:`~kernel.national.vdxp.MAX_CLOCK_SKEW_S` from the
  server's clock — 401 ``stale_timestamp``;
* an unknown system or a wrong signature — one 401 ``invalid_signature`` for both (the
  directory is public: the answer must not tell which system ids exist);
* a signature already seen within the skew window — 401 ``replayed_request``: a
  captured request cannot be played again, and a client that retries signs again with
  a fresh timestamp. Only requests whose signature is valid enter the replay memory, so
  unsigned junk cannot fill it. The memory is this process's (the mock is one process).

The error form (ours, in the style of the SDK's ``status``/``ErrorCode``/``ErrorDesc``
answer keys): ``{"status": "FAIL", "ErrorCode": "<rule>", "ErrorDesc": "<field>: <why>",
"ErrorField": "<field>"}``, with the HTTP status the native face gives the same rule
(always 4xx, or 503 with ``Retry-After`` for a province not yet connected).
"""

from __future__ import annotations

import collections
import functools
import hmac
import time
from collections.abc import Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kernel.credentials import derive_password
from kernel.national.vdxp import (
    HASH_HEADER,
    MAX_CLOCK_SKEW_S,
    SYSTEM_ID_HEADER,
    TIMESTAMP_HEADER,
    parse_timestamp,
    signature,
)
from mocks.axis.directory import Agency, AgencyDirectory
from mocks.core.endpoint import Handler
from mocks.core.errors import ApiError

__all__ = ["ReplayGuard", "authenticate", "sdk_error", "sdk_face", "secrets_of"]

_MAX_SYSTEM_ID = 64
_SIGNATURE_LENGTH = 64


class ReplayGuard:
    """Signatures seen within the clock-skew window (the replay memory of one process).

    Each entry lives until its timestamp leaves the window (``timestamp + skew``); by
    then the timestamp alone refuses the request. Entries are dropped in arrival order,
    so memory stays near ``2 × skew × request rate``.
    """

    def __init__(self, skew_s: float = MAX_CLOCK_SKEW_S):
        self.skew_s = skew_s
        self._expiry: dict[str, float] = {}
        self._order: collections.deque[str] = collections.deque()

    def __len__(self) -> int:
        return len(self._expiry)

    def first_time(self, sig: str, timestamp: float, now: float) -> bool:
        """Remember ``sig``; False when it was already seen and has not expired."""
        expiry, order = self._expiry, self._order
        while order:
            oldest = order[0]
            if expiry.get(oldest, 0.0) >= now:
                break
            order.popleft()
            expiry.pop(oldest, None)
        if sig in expiry:
            return False
        expiry[sig] = timestamp + self.skew_s
        order.append(sig)
        return True


def _header(request: Request, name: str, max_length: int) -> str:
    value = request.headers.get(name)
    if value is None or not value.strip():
        raise ApiError(400, "missing_header", f"header {name} is required", name)
    if len(value) > max_length or not value.isascii() or not value.isprintable():
        raise ApiError(400, "invalid_header", f"header {name} must be 1–{max_length} printable ASCII characters", name)
    return value


def secrets_of(dry_run_secret: str) -> Callable[[str], str]:
    """Each system's secret (its agency's native client secret), derived once per system."""
    return functools.lru_cache(maxsize=8192)(lambda system_id: derive_password(dry_run_secret, system_id))


def authenticate(
    request: Request, body: bytes, directory: AgencyDirectory, secret_of: Callable[[str], str], replay: ReplayGuard,
    clock: Callable[[], float] = time.time,
) -> Agency:
    """The agency whose system signed this request (rules in the module docstring)."""
    system_id = _header(request, SYSTEM_ID_HEADER, _MAX_SYSTEM_ID)
    stamp = _header(request, TIMESTAMP_HEADER, 32)
    presented = _header(request, HASH_HEADER, 128)
    try:
        signed_at = parse_timestamp(stamp)
    except ValueError as exc:
        raise ApiError(400, "invalid_header", f"header {TIMESTAMP_HEADER}: {exc}, got {stamp!r:.40}",
                       TIMESTAMP_HEADER) from None
    now = clock()
    if abs(now - signed_at) > replay.skew_s:
        raise ApiError(401, "stale_timestamp",
                       f"{TIMESTAMP_HEADER} is {now - signed_at:+.0f} s from the axis clock "
                       f"(at most ±{replay.skew_s:g} s); sign the request again", TIMESTAMP_HEADER)
    agency = directory.get(system_id)
    content_type = request.headers.get("content-type", "")
    expected = signature(secret_of(system_id), system_id, stamp, content_type, body)
    if (agency is None or len(presented) != _SIGNATURE_LENGTH
            or not hmac.compare_digest(presented.lower().encode(), expected.encode())):
        raise ApiError(401, "invalid_signature",
                       "unknown system id or wrong signature (HMAC-SHA256 of systemid + timestamp + "
                       "Content-Type + body, keyed by the system's secret)", HASH_HEADER)
    if not replay.first_time(expected, signed_at, now):
        raise ApiError(401, "replayed_request", "this signed request was already received; sign it again "
                       "with a new timestamp", TIMESTAMP_HEADER)
    return agency


def sdk_error(exc: ApiError) -> Response:
    """``exc`` in the SDK's error form (see the module docstring)."""
    desc = f"{exc.field}: {exc.message}" if exc.field else exc.message
    body = orjson.dumps({"status": "FAIL", "ErrorCode": exc.code, "ErrorDesc": desc, "ErrorField": exc.field})
    return Response(body, status_code=exc.status, headers=exc.headers, media_type="application/json")


def sdk_face(handler: Handler) -> Handler:
    """Answer every refusal of ``handler`` in the SDK's error form instead of the native one."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return sdk_error(exc)

    return wrapped
