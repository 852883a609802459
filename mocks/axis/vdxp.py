"""The SDK face of the document axis: the agencies' VDXP calls under ``/vdxp/``.

Same store, rules, faults, readiness, metrics and ledger as the native face — every
handler here authenticates (``mocks.axis.vdxp_auth``), then calls the service layer the
native face calls (``mocks.axis.service``: ``accept_package``, ``readable_document``,
``check_recipient``, ``record_receipt``; the store's pull and ack). What differs is the
wire shape:

=================================  ===============================================
``POST /vdxp/sendEdoc``            body: the signed edXML package; the JSON header's
                                   fields as ``XroadVnpt-from``, ``-servicetype``,
                                   ``-messagetype`` headers (as the SDK sends them)
``POST /vdxp/getReceivedEdocList`` lease the caller's next deliveries (knobsticks)
``POST /vdxp/getEdoc``             ``{"docId"}`` → the package, base64
``POST /vdxp/getSentEdocList``     ``{"docId"}`` → each recipient's status of a sent document
``POST /vdxp/updateStatus``        ``{"docId", "status"}``: a receipt code, or a delivery word
``POST /vdxp/getAgenciesList``     the agency directory
=================================  ===============================================

Answers: ``{"status": "OK", "ErrorCode": "0", "ErrorDesc": "", ...}``; refusals in the
SDK's error form (``mocks.axis.vdxp_auth``). Field choices and what is ours: the README.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from pydantic import BeforeValidator, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import Response

from kernel.national.vdxp import (
    DELIVERY_WORDS,
    HASH_HEADER,
    HEADER_PREFIX,
    MESSAGE_TYPES,
    RECEIPT_CODES,
    SIGN_HEADER,
    STATUS_WORDS,
    SYSTEM_ID_HEADER,
    TIMESTAMP_HEADER,
)
from mocks.axis.directory import Agency, AgencyDirectory, AgencyLevel
from mocks.axis.inbox import DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT
from mocks.axis.receipts import ReceiptCode
from mocks.axis.records import InboxEntry
from mocks.axis.service import (
    AxisContext,
    accept_package,
    check_recipient,
    enter_as,
    readable_document,
    record_receipt,
)
from mocks.axis.vdxp_auth import (
    SIGN_HEADER_PATTERN,
    SIGNATURE_PATTERN,
    TIMESTAMP_PATTERN,
    ReplayGuard,
    SignedRequest,
    authenticate,
    sdk_error,
    sdk_face,
    secrets_of,
)
from mocks.core.endpoint import Endpoint, Param
from mocks.core.errors import ApiError
from mocks.core.http import RequestModel, read_body, validation_error

__all__ = ["PREFIX", "VdxpState", "endpoints"]

PREFIX = "/vdxp"
FROM_HEADER = f"{HEADER_PREFIX}from"
SERVICE_TYPE_HEADER = f"{HEADER_PREFIX}servicetype"
MESSAGE_TYPE_HEADER = f"{HEADER_PREFIX}messagetype"
_PACKAGE_TYPES = frozenset({"application/xml", "text/xml", "application/octet-stream"})
_OK: dict[str, object] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
_RECEIPT_DESC = {
    "01": "arrived", "02": "refused", "03": "accepted", "04": "arrived, awaiting assignment",
    "05": "assigned, in progress", "06": "done", "13": "recall requested", "15": "recall/update agreed",
    "16": "recall/update refused",
}


class VdxpState:
    """What the face keeps besides the axis context: the replay memory, the directory answer."""

    def __init__(self, ctx: AxisContext, replay: ReplayGuard | None = None):
        self.ctx = ctx
        self.replay = replay or ReplayGuard()
        self.secret_of = secrets_of(ctx.settings.dry_run_secret)
        self.agencies_json = _agencies_json(ctx.directory)


# --- request bodies (the SDK's JSON header, plus what is marked ours) -----------------

_MAX_DIGITS = 19  # 2**62, the largest id we take, has 19 digits


def _whole_number(value: object) -> object:
    """A JSON integer, or a string of digits — the jar sends every parameter as a string.
    Never a boolean: pydantic's lax mode would read ``true`` as 1, and ``deliveryId: true``
    would acknowledge delivery 1."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("int_type", "Input should be a whole number (an integer, or a string of digits)")
    return value


