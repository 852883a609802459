"""HTTP handlers of the document axis.

Authorization in one sentence: a token names one agency; an agency sends as itself
only, pulls and acknowledges only its own deliveries, sends receipts only for
documents addressed to it, and reads only documents it sent or received — anything
else it asks about answers 404, as if the document did not exist.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from cryptography import x509
from starlette.requests import Request
from starlette.responses import Response

from kernel.credentials import derive_password
from kernel.edxml import EdxmlError, parse_and_verify
from mocks.axis.directory import Agency, AgencyDirectory, AgencyStatus
from mocks.axis.inbox import DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT
from mocks.axis.receipts import ReceiptCode, ReceiptRuleError
from mocks.axis.records import (
    AcceptedDocument,
    InboxEntry,
    MessageIdConflict,
    NewDocument,
    Receipt,
    StoredDocument,
    document_id_for,
)
from mocks.axis.schemas import ReceiptRequest, TokenRequest
from mocks.axis.store import AxisStore
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import json_response, read_body, read_json
from mocks.core.settings import ServiceSettings
from mocks.core.tokens import TokenIssuer, bearer_claims

__all__ = [
    "AxisContext",
    "accept_package",
    "ack_delivery",
    "check_recipient",
    "enter_as",
    "get_document",
    "issue_token",
    "list_agencies",
    "list_receipts",
    "pull_inbox",
    "readable_document",
    "record_receipt",
    "send_document",
    "send_receipt",
]

_XML_TYPES = frozenset({"application/xml", "text/xml"})
_ROLE = "agency"
_RETRY_AFTER_S = "30"


@dataclass(frozen=True, slots=True)
class AxisContext:
    """Everything the handlers share, kept on ``app.state.axis``."""

    settings: ServiceSettings
    directory: AgencyDirectory
    store: AxisStore
    trusted_ca: x509.Certificate
    issuer: TokenIssuer
    visibility_s: float
    lossy_one_in: int

    def weak(self, name: str) -> bool:
        """Whether planted weakness ``name`` is enabled (security drills only)."""
        return name in self.settings.vulnerable


def _ctx(request: Request) -> AxisContext:
    return request.app.state.axis


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _not_connected(agency: Agency) -> ApiError:
    return ApiError(
        503,
        "province_not_connected",
        f"province {agency.province_code} is not yet connected to the document axis",
        None,
        {"Retry-After": _RETRY_AFTER_S},
    )


async def _scope(request: Request, agency: Agency) -> None:
    """Apply agency-scoped faults and the readiness profile for ``agency``."""
    await enter_scope(request, province=agency.province_code, agency=agency.code)
    if agency.province_code and not request.app.state.readiness.province(agency.province_code).axis_connected:
        raise _not_connected(agency)


async def _caller(request: Request) -> Agency:
    """The open agency named by the request's bearer token (401/403 otherwise)."""
    ctx = _ctx(request)
    claims = bearer_claims(request, ctx.issuer)
    agency = ctx.directory.get(str(claims.get("sub", "")))
    if agency is None or claims.get("role") != _ROLE:
        raise ApiError(401, "invalid_token", "token does not name an agency of the directory", "Authorization")
    return await enter_as(request, agency)


async def enter_as(request: Request, agency: Agency, field: str | None = None) -> Agency:
    """Admit an authenticated ``agency``: refused when closed (403), then its faults and
    readiness apply (every face, once the caller is known)."""
    if not agency.is_open:
        raise ApiError(403, "agency_closed", f"agency {agency.code} is closed: {agency.closed_reason}", field)
    await _scope(request, agency)
    return agency


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(422, "invalid_field", f"{name} must be a whole number between {low} and {high}", name)
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(422, "invalid_field", f"{name} must be between {low} and {high}, got {value}", name)
    return value


def _reject_unknown_query(request: Request, allowed: frozenset[str]) -> None:
    for key in request.query_params:
        if key not in allowed:
            raise ApiError(422, "unknown_field", f"unknown query parameter {key!r}", key)


