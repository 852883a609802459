"""Fee payments: the owner pays a dossier in status 6; the intermediary's signed callback
completes the payment and moves the dossier back to processing (6 → 4).

* ``POST /dossiers/{code}/payments`` needs an ``Idempotency-Key``; one pending payment
  per dossier (a second one with another key → 409 ``payment_pending``).
* ``POST /payments/callback`` checks the HMAC signature over the raw body (401 if bad),
  and is idempotent: a duplicate callback for a paid payment changes nothing.
"""

from __future__ import annotations

import secrets

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import json_response, read_body, require_header, validation_error
from mocks.portal.catalogue import MAX_FEE_VND, MIN_FEE_VND
from mocks.portal.idempotency import Remember, StoredResponse, fingerprint
from mocks.portal.intermediary import SIGNATURE_HEADER, signature_valid
from mocks.portal.lifecycle import Actor, DossierStatus, next_status
from mocks.portal.models import PaymentCallback, PaymentRequest
from mocks.portal.routes_dossiers import visible_dossier
from mocks.portal.service import now_iso, portal_of
from mocks.portal.store import PaymentRow, PortalStore

__all__ = ["create_payment", "payment_callback", "PAYMENT_RESPONSE_SCHEMA"]

PAYMENT_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["payment_id", "amount_vnd", "status"],
    "properties": {
        "payment_id": {"type": "string"},
        "dossier_code": {"type": "string"},
        "amount_vnd": {"type": "integer", "minimum": MIN_FEE_VND, "maximum": MAX_FEE_VND},
        "status": {"enum": ["pending", "paid"]},
        "intermediary": {"type": "string"},
    },
}


async def create_payment(request: Request) -> Response:
    """Start paying a dossier's fee; the intermediary calls back asynchronously."""
    portal = portal_of(request)
    caller = portal.caller(request)
    code = request.path_params["code"]
    d = visible_dossier(portal, caller, code)
    await enter_scope(request, province=d.province_code)
    if caller.is_officer:
        raise ApiError(403, "owner_only", "only the applicant pays a dossier's fee online")
    key = require_header(request, "Idempotency-Key")
    raw = await read_body(request)
    try:
        req = PaymentRequest.model_validate_json(raw) if raw.strip() else PaymentRequest()
    except ValidationError as exc:
        raise validation_error(exc) from None
    fp = fingerprint(f"POST /dossiers/{code}/payments", req.model_dump(mode="json"))
    server = request.scope.get("server") or (portal.settings.host, portal.settings.port)
    callback_url = portal.callback_url(str(server[0]), int(server[1]))

    async def produce(remember: Remember) -> StoredResponse:
        def unit(conn) -> tuple[StoredResponse, PaymentRow]:
            current = portal.store.dossier(code, conn)
            assert current is not None  # dossiers are never deleted  # nosec B101
            if current.status != DossierStatus.FEES_DUE:
                raise ApiError(
                    409,
                    "payment_not_due",
                    f"dossier {code} is in status {current.status}; fees are paid in status 6 (fees due)",
                    "code",
                )
            pending = portal.store.pending_payment_of(code, conn)
            if pending is not None:
                raise ApiError(409, "payment_pending", f"payment {pending.id} for this dossier is still pending", "code")
            if not MIN_FEE_VND <= current.fee_vnd <= MAX_FEE_VND:
                raise ApiError(409, "no_fee_due", f"procedure of dossier {code} has no payable fee", "code")
            at = now_iso()
            payment = PaymentRow(
                id=f"PAY{secrets.token_hex(8).upper()}",
                dossier_code=code,
                payer_id=caller.subject,
                amount_vnd=current.fee_vnd,
                status="pending",
                created_at=at,
                paid_at=None,
                transaction_ref=None,
            )
            PortalStore.insert_payment(conn, payment)
            body = orjson.dumps(
                {
                    "payment_id": payment.id,
                    "dossier_code": code,
                    "amount_vnd": payment.amount_vnd,
                    "status": "pending",
                    "intermediary": req.intermediary,
                }
            )
            remember(conn, 201, body, at)
            return StoredResponse(201, body, replayed=False), payment

        stored, payment = await portal.writer.write(unit)
        # Only after the commit: the callback must find the payment it reports on.
        portal.intermediary.schedule(callback_url, payment.id, payment.dossier_code, payment.amount_vnd)
        return stored

    result = await portal.idempotency.run(f"payments:{caller.subject}", key, fp, produce)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(result.body, status_code=result.status, headers=headers, media_type="application/json")


async def payment_callback(request: Request) -> Response:
    """The intermediary reports a payment: verify the signature, record it once."""
    portal = portal_of(request)
    raw = await read_body(request)
    if not signature_valid(portal.callback_key, raw, request.headers.get(SIGNATURE_HEADER)):
        raise ApiError(401, "invalid_signature", "callback signature is missing or does not verify", SIGNATURE_HEADER)
    try:
        cb = PaymentCallback.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc) from None

    def unit(conn) -> dict[str, object]:
        payment = portal.store.payment(cb.payment_id, conn)
        if payment is None or payment.dossier_code != cb.dossier_code:
            raise ApiError(404, "unknown_payment", f"no payment {cb.payment_id!r} for that dossier", "payment_id")
        if payment.amount_vnd != cb.amount_vnd:
            raise ApiError(
                422, "amount_mismatch", f"payment {payment.id} is for {payment.amount_vnd} VND", "amount_vnd"
            )
        if payment.status != "pending" or cb.status != "paid":
            # Duplicate delivery (or a failure report): nothing changes, the answer says so.
            return {"payment_id": payment.id, "status": payment.status, "duplicate": payment.status == "paid"}
        at = now_iso()
        PortalStore.mark_paid(conn, payment.id, at, cb.transaction_ref)
        dossier = portal.store.dossier(payment.dossier_code, conn)
        if dossier is not None and dossier.status == DossierStatus.FEES_DUE:
            new = next_status(DossierStatus.FEES_DUE, DossierStatus.PROCESSING, Actor.PAYMENT)
            portal.store.set_status(
                conn, dossier.code, dossier.status, int(new), "payment", f"fee paid ({payment.id})", at
            )
        return {"payment_id": payment.id, "status": "paid", "duplicate": False}

    return json_response(await portal.writer.write(unit))
