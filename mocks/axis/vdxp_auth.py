"""The SDK face's signed requests and its error form (``/vdxp/*``).

Two ways to sign, both keyed by the system's secret (the agency's native client secret),
both hex HMAC-SHA256 in ``XroadVnpt-hash-header`` (64 hex digits, either case; names in
:mod:`kernel.national.vdxp`):

* **The SDK jar's** (``SDKVXP-2.0.1``, observed on the wire): the parameters travel as
  ``XroadVnpt-<name>`` headers (``systemid``, ``timestamp``, the JSON header's fields,
  ``Content-Type`` as ``XroadVnpt-Content-Type``, ``hash-file`` for a document), and
  ``XroadVnpt-sign-header`` holds them as one JSON object — the signed text. Every
  ``XroadVnpt-`` header sent must be in it with the same value, the request's parameters
  are read from it (a JSON operation's body must then be empty or ``{}``, even with a
  ``hash-file``: it would be ignored — 400 ``unsigned_body``), and a document's body must
  match the signed ``XroadVnpt-hash-file`` (SHA-256; the jar's upload adds a trailing
  CRLF, which is not part of the file).
* **SignatureGenerator.java's** (reconstructed from that one public caller, not
  confirmed): ``XroadVnpt-systemid`` and ``XroadVnpt-timestamp`` headers, the HMAC over
  ``systemid + timestamp + Content-Type + body``, the parameters in the JSON body.

Refused, each in the SDK's error form naming the header:

* a header missing or malformed (``XroadVnpt-hash-header`` not 64 hex digits, say) —
  400 ``missing_header`` / ``invalid_header``;
* a timestamp further than :data:`~kernel.national.vdxp.MAX_CLOCK_SKEW_S` from the
  server's clock — 401 ``stale_timestamp``;
* an unknown system, a wrong signature, a header that differs from its signed value, a
  body that differs from its signed hash — 401 ``invalid_signature`` (one answer for an
  unknown system and a wrong key: the directory is public, the answer must not tell
  which system ids exist);
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
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kernel.credentials import derive_password
from kernel.national.vdxp import (
    HASH_FILE_HEADER,
    HASH_HEADER,
    HEADER_PREFIX,
    MAX_CLOCK_SKEW_S,
    SIGN_HEADER,
    SIGN_KEYS_HEADER,
    SYSTEM_ID_HEADER,
    TIMESTAMP_HEADER,
    VERSION_HEADER,
    parse_timestamp,
    signature,
)
from mocks.axis.directory import Agency, AgencyDirectory
from mocks.core.endpoint import Handler
from mocks.core.errors import ApiError

__all__ = ["SIGNATURE_PATTERN", "SIGN_HEADER_PATTERN", "TIMESTAMP_PATTERN", "ReplayGuard",
           "SignedRequest", "authenticate", "jar_hex_forms", "sdk_error", "sdk_face", "secrets_of"]

_MAX_SYSTEM_ID = 64
_MAX_SIGN_HEADER = 4096
_PREFIX_LOWER = HEADER_PREFIX.lower()
#: XroadVnpt- headers that are not parameters (the signature's own, the SDK's version).
_UNSIGNED = frozenset(h.lower() for h in (SIGN_HEADER, SIGN_KEYS_HEADER, HASH_HEADER, VERSION_HEADER))
_SIGNED_CONTENT_TYPE = f"{_PREFIX_LOWER}content-type"


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


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Who signed a request, its body, and — under the SDK jar's scheme — the signed
    ``XroadVnpt-*`` parameters by name (``docId``, ``status``...; ``None`` otherwise)."""

    agency: Agency
    body: bytes
    params: dict[str, str] | None = None


#: The timestamp's form, as the OpenAPI document states it: ddMMyyyy'T'HHmmss+SSSS
#: (milliseconds 0000-0999). A stamp of this form that no calendar has (31 April) is 422.
TIMESTAMP_PATTERN = r"^(0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])[1-9][0-9]{3}T([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]\+0[0-9]{3}$"
_TIMESTAMP_FORM = re.compile(TIMESTAMP_PATTERN)
#: The sign header's form: one JSON object (its content is checked by the handler).
SIGN_HEADER_PATTERN = r"^\{.*\}$"
#: The signature's form: hex HMAC-SHA256, 64 digits, either case (compared case-blind).
SIGNATURE_PATTERN = r"^[0-9a-fA-F]{64}$"
_SIGNATURE_FORM = re.compile(SIGNATURE_PATTERN)