#: An integer field of the face: strict (no booleans, no floats), numeric strings allowed.
WholeNumber = Annotated[int, BeforeValidator(_whole_number), Strict()]


class SdkRequest(RequestModel):
    """Every JSON body may carry ``requestId`` (ours): signatures cover the body, so two
    byte-identical requests signed in the same millisecond (by two processes of one
    system) would be one replay; a client that can send such pairs keeps them apart."""

    requestId: str | None = Field(default=None, min_length=1, max_length=64)  # noqa: N815


class ReceivedListRequest(SdkRequest):
    """``getReceivedEdocList``: the SDK sends ``servicetype`` and ``messagetype`` (``edoc``:
    documents only, ``status``: status messages only; ours: absent, both in one list)."""

    servicetype: Literal["eDoc", "status"] | None = None
    messagetype: Literal["edoc", "status"] | None = None
    limit: WholeNumber = Field(default=DEFAULT_PULL_LIMIT, ge=1, le=MAX_PULL_LIMIT)  # ours


class EdocRequest(SdkRequest):
    """``getEdoc``: ``docId`` (``filePath`` is where the SDK stores the file, ignored)."""

    docId: str = Field(min_length=1, max_length=64)  # noqa: N815 - the SDK's field name
    filePath: str | None = Field(default=None, max_length=500)  # noqa: N815


class SentListRequest(SdkRequest):
    """``getSentEdocList``: the SDK's example sends ``servicetype``, ``messagetype``, ``docId``."""

    docId: str = Field(min_length=1, max_length=64)  # noqa: N815
    servicetype: Literal["eDoc", "status"] = "eDoc"
    messagetype: Literal["edoc", "status"] = "edoc"


class UpdateStatusRequest(SdkRequest):
    """``updateStatus``: ``docId`` and ``status``; ``deliveryId`` and ``description`` are ours."""

    docId: str = Field(min_length=1, max_length=64)  # noqa: N815
    status: str = Field(min_length=1, max_length=16)
    deliveryId: WholeNumber | None = Field(default=None, ge=1, le=2**62)  # noqa: N815
    description: str = Field(default="", max_length=2000)


class AgenciesRequest(SdkRequest):
    """``getAgenciesList``: the SDK sends ``{}``; ``status`` is ours."""

    status: Literal["open", "closed"] | None = None


# --- plumbing -------------------------------------------------------------------------


def _state(request: Request) -> VdxpState:
    return request.app.state.vdxp


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ok(payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps({**_OK, **payload}), media_type="application/json")


async def _signed(request: Request) -> SignedRequest:
    """Read the body, check the signature, admit the caller (closed → 403, readiness, faults)."""
    state = _state(request)
    body = await read_body(request)
    signed = authenticate(request, body, state.ctx.directory, state.secret_of, state.replay)
    await enter_as(request, signed.agency, SYSTEM_ID_HEADER)
    return signed


def _json(request: Request, signed: SignedRequest, model: type[Any]) -> Any:
    """The operation's parameters: the signed ``XroadVnpt-*`` headers under the SDK jar's
    scheme, else the JSON body."""
    try:
        if signed.params is not None:
            # The parameters are the signed headers, so a body would be ignored: refused
            # instead, even when a signed XroadVnpt-hash-file vouches for it (files are sendEdoc's).
            if signed.body.strip() not in (b"", b"{}"):
                raise ApiError(400, "unsigned_body", f"under {SIGN_HEADER} this operation's parameters travel in "
                               f"signed {HEADER_PREFIX}<name> headers; its body must be empty or {{}}", SIGN_HEADER)
            return model.model_validate(signed.params)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json", "Content-Type")
        return model.model_validate_json(signed.body)
    except ValidationError as exc:
        raise validation_error(exc) from None


# --- operations -----------------------------------------------------------------------


