"""Dossier routes: submit, read, officer worklist, status transitions, public lookup.

Access rule (BOLA): a dossier is visible to its owner citizen and to the officers of
its commune, and to nobody else. Everyone else gets the same 404 ``dossier_not_found``
as for a code that does not exist — a stranger cannot even learn that a dossier exists.
An identity check against the population service precedes every accepted submission;
if it cannot be made the answer is 503 with ``Retry-After`` and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kernel.districts import district_tier
from kernel.roster import load_roster
from mocks.core.district_tier import tier_switch
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import json_response, read_json, require_header
from mocks.portal.catalogue import find_procedure
from mocks.portal.district_migration import worklist_rows
from mocks.portal.idempotency import Remember, StoredResponse, fingerprint
from mocks.portal.identity import Applicant, IdentityUnavailable
from mocks.portal.lifecycle import Actor, DossierStatus, IllegalTransition, TransitionNotAllowed, next_status
from mocks.portal.models import SubmitDossier, SubmitDossierPlanted, TransitionRequest, read_request
from mocks.portal.receiving_units import district_closed, district_unit
from mocks.portal.service import Caller, Portal, now_iso, portal_of
from mocks.portal.store import DossierRow

__all__ = [
    "submit_dossier",
    "read_dossier",
    "worklist",
    "transition",
    "public_lookup",
    "visible_dossier",
    "create_dossier",
    "apply_transition",
    "dossier_json",
    "SUBMIT_RESPONSE_SCHEMA",
    "DOSSIER_SCHEMA",
]

_RETRY_AFTER_S = "5"

SUBMIT_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "status", "status_name", "commune_code", "procedure_code", "created_at"],
    "properties": {
        "code": {"type": "string", "pattern": r"^\d{5}-\d{6}-\d{6}$"},
        "status": {"type": "integer", "minimum": 1, "maximum": 10},
        "status_name": {"type": "string"},
        "commune_code": {"type": "string"},
        "procedure_code": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
DOSSIER_SCHEMA = {
    "type": "object",
    "required": ["code", "status", "status_name", "commune_code", "procedure_code", "applicant", "history"],
    "properties": {
        **SUBMIT_RESPONSE_SCHEMA["properties"],
        "province_code": {"type": "string"},
        "channel": {"type": "integer"},
        "fee_vnd": {"type": "integer"},
        "applicant": {"type": "object"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "updated_at": {"type": "string"},
        "history": {"type": "array", "items": {"type": "object"}},
    },
}


def _not_found(code: str) -> ApiError:
    return ApiError(404, "dossier_not_found", f"no dossier {code!r} visible to you", "code")


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "identity_service_unavailable", message, None, {"Retry-After": _RETRY_AFTER_S})


def dossier_json(d: DossierRow, history: list[dict[str, object]] | None = None) -> dict[str, object]:
    """The JSON form of a dossier (with its history when given)."""
    out: dict[str, object] = {
        "code": d.code,
        "status": d.status,
        "status_name": DossierStatus(d.status).status_name,
        "commune_code": d.commune_code,
        "province_code": d.province_code,
        "procedure_code": d.procedure_code,
        "channel": d.channel,
        "fee_vnd": d.fee_vnd,
        "applicant": d.applicant,
        "fields": d.fields,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }
    if history is not None:
        out["history"] = history
    return out


def visible_dossier(portal: Portal, caller: Caller, code: str, *, for_read: bool = False) -> DossierRow:
    """The dossier if ``caller`` may see it, else 404 (existence is not revealed)."""
    d = portal.store.dossier(code) if len(code) <= 64 else None
    if d is None:
        raise _not_found(code)
    if caller.is_officer:
        if caller.commune != d.commune_code and "officer_any_commune" not in portal.vulnerable:
            raise _not_found(code)  # (planted weakness officer_any_commune: officers see every commune)
    elif caller.subject != d.owner_id and not (for_read and "bola_dossier_read" in portal.vulnerable):
        raise _not_found(code)  # planted weakness bola_dossier_read: any citizen reads any dossier
    return d


async def submit_dossier(request: Request) -> Response:
    """Submit a dossier: validated, identity-checked, stored durably, exactly once per key."""
    portal = portal_of(request)
    caller = portal.citizen(request)
    key = require_header(request, "Idempotency-Key")
    planted = "mass_assignment" in portal.vulnerable
    body = await read_request(request, SubmitDossierPlanted if planted else SubmitDossier)
    fp = fingerprint("POST /dossiers", body.model_dump(mode="json"))
    if "idempotency_ignores_body" in portal.vulnerable:  # planted weakness: a reused key replays any body
        fp = fingerprint("POST /dossiers", {})
    result = await portal.idempotency.run(
        f"dossiers:{caller.subject}", key, fp, lambda remember: create_dossier(request, portal, caller, body, remember)
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(result.body, status_code=result.status, headers=headers, media_type="application/json")


async def create_dossier(
    request: Request, portal: Portal, caller: Caller, body: SubmitDossier, remember: Remember
) -> StoredResponse:
    """Check and store a new dossier owned by ``caller`` (inside :meth:`IdempotencyGuard.run`).

    Shared by ``POST /dossiers`` and the integration-adapter face's ``DongBoHoSoMC``.
    """
    applicant = body.applicant
    if applicant.personal_id != caller.subject:
        raise ApiError(
            403, "applicant_not_caller", "citizens may only submit dossiers in their own name", "applicant.personal_id"
        )
    for i, attachment in enumerate(body.attachments):  # decided before anything is contacted (API7)
        portal.attachments.check(attachment.url, f"attachments[{i}].url")
    roster = load_roster()
    district = district_tier().by_unit(body.commune_code)
    try:
        commune = district_unit(request, district) if district is not None else roster.commune(body.commune_code)
    except KeyError:
        successors = roster.old_commune_splits.get(body.commune_code)
        if successors:
            raise ApiError(
                422,
                "commune_abolished",
                f"commune {body.commune_code} was abolished on 2025-07-01; submit to its successor(s): "
                + ", ".join(successors),
                "commune_code",
            ) from None
        raise ApiError(422, "unknown_commune", f"no 2025 commune has code {body.commune_code}", "commune_code") from None
    province = commune.province_code
    portal.record_peer(request, commune.code)
    await enter_scope(request, province=province)
    readiness = request.app.state.readiness.province(province)
    if not readiness.connected:
        raise ApiError(
            503,
            "province_not_connected",
            f"province {province}'s one-stop system is not connected to the national portal yet",
            "commune_code",
            {"Retry-After": "60"},
        )
    procedure = find_procedure(province, body.procedure_code) if readiness.catalogue_published else None
    if procedure is None:
        raise ApiError(
            422,
            "unknown_procedure",
            f"procedure {body.procedure_code!r} is not in the published catalogue of province {province}",
            "procedure_code",
        )
    if not readiness.population_connected:
        raise _unavailable(f"province {province} is not connected to the national population database yet")
    try:
        matched = await portal.population.verify(
            Applicant(applicant.personal_id, applicant.full_name, applicant.date_of_birth.isoformat()),
            purpose=f"dossier submission {procedure.code} at commune {commune.code}",
        )
    except IdentityUnavailable as exc:
        raise _unavailable(f"identity check unavailable, nothing was stored; retry later ({exc})") from None
    if not matched:
        raise ApiError(
            422,
            "identity_mismatch",
            "the applicant's ID number, full name and date of birth do not match the population register",
            "applicant",
        )

    # Fetched once the applicant is known to be who they claim; only the digests are kept,
    # under keys no client field can take ("attachment[i]" is not a field name).
    fields = dict(body.fields)
    for i, attachment in enumerate(body.attachments):
        fetched = await portal.attachments.fetch(attachment.name, attachment.url, f"attachments[{i}].url")
        fields[f"attachment[{i}]"] = fetched.summary()

    status = int(DossierStatus.SUBMITTED)
    planted_status = getattr(body, "status", None)  # planted weakness mass_assignment only
    if planted_status is not None and 1 <= planted_status <= 10:
        status = planted_status

    def unit(conn) -> StoredResponse:
        if district is not None and not tier_switch(request).is_open:
            # Checked again where the dossier is written: the tier may have closed (and its
            # migration run) while this submission awaited its identity check, and a dossier
            # stored at a closed unit after its migration would land in no worklist.
            raise district_closed(district)
        at = now_iso()
        code = portal.next_dossier_code(commune.code)
        row = DossierRow(
            code=code,
            commune_code=commune.code,
            province_code=province,
            procedure_code=procedure.code,
            owner_id=caller.subject,
            channel=body.channel,
            applicant={
                "personal_id": applicant.personal_id,
                "full_name": applicant.full_name,
                "date_of_birth": applicant.date_of_birth.isoformat(),
            },
            fields=fields,
            fee_vnd=procedure.fee_vnd,
            status=status,
            created_at=at,
            updated_at=at,
        )
        portal.store.insert_dossier(conn, row, "citizen")
        payload = orjson.dumps(
            {
                "code": code,
                "status": status,
                "status_name": DossierStatus(status).status_name,
                "commune_code": commune.code,
                "procedure_code": procedure.code,
                "created_at": at,
            }
        )
        remember(conn, 201, payload, at)
        return StoredResponse(201, payload, replayed=False)

    return await portal.writer.write(unit)


async def read_dossier(request: Request) -> Response:
    """One dossier with its history — owner or an officer of its commune only."""
    portal = portal_of(request)
    caller = portal.caller(request)
    d = visible_dossier(portal, caller, request.path_params["code"], for_read=True)
    await enter_scope(request, province=d.province_code)
    return json_response(dossier_json(d, portal.store.history(d.code)))


async def worklist(request: Request) -> Response:
    """An officer's worklist: dossiers of their own commune, oldest first, cursor-paged."""
    portal = portal_of(request)
    caller = portal.officer(request)
    await enter_scope(request, province=caller.province)
    q = request.query_params
    status = _int_param(q.get("status"), "status", 1, 10)
    limit = _int_param(q.get("limit"), "limit", 1, 200) or 50
    after = _int_param(q.get("cursor"), "cursor", 0, 2**62) or 0
    rows = worklist_rows(portal.store, caller.commune or "", status, after, limit)
    next_cursor = str(rows[-1][0]) if len(rows) == limit else None
    return json_response(
        {
            "commune_code": caller.commune,
            "items": [
                {
                    "code": d.code,
                    "status": d.status,
                    "status_name": DossierStatus(d.status).status_name,
                    "procedure_code": d.procedure_code,
                    "applicant_name": d.applicant.get("full_name"),
                    "created_at": d.created_at,
                    "updated_at": d.updated_at,
                }
                for _, d in rows
            ],
            "next_cursor": next_cursor,
        }
    )