def _presented_signature(request: Request) -> str:
    """``XroadVnpt-hash-header``; a value that cannot be a signature is malformed (400),
    not a wrong signature (401) — what it is does not depend on the system or its key."""
    presented = _header(request, HASH_HEADER, 128)
    if _SIGNATURE_FORM.fullmatch(presented) is None:
        raise ApiError(400, "invalid_header", f"header {HASH_HEADER} must be 64 hex digits (HMAC-SHA256), "
                       f"got {presented!r:.40}", HASH_HEADER)
    return presented


def _fresh(stamp: str, replay: ReplayGuard, now: float) -> float:
    well_formed = _TIMESTAMP_FORM.match(stamp) is not None
    try:
        signed_at = parse_timestamp(stamp) if well_formed else None
    except ValueError as exc:
        raise ApiError(422, "invalid_header", f"header {TIMESTAMP_HEADER}: {exc}, got {stamp!r:.40}",
                       TIMESTAMP_HEADER) from None
    if signed_at is None:
        raise ApiError(400, "invalid_header", f"header {TIMESTAMP_HEADER}: expected ddMMyyyyTHHmmss+SSSS "
                       f"(SSSS: milliseconds 0000-0999), got {stamp!r:.40}", TIMESTAMP_HEADER)
    if abs(now - signed_at) > replay.skew_s:
        raise ApiError(401, "stale_timestamp",
                       f"{TIMESTAMP_HEADER} is {now - signed_at:+.0f} s from the axis clock "
                       f"(at most ±{replay.skew_s:g} s); sign the request again", TIMESTAMP_HEADER)
    return signed_at


def _check_signature(presented: str, expected: str, agency: Agency | None, how: str) -> None:
    if agency is None or not hmac.compare_digest(presented.lower().encode(), expected.encode()):
        raise ApiError(401, "invalid_signature",
                       f"unknown system id or wrong signature (HMAC-SHA256 of {how}, keyed by the system's secret)",
                       HASH_HEADER)


def _first_time(replay: ReplayGuard, expected: str, signed_at: float, now: float) -> None:
    if not replay.first_time(expected, signed_at, now):
        raise ApiError(401, "replayed_request", "this signed request was already received; sign it again "
                       "with a new timestamp", TIMESTAMP_HEADER)


def authenticate(
    request: Request, body: bytes, directory: AgencyDirectory, secret_of: Callable[[str], str], replay: ReplayGuard,
    clock: Callable[[], float] = time.time,
) -> SignedRequest:
    """The agency whose system signed this request, by either scheme (module docstring)."""
    if SIGN_HEADER.lower() in request.headers:
        return _authenticate_sdk(request, body, directory, secret_of, replay, clock)
    system_id = _header(request, SYSTEM_ID_HEADER, _MAX_SYSTEM_ID)
    stamp = _header(request, TIMESTAMP_HEADER, 32)
    presented = _presented_signature(request)
    now = clock()
    signed_at = _fresh(stamp, replay, now)
    agency = directory.get(system_id)
    content_type = request.headers.get("content-type", "")
    expected = signature(secret_of(system_id), system_id, stamp, content_type, body)
    _check_signature(presented, expected, agency, "systemid + timestamp + Content-Type + body")
    _first_time(replay, expected, signed_at, now)
    assert agency is not None  # _check_signature refused an unknown system  # nosec B101
    return SignedRequest(agency, body)


def jar_hex_forms(digest: bytes) -> tuple[str, str]:
    """A digest in hex, and as the SDK jar writes ``XroadVnpt-hash-file``: each byte without
    its leading zero (``0x0b`` → ``b``; observed on the wire, a hex loop without padding)."""
    return digest.hex(), "".join(f"{b:x}" for b in digest)


def _raw_header(request: Request, name: str) -> bytes | None:
    """A header's bytes as sent (the signed text must be hashed as it arrived)."""
    key = name.lower().encode()
    for k, v in request.scope["headers"]:
        if k == key:
            return v
    return None