async def send_edoc(request: Request) -> Response:
    """``sendEdoc(header, edxml)``: a signed QCVN 102 package, checked as ``POST /documents`` checks it."""
    signed = await _signed(request)
    sender, body = signed.agency, signed.body
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _PACKAGE_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "Content-Type must be application/xml, text/xml or application/octet-stream", "Content-Type")
    claimed = request.headers.get(FROM_HEADER)
    if not claimed:
        raise ApiError(400, "missing_header", f"header {FROM_HEADER} is required", FROM_HEADER)
    if claimed != sender.code:
        raise ApiError(403, "sender_mismatch", f"{FROM_HEADER} is {claimed!r:.40}, but the request is signed by "
                       f"system {sender.code}", FROM_HEADER)
    service_type = request.headers.get(SERVICE_TYPE_HEADER, "eDoc")
    if service_type == "status":
        raise ApiError(422, "unsupported_service_type", "status messages go through updateStatus on this axis",
                       SERVICE_TYPE_HEADER)
    if service_type != "eDoc":
        raise ApiError(422, "invalid_header", f"{SERVICE_TYPE_HEADER} must be eDoc or status", SERVICE_TYPE_HEADER)
    message_type = request.headers.get(MESSAGE_TYPE_HEADER, "edoc")
    if message_type not in MESSAGE_TYPES:
        raise ApiError(422, "invalid_header", f"{MESSAGE_TYPE_HEADER} must be one of {', '.join(MESSAGE_TYPES)}",
                       MESSAGE_TYPE_HEADER)
    accepted = await accept_package(_state(request).ctx, sender, body, business_type=MESSAGE_TYPES[message_type],
                                    business_field=MESSAGE_TYPE_HEADER)
    return _ok({"DocId": accepted.document_id, "messageId": accepted.message_id,
                "recipients": list(accepted.recipients), "acceptedAt": _iso(accepted.accepted_at),
                "duplicate": accepted.duplicate})


def _knobstick(entry: InboxEntry, to: str) -> dict[str, object]:
    receipt = entry.receipt
    return {
        "docId": entry.document_id,
        "serviceType": "status" if receipt is not None else "eDoc",
        "messageType": "status" if receipt is not None else "edoc",
        "from": entry.sender_code,
        "to": to,
        "status": receipt.status_code if receipt is not None else "processing",
        "status_desc": (receipt.note or _RECEIPT_DESC.get(receipt.status_code, "")) if receipt is not None
        else "delivered, waiting for updateStatus done",
        "created_time": _iso(receipt.created_at if receipt is not None else entry.delivered_at),
        "updated_time": _iso(entry.delivered_at),
        "deliveryId": entry.delivery_id,
        "attempt": entry.attempt,
        "messageId": entry.message_id,
        "subject": entry.subject,
        "priority": entry.priority,
    }


async def get_received_edoc_list(request: Request) -> Response:
    """``getReceivedEdocList``: lease the caller's next deliveries, as ``GET /inbox`` from the start."""
    signed = await _signed(request)
    caller = signed.agency
    query: ReceivedListRequest = _json(request, signed, ReceivedListRequest)
    ctx = _state(request).ctx
    # Cursor 0 every time: the SDK keeps no cursor, and from 0 a pull returns every
    # deliverable row (never handed out, or its lease expired) — at-least-once as natively.
    by_service = {"eDoc": "edoc", "status": "status", None: None}[query.servicetype]
    if query.messagetype is not None and by_service is not None and query.messagetype != by_service:
        raise ApiError(422, "invalid_field", f"messagetype {query.messagetype} contradicts servicetype "
                       f"{query.servicetype}", "messagetype")
    kind = {"edoc": "document", "status": "receipt", None: None}[query.messagetype or by_service]
    page = await ctx.store.pull_async(caller.code, 0, query.limit, ctx.visibility_s, kind)
    return _ok({"data": [_knobstick(e, caller.code) for e in page.entries], "visibilityTimeoutS": ctx.visibility_s})


async def get_edoc(request: Request) -> Response:
    """``getEdoc(docId)``: the package, base64 — its sender and recipients only."""
    signed = await _signed(request)
    caller = signed.agency
    query: EdocRequest = _json(request, signed, EdocRequest)
    doc = readable_document(_state(request).ctx, caller, query.docId, "docId")
    return _ok({"data": base64.b64encode(doc.package).decode(), "docId": doc.document_id,
                "messageId": doc.message_id, "from": doc.sender_code, "to": list(doc.recipients),
                "subject": doc.subject, "priority": doc.priority, "acceptedAt": _iso(doc.accepted_at),
                "digest": doc.digest})