# --- auth and directory --------------------------------------------------------------


async def issue_token(request: Request) -> Response:
    """``POST /auth/token``: client credentials of an agency system."""
    ctx = _ctx(request)
    body = await read_json(request, TokenRequest)
    expected = derive_password(ctx.settings.dry_run_secret, body.agency_code)
    secret_ok = hmac.compare_digest(body.client_secret.encode(), expected.encode())
    agency = ctx.directory.get(body.agency_code)
    if agency is None or not secret_ok:
        # One answer for unknown agency and wrong secret: the directory is public, but
        # sign-in must not become an oracle for which secrets are right.
        raise ApiError(401, "invalid_credentials", "unknown agency code or wrong client secret", "client_secret")
    if not agency.is_open:
        raise ApiError(403, "agency_closed", f"agency {agency.code} is closed: {agency.closed_reason}", "agency_code")
    await _scope(request, agency)
    token, ttl = ctx.issuer.issue(agency.code, _ROLE)
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": ttl})


async def list_agencies(request: Request) -> Response:
    """``GET /agencies?province=&status=&limit=&cursor=``: the public agency directory."""
    _reject_unknown_query(request, frozenset({"province", "status", "limit", "cursor"}))
    province = request.query_params.get("province") or None
    if province is not None and not (len(province) == 2 and province.isascii() and province.isdigit()):
        raise ApiError(422, "invalid_field", "province must be a 2-digit province code", "province")
    status_raw = request.query_params.get("status") or None
    try:
        status = AgencyStatus(status_raw) if status_raw else None
    except ValueError:
        raise ApiError(422, "invalid_field", "status must be 'open' or 'closed'", "status") from None
    limit = _query_int(request, "limit", 100, 1, 1000)
    cursor = _query_int(request, "cursor", 0, 0, 10**9)
    page = _ctx(request).directory.list(province=province, status=status, limit=limit, cursor=cursor)
    return json_response({"agencies": [a.to_json() for a in page.agencies], "next_cursor": page.next_cursor})


# --- documents -----------------------------------------------------------------------


def _lossy_drop(ctx: AxisContext, message_id: str) -> bool:
    """PLANTED DEFECT ``lossy_axis``: drop 1 in ``lossy_one_in`` documents, by message id."""
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % ctx.lossy_one_in == 0


def _check_recipients(ctx: AxisContext, recipients: list[str]) -> tuple[str, ...]:
    unique: dict[str, None] = {}
    for i, code in enumerate(recipients):
        field = f"MessageHeader.To[{i}].OrganId"
        agency = ctx.directory.get(code)
        if agency is None:
            raise ApiError(422, "unknown_recipient", f"recipient {code} is not registered on the axis", field)
        if not agency.is_open:
            raise ApiError(422, "recipient_closed", f"recipient {code} is closed: {agency.closed_reason}", field)
        unique[code] = None
    return tuple(unique)