def _int_param(raw: str | None, name: str, low: int, high: int) -> int | None:
    if raw is None:  # absent; an empty value is a malformed one, as the OpenAPI's integer says
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise ApiError(422, f"invalid_{name}", f"{name} must be a whole number from {low} to {high}", name)
    return int(raw)


async def transition(request: Request) -> Response:
    """Move a dossier along the lifecycle (officers of its commune; the owner may withdraw)."""
    portal = portal_of(request)
    caller = portal.caller(request)
    code = request.path_params["code"]
    d = visible_dossier(portal, caller, code)
    await enter_scope(request, province=d.province_code)
    req = await read_json(request, TransitionRequest)
    previous, new, at = await apply_transition(portal, caller, code, req.to, req.note)
    return json_response(
        {
            "code": code,
            "previous_status": previous,
            "status": new,
            "status_name": DossierStatus(new).status_name,
            "updated_at": at,
        }
    )


async def apply_transition(
    portal: Portal, caller: Caller, code: str, to: int, note: str, *, field: str = "to", same_is_no_move: bool = False
) -> tuple[int, int, str]:
    """Move a visible dossier to ``to`` by the lifecycle's rules; returns (previous, new, at).

    409 ``illegal_transition`` / 403 ``transition_not_allowed`` name ``field``. Shared by
    ``POST /dossiers/{code}/transitions`` and the integration-adapter face's progress updates.
    ``same_is_no_move``: a dossier already in ``to`` *when the move is applied* is left as it
    is (nothing written) instead of refused — decided in the unit of work, so a concurrent move
    to the same status cannot turn a re-sent record into a refusal.
    """
    actor = Actor.OFFICER if caller.is_officer else Actor.OWNER
    if "citizen_accepts_own" in portal.vulnerable and to == int(DossierStatus.ACCEPTED):
        actor = Actor.OFFICER  # planted weakness: the owner may make the officer's move

    def unit(conn) -> tuple[int, int, str]:
        current = portal.store.dossier(code, conn)
        assert current is not None  # dossiers are never deleted  # nosec B101
        if same_is_no_move and current.status == to:
            return current.status, current.status, current.updated_at
        try:
            new = next_status(DossierStatus(current.status), to, actor)
        except IllegalTransition as exc:
            raise ApiError(409, "illegal_transition", str(exc), field) from None
        except TransitionNotAllowed as exc:
            raise ApiError(403, "transition_not_allowed", str(exc), field) from None
        if new == DossierStatus.FEES_DUE and not current.fee_vnd:
            # Nothing to pay: the dossier would wait in "fees due" for a payment that is refused.
            raise ApiError(409, "no_fee_due", f"procedure {current.procedure_code} has no fee: move the dossier on "
                           "without collecting one", field)
        if current.status == DossierStatus.FEES_DUE:
            # The intermediary has the citizen's money in hand: the dossier waits for its
            # callback (which moves it on), or the fee would be collected on a dossier
            # withdrawn or refused meanwhile.
            pending = portal.store.pending_payment_of(code, conn)
            if pending is not None:
                raise ApiError(409, "payment_pending", f"payment {pending.id} for this dossier is still pending; "
                               "the dossier moves when it settles", field)
        at = now_iso()
        portal.store.set_status(conn, code, current.status, int(new), f"{actor.value}:{caller.subject}", note, at)
        return current.status, int(new), at

    return await portal.writer.write(unit)


async def public_lookup(request: Request) -> Response:
    """Public status look-up: the dossier code *and* the owner's ID number must match."""
    portal = portal_of(request)
    code = request.path_params["code"]
    personal_id = request.query_params.get("personal_id")
    if not personal_id:
        raise ApiError(400, "missing_parameter", "query parameter personal_id is required", "personal_id")
    if not (len(personal_id) == 12 and personal_id.isascii() and personal_id.isdigit()):
        raise ApiError(400, "invalid_parameter", "personal_id must be a 12-digit personal ID number", "personal_id")
    d = portal.store.dossier(code) if len(code) <= 64 else None
    if d is None or d.owner_id != personal_id:
        raise ApiError(404, "dossier_not_found", "no dossier matches this code and ID number", "code")
    await enter_scope(request, province=d.province_code)
    return json_response(
        {
            "code": d.code,
            "status": d.status,
            "status_name": DossierStatus(d.status).status_name,
            "updated_at": d.updated_at,
        }
    )