async def get_sent_edoc_list(request: Request) -> Response:
    """``getSentEdocList``: each recipient's status of a document the caller sent."""
    signed = await _signed(request)
    caller = signed.agency
    query: SentListRequest = _json(request, signed, SentListRequest)
    ctx = _state(request).ctx
    doc = readable_document(ctx, caller, query.docId, "docId")
    if doc.sender_code != caller.code:
        raise ApiError(404, "unknown_document", f"no document {query.docId!r} sent by this agency", "docId")
    by_recipient: dict[str, list[dict[str, object]]] = {r: [] for r in doc.recipients}
    for r in ctx.store.receipts(doc.document_id):
        by_recipient.setdefault(r.from_code, []).append(
            {"receiptId": r.receipt_id, "status": r.status_code, "description": r.note, "time": _iso(r.created_at)})
    data = []
    for code in doc.recipients:
        history = by_recipient[code]
        last = doc.recipient_status.get(code)
        data.append({
            "serviceType": "eDoc", "messageType": "edoc", "senderDocId": doc.document_id,
            "receiverDocId": doc.document_id, "fromCode": doc.sender_code, "toCode": code, "title": doc.subject,
            "notation": doc.message_id, "sentTime": _iso(doc.accepted_at),
            "receivedTime": history[0]["time"] if history else None, "sendStatus": "done",
            "sendStatusDesc": "accepted by the axis", "receiveStatus": last,
            "receiveStatusDesc": _RECEIPT_DESC.get(last, "") if last else "not yet received",
            "receipts": history,
        })
    return _ok({"data": data})


async def update_status(request: Request) -> Response:
    """``updateStatus``: a QCVN 102 receipt (a code 01–16 the axis enforces, or a word for
    one), or a word about the delivery (``done`` acknowledges it)."""
    signed = await _signed(request)
    caller = signed.agency
    query: UpdateStatusRequest = _json(request, signed, UpdateStatusRequest)
    ctx = _state(request).ctx
    word = query.status
    if word in DELIVERY_WORDS:
        return await _delivery_status(ctx, caller, query)
    code = STATUS_WORDS.get(word, word)
    if code not in RECEIPT_CODES:
        allowed = ", ".join([*RECEIPT_CODES, *STATUS_WORDS, *DELIVERY_WORDS])
        raise ApiError(422, "invalid_status", f"status {word!r:.20} is not one this axis takes; allowed: {allowed}",
                       "status")
    check_recipient(ctx, caller, query.docId, "docId")
    receipt = await record_receipt(ctx, caller, query.docId, ReceiptCode(code), query.description, "status")
    return _ok({"docId": query.docId, "statusCode": receipt.status_code, "receiptId": receipt.receipt_id,
                "duplicate": receipt.duplicate})


async def _delivery_status(ctx: AxisContext, caller: Agency, query: UpdateStatusRequest) -> Response:
    if query.deliveryId is not None:
        if ctx.store.delivery_document(caller.code, query.deliveryId) != query.docId:
            raise ApiError(404, "unknown_delivery", f"no delivery {query.deliveryId} of document {query.docId!r:.70} "
                           "in this agency's inbox", "deliveryId")
        ids = [query.deliveryId]
    else:
        readable_document(ctx, caller, query.docId, "docId")  # 404 unless a party
        # Only what the caller was handed: a delivery it never saw (a status message that
        # arrived after its last list) stays pending and is listed next time.
        ids = ctx.store.handed_out_pending(caller.code, query.docId)
    acked: list[int] = []
    if query.status == "done":  # fail / processing: left pending, handed out again after the lease
        for delivery_id in ids:
            result = await ctx.store.ack_async(caller.code, delivery_id)
            if result is not None and result[0]:
                acked.append(delivery_id)
    return _ok({"docId": query.docId, "deliveries": ids, "acked": acked})


def _agencies_json(directory: AgencyDirectory) -> bytes:
    agencies = directory.list(limit=len(directory)).agencies
    province_agency = {a.province_code: a.code for a in agencies if a.level is AgencyLevel.PROVINCE}
    central = next((a.code for a in agencies if a.level is AgencyLevel.CENTRAL), None)

    def parent(a: Agency) -> str | None:
        if a.level is AgencyLevel.CENTRAL:
            return None
        return central if a.level is AgencyLevel.PROVINCE else province_agency.get(a.province_code)

    items = [{"id": a.code, "pid": parent(a), "code": a.code, "name": a.name, "mail": "", "oldCode": None,
              "code102": a.code, "status": a.status.value, "closedReason": a.closed_reason, "level": a.level.value,
              "provinceCode": a.province_code} for a in agencies]
    return orjson.dumps(items)