async def send_document(request: Request) -> Response:
    """``POST /documents``: accept a signed edXML package (201, or 200 for a duplicate)."""
    ctx = _ctx(request)
    sender = await _caller(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _XML_TYPES:
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/xml or text/xml", "Content-Type")
    body = await read_body(request)
    accepted = await accept_package(ctx, sender, body)
    return json_response(
        {
            "document_id": accepted.document_id,
            "message_id": accepted.message_id,
            "recipients": list(accepted.recipients),
            "accepted_at": _iso(accepted.accepted_at),
            "duplicate": accepted.duplicate,
        },
        status=200 if accepted.duplicate else 201,
    )


async def accept_package(
    ctx: AxisContext, sender: Agency, body: bytes, *, business_type: int | None = None, business_field: str = ""
) -> AcceptedDocument:
    """Verify a signed package sent by ``sender`` and store it (every face's send).

    The rules of the table in ``mocks/axis/README.md``, in order; ``business_type``, when
    given, must be the package's ``BussinessDocType`` (an error naming ``business_field``).
    A duplicate answers the original with ``duplicate=True``.
    """
    try:
        verified = parse_and_verify(
            body,
            trusted_ca=ctx.trusted_ca,
            max_bytes=ctx.settings.max_body_bytes,
            verify_signature=not ctx.weak("signature_not_verified"),  # PLANTED WEAKNESS when set
            allow_entities=ctx.weak("xxe_enabled"),  # PLANTED WEAKNESS when set
        )
    except EdxmlError as exc:
        raise ApiError(exc.http_status, exc.code, exc.message, exc.field) from None
    envelope = verified.envelope
    if business_type is not None and envelope.business_type != business_type:
        raise ApiError(
            422,
            "business_type_mismatch",
            f"the package's BussinessDocType is {envelope.business_type}, not {business_type}",
            business_field,
        )
    if envelope.sender_code != sender.code:
        raise ApiError(
            403,
            "sender_mismatch",
            f"the package is sent by {envelope.sender_code}, but the token belongs to {sender.code}",
            "MessageHeader.From.OrganId",
        )
    recipients = _check_recipients(ctx, envelope.recipients)
    if ctx.weak("lossy_axis") and _lossy_drop(ctx, envelope.message_id):
        # PLANTED DEFECT: acknowledge without storing, for the lossy-axis reconciliation drill.
        document_id = document_id_for(sender.code, envelope.message_id)
        return AcceptedDocument(document_id, envelope.message_id, recipients, ctx.store.now(), False)
    try:
        return await ctx.store.accept_document_async(
            NewDocument(
                sender_code=sender.code,
                message_id=envelope.message_id,
                digest=verified.digest,
                subject=envelope.subject,
                priority=envelope.priority,
                recipients=recipients,
                package=body,
            )
        )
    except MessageIdConflict:
        raise ApiError(
            409,
            "message_id_conflict",
            f"message id {envelope.message_id!r} was already used by {sender.code} for a different package",
            "MessageHeader.DocumentId",
        ) from None


def _no_such_document(document_id: str, field: str = "document_id") -> ApiError:
    return ApiError(404, "unknown_document", f"no document {document_id!r} visible to this agency", field)


def readable_document(ctx: AxisContext, caller: Agency, document_id: str, field: str = "document_id") -> StoredDocument:
    """The document if ``caller`` may read it (its sender or a recipient); 404 otherwise."""
    doc = ctx.store.get_document(document_id)
    if doc is None:
        raise _no_such_document(document_id, field)
    is_party = caller.code == doc.sender_code or caller.code in doc.recipient_status
    if not is_party and not ctx.weak("axis_bola"):  # axis_bola: PLANTED WEAKNESS, anyone reads
        raise _no_such_document(document_id, field)
    return doc


async def get_document(request: Request) -> Response:
    """``GET /documents/{document_id}``: the sender and the recipients only."""
    ctx = _ctx(request)
    caller = await _caller(request)
    doc = readable_document(ctx, caller, request.path_params["document_id"])
    return json_response(
        {
            "document_id": doc.document_id,
            "message_id": doc.message_id,
            "sender_code": doc.sender_code,
            "subject": doc.subject,
            "priority": doc.priority,
            "recipients": [{"code": r, "last_status": doc.recipient_status[r]} for r in doc.recipients],
            "accepted_at": _iso(doc.accepted_at),
            "digest": doc.digest,
            "package_b64": base64.b64encode(doc.package).decode(),
        }
    )


# --- receipts ------------------------------------------------------------------------


def _receipt_json(r: Receipt) -> dict[str, object]:
    return {
        "receipt_id": r.receipt_id,
        "document_id": r.document_id,
        "from_code": r.from_code,
        "status_code": r.status_code,
        "note": r.note,
        "created_at": _iso(r.created_at),
    }


async def send_receipt(request: Request) -> Response:
    """``POST /documents/{document_id}/receipts``: a recipient reports a status (201; 200 repeat)."""
    ctx = _ctx(request)
    caller = await _caller(request)
    document_id = request.path_params["document_id"]
    check_recipient(ctx, caller, document_id)
    body = await read_json(request, ReceiptRequest)
    receipt = await record_receipt(ctx, caller, document_id, body.status_code, body.note)
    return json_response(
        {**_receipt_json(receipt), "duplicate": receipt.duplicate}, status=200 if receipt.duplicate else 201
    )


def check_recipient(ctx: AxisContext, caller: Agency, document_id: str, field: str = "document_id") -> None:
    """Only a recipient may send a receipt: 404 unless a party, 403 for the sender."""
    parties = ctx.store.parties(document_id)
    if parties is None or (caller.code != parties[0] and caller.code not in parties[1]):
        raise _no_such_document(document_id, field)
    if caller.code not in parties[1]:
        raise ApiError(403, "not_a_recipient", "only a recipient of the document may send receipts", field)


async def record_receipt(
    ctx: AxisContext, caller: Agency, document_id: str, code: ReceiptCode, note: str, field: str = "status_code"
) -> Receipt:
    """Store a receipt of recipient ``caller`` (after :func:`check_recipient`); 409 out of order."""
    try:
        return await ctx.store.add_receipt_async(document_id, caller.code, code, note)
    except ReceiptRuleError as exc:
        raise ApiError(409, "illegal_transition", str(exc), field) from None


async def list_receipts(request: Request) -> Response:
    """``GET /documents/{document_id}/receipts``: the sender sees all, a recipient its own."""
    ctx = _ctx(request)
    caller = await _caller(request)
    document_id = request.path_params["document_id"]
    parties = ctx.store.parties(document_id)
    if parties is None or (caller.code != parties[0] and caller.code not in parties[1]):
        raise _no_such_document(document_id)
    receipts = ctx.store.receipts(document_id)
    if caller.code != parties[0]:
        receipts = [r for r in receipts if r.from_code == caller.code]
    return json_response({"document_id": document_id, "receipts": [_receipt_json(r) for r in receipts]})


# --- inbox ---------------------------------------------------------------------------


def _entry_json(e: InboxEntry) -> dict[str, object]:
    return {
        "delivery_id": e.delivery_id,
        "kind": e.kind,
        "document_id": e.document_id,
        "message_id": e.message_id,
        "sender_code": e.sender_code,
        "subject": e.subject,
        "priority": e.priority,
        "package_b64": base64.b64encode(e.package).decode() if e.package is not None else None,
        "receipt": _receipt_json(e.receipt) if e.receipt is not None else None,
        "delivered_at": _iso(e.delivered_at),
        "attempt": e.attempt,
    }


async def pull_inbox(request: Request) -> Response:
    """``GET /inbox?cursor=&limit=``: lease and return the caller's next deliveries."""
    ctx = _ctx(request)
    caller = await _caller(request)
    _reject_unknown_query(request, frozenset({"cursor", "limit"}))
    cursor = _query_int(request, "cursor", 0, 0, 2**62)
    limit = _query_int(request, "limit", DEFAULT_PULL_LIMIT, 1, MAX_PULL_LIMIT)
    page = await ctx.store.pull_async(caller.code, cursor, limit, ctx.visibility_s)
    return json_response(
        {
            "deliveries": [_entry_json(e) for e in page.entries],
            "next_cursor": page.next_cursor,
            "visibility_timeout_s": ctx.visibility_s,
        }
    )


async def ack_delivery(request: Request) -> Response:
    """``POST /inbox/{delivery_id}/ack``: acknowledge one of the caller's deliveries (idempotent)."""
    ctx = _ctx(request)
    caller = await _caller(request)
    raw = request.path_params["delivery_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ApiError(404, "unknown_delivery", f"no delivery {raw!r} in this agency's inbox", "delivery_id")
    result = await ctx.store.ack_async(caller.code, int(raw))
    if result is None:
        raise ApiError(404, "unknown_delivery", f"no delivery {raw!r} in this agency's inbox", "delivery_id")
    newly, acked_at = result
    return json_response(
        {"delivery_id": int(raw), "acked": True, "acked_at": _iso(acked_at), "already_acked": not newly}
    )
