"""HTTP handlers of the document axis.

Authorization in one sentence: a token names one agency; an agency sends as itself
only, pulls and acknowledges only its own deliveries, sends receipts only for
documents addressed to it, and reads only documents it sent or received — anything
else it asks about answers 404, as if the document did not exist.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac

from starlette.requests import Request
from starlette.responses import Response

from kernel.credentials import derive_password
from mocks.axis.directory import Agency, AgencyStatus
from mocks.axis.inbox import DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT
from mocks.axis.records import InboxEntry, Receipt
from mocks.axis.schemas import ReceiptRequest, TokenRequest
from mocks.axis.service import (
    AxisContext,
    accept_package,
    agency_scope,
    check_recipient,
    enter_as,
    no_such_document,
    readable_document,
    record_receipt,
)
from mocks.core.errors import ApiError
from mocks.core.http import json_response, read_body, read_json
from mocks.core.tokens import bearer_claims

__all__ = [
    "ack_delivery",
    "get_document",
    "issue_token",
    "list_agencies",
    "list_receipts",
    "pull_inbox",
    "send_document",
    "send_receipt",
]

_XML_TYPES = frozenset({"application/xml", "text/xml"})
_ROLE = "agency"
_RETRY_AFTER_S = "30"


def _ctx(request: Request) -> AxisContext:
    return request.app.state.axis


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _caller(request: Request) -> Agency:
    """The open agency named by the request's bearer token (401/403 otherwise)."""
    ctx = _ctx(request)
    claims = bearer_claims(request, ctx.issuer)
    agency = ctx.directory.get(str(claims.get("sub", "")))
    if agency is None or claims.get("role") != _ROLE:
        raise ApiError(401, "invalid_token", "token does not name an agency of the directory", "Authorization")
    return await enter_as(request, agency)


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
    await agency_scope(request, agency)
    token, ttl = ctx.issuer.issue(agency.code, _ROLE)
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": ttl})


async def list_agencies(request: Request) -> Response:
    """``GET /agencies?province=&status=&limit=&cursor=``: the public agency directory."""
    _reject_unknown_query(request, frozenset({"province", "status", "limit", "cursor"}))
    province = request.query_params.get("province")
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


async def list_receipts(request: Request) -> Response:
    """``GET /documents/{document_id}/receipts``: the sender sees all, a recipient its own."""
    ctx = _ctx(request)
    caller = await _caller(request)
    document_id = request.path_params["document_id"]
    parties = ctx.store.parties(document_id)
    if parties is None or (caller.code != parties[0] and caller.code not in parties[1]):
        raise no_such_document(document_id)
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