async def get_agencies_list(request: Request) -> Response:
    """``getAgenciesList``: the same directory as ``GET /agencies``, in one answer."""
    query: AgenciesRequest = _json(request, await _signed(request), AgenciesRequest)
    state = _state(request)
    if query.status is None:  # the whole directory: serialised once at start-up
        head = orjson.dumps(_OK)[:-1]
        return Response(head + b',"data":' + state.agencies_json + b"}", media_type="application/json")
    items = [a for a in orjson.loads(state.agencies_json) if a["status"] == query.status]
    return _ok({"data": items})


# --- declarations ---------------------------------------------------------------------

_AUTH_PARAMS = (
    Param(SYSTEM_ID_HEADER, "header", True, {"type": "string", "minLength": 1, "maxLength": 64},
          "the connected system's id (an agency code)"),
    Param(TIMESTAMP_HEADER, "header", True, {"type": "string", "pattern": TIMESTAMP_PATTERN},
          "ddMMyyyy'T'HHmmss+SSSS, Asia/Ho_Chi_Minh"),
    Param(HASH_HEADER, "header", True, {"type": "string", "pattern": SIGNATURE_PATTERN},
          "hex HMAC-SHA256 of systemid + timestamp + Content-Type + body, or of XroadVnpt-sign-header"),
    Param(SIGN_HEADER, "header", False, {"type": "string", "maxLength": 4096, "pattern": SIGN_HEADER_PATTERN},
          "the SDK jar's scheme: the signed XroadVnpt-* parameters as one JSON object"),
)
_SEND_PARAMS = (
    Param(FROM_HEADER, "header", True, {"type": "string", "maxLength": 64}),
    Param(SERVICE_TYPE_HEADER, "header", False, {"enum": ["eDoc", "status"]}),
    Param(MESSAGE_TYPE_HEADER, "header", False, {"enum": list(MESSAGE_TYPES)}),
)


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["status", "ErrorCode", "ErrorDesc"],
            "properties": {"status": {"const": "OK"}, "ErrorCode": {"const": "0"}, "ErrorDesc": {"type": "string"},
                           **props}}


_ARRAY = {"type": "array", "items": {"type": "object"}}
ERROR_SCHEMA = {
    "type": "object", "required": ["status", "ErrorCode", "ErrorDesc"],
    "properties": {"status": {"const": "FAIL"}, "ErrorCode": {"type": "string"}, "ErrorDesc": {"type": "string"},
                   "ErrorField": {"type": ["string", "null"]}},
}


def endpoints() -> list[Endpoint]:
    """The SDK face's routes (each answers its refusals in the SDK's error form)."""
    tags = ("vdxp",)

    def ep(name: str, handler: Any, summary: str, model: Any = None, schema: dict[str, Any] | None = None,
           **kwargs: Any) -> Endpoint:
        params = kwargs.pop("params", _AUTH_PARAMS)
        # sdk_face answers the handler's refusals in the SDK's form; error_form does the same for
        # refusals made before it runs (injected faults), and error_schema documents the form.
        return Endpoint("POST", f"{PREFIX}/{name}", sdk_face(handler), summary, model, schema or _obj({}),
                        tags=tags, params=params, error_form=sdk_error, error_schema=ERROR_SCHEMA, **kwargs)

    return [
        ep("sendEdoc", send_edoc, "Send a signed edXML package (SDK sendEdoc)",
           schema=_obj({"DocId": {"type": "string"}, "duplicate": {"type": "boolean"}}),
           params=(*_AUTH_PARAMS, *_SEND_PARAMS), request_content_type="application/xml"),
        ep("getReceivedEdocList", get_received_edoc_list, "Lease the next received documents and status messages",
           ReceivedListRequest, _obj({"data": _ARRAY})),
        ep("getEdoc", get_edoc, "One document's package, base64 (its sender and recipients only)", EdocRequest,
           _obj({"data": {"type": "string", "contentEncoding": "base64"}})),
        ep("getSentEdocList", get_sent_edoc_list, "Each recipient's status of a document the caller sent",
           SentListRequest, _obj({"data": _ARRAY})),
        ep("updateStatus", update_status, "A status receipt (QCVN 102 code) or a delivery acknowledgement (done)",
           UpdateStatusRequest),
        ep("getAgenciesList", get_agencies_list, "The agency directory", AgenciesRequest, _obj({"data": _ARRAY})),
    ]