def _authenticate_sdk(
    request: Request, body: bytes, directory: AgencyDirectory, secret_of: Callable[[str], str], replay: ReplayGuard,
    clock: Callable[[], float],
) -> SignedRequest:
    raw = _raw_header(request, SIGN_HEADER) or b""
    if len(raw) > _MAX_SIGN_HEADER:
        raise ApiError(400, "invalid_header", f"header {SIGN_HEADER} passes {_MAX_SIGN_HEADER} bytes", SIGN_HEADER)
    # The OpenAPI document states the header's form ({...}, SIGN_HEADER_PATTERN): a value of
    # another form is a 400; one of that form whose content is wrong, a 422 naming the rule.
    well_formed = raw.startswith(b"{") and raw.endswith(b"}")
    try:
        signed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        signed = None
    if not isinstance(signed, dict) or not all(
            isinstance(k, str) and k.startswith(HEADER_PREFIX) and isinstance(v, str) for k, v in signed.items()):
        raise ApiError(422 if well_formed else 400, "invalid_header", f"header {SIGN_HEADER} must be a JSON object of "
                       f'"{HEADER_PREFIX}<name>": "<value>" strings', SIGN_HEADER)
    presented = _presented_signature(request)
    for name in (SYSTEM_ID_HEADER, TIMESTAMP_HEADER):
        if not signed.get(name):
            raise ApiError(422, "missing_header", f"{name} must be signed (listed in {SIGN_HEADER})", name)
    # Every XroadVnpt- header sent is signed, with the value sent: nothing rides along unsigned.
    for key, value in request.headers.items():
        if key.startswith(_PREFIX_LOWER) and key not in _UNSIGNED:
            signed_name = next((k for k in signed if k.lower() == key), None)
            if signed_name is None or signed[signed_name] != value:
                name = signed_name or HEADER_PREFIX + key[len(_PREFIX_LOWER):]
                raise ApiError(401, "invalid_signature", f"header {name} is not the value signed in {SIGN_HEADER}",
                               name)
    for signed_name, value in signed.items():
        sent = (request.headers.get("content-type") if signed_name.lower() == _SIGNED_CONTENT_TYPE
                else request.headers.get(signed_name))
        if sent != value:
            raise ApiError(401, "invalid_signature", f"{signed_name} is signed but not sent with that value",
                           signed_name)
    now = clock()
    system_id = signed[SYSTEM_ID_HEADER]
    signed_at = _fresh(signed[TIMESTAMP_HEADER], replay, now)
    agency = directory.get(system_id)
    expected = hmac.new(secret_of(system_id).encode(), raw, hashlib.sha256).hexdigest()
    _check_signature(presented, expected, agency, f"the text of {SIGN_HEADER}")
    params = {k[len(HEADER_PREFIX):]: v for k, v in signed.items()
              if k not in (SYSTEM_ID_HEADER, TIMESTAMP_HEADER) and k.lower() != _SIGNED_CONTENT_TYPE}
    file_hash = params.pop(HASH_FILE_HEADER[len(HEADER_PREFIX):], None)
    if file_hash is not None:
        # The jar's upload ends the file with a CRLF that is not part of it.
        file = body[:-2] if body.endswith(b"\r\n") else body
        if file_hash.lower() not in jar_hex_forms(hashlib.sha256(file).digest()):
            raise ApiError(401, "invalid_signature", f"the body is not the file signed in {HASH_FILE_HEADER}",
                           HASH_FILE_HEADER)
        body = file
    elif body.strip() not in (b"", b"{}"):
        raise ApiError(400, "unsigned_body", f"under {SIGN_HEADER} the parameters travel in signed "
                       f"{HEADER_PREFIX}<name> headers; a body needs {HASH_FILE_HEADER}", SIGN_HEADER)
    _first_time(replay, expected, signed_at, now)
    assert agency is not None  # _check_signature refused an unknown system  # nosec B101
    return SignedRequest(agency, body, params)


def sdk_error(exc: ApiError) -> Response:
    """``exc`` in the SDK's error form (see the module docstring)."""
    # Some messages already open with their field (mocks.core.http.validation_error's):
    # the field is named once.
    named = not exc.field or exc.message.startswith(f"{exc.field}: ")
    desc = exc.message if named else f"{exc.field}: {exc.message}"
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
