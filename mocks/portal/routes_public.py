"""The procedure catalogue (``GET /procedures``) and citizen feedback (``POST /feedback``)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from kernel.roster import load_roster
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import json_response, read_json
from mocks.portal.catalogue import catalogue_of
from mocks.portal.models import FeedbackIn
from mocks.portal.service import now_iso, portal_of
from mocks.portal.store import PortalStore

__all__ = ["list_procedures", "submit_feedback", "PROCEDURES_SCHEMA", "FEEDBACK_RESPONSE_SCHEMA"]

_PROVINCE = re.compile(r"\d{2}")

PROCEDURES_SCHEMA = {
    "type": "object",
    "required": ["province_code", "published", "procedures"],
    "properties": {
        "province_code": {"type": "string"},
        "province_name": {"type": "string"},
        "agency_code": {"type": "string"},
        "published": {"type": "boolean"},
        "procedures": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "name", "fee_vnd"],
                "properties": {
                    "code": {"type": "string", "pattern": r"^[0-9]\.[0-9]{6}\.[0-9A-Z.]+$"},
                    "name": {"type": "string"},
                    "domain": {"type": "string"},
                    "level": {"enum": ["commune", "province"]},
                    "fee_vnd": {"type": "integer"},
                    "processing_days": {"type": "integer"},
                },
            },
        },
    },
}
FEEDBACK_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["id", "created_at"],
    "properties": {"id": {"type": "string"}, "commune_code": {"type": "string"}, "created_at": {"type": "string"}},
}


async def list_procedures(request: Request) -> Response:
    """The catalogue of one province (empty until the province publishes it)."""
    code = request.query_params.get("province")
    if not code:
        raise ApiError(422, "missing_parameter", "query parameter province (2-digit code) is required", "province")
    if not code.isascii() or not _PROVINCE.fullmatch(code):
        if "lenient_province_filter" in request.app.state.settings.vulnerable:
            # Planted weakness: an unvalidated filter, echoed back as if it were a province.
            return json_response({"province_code": code, "published": False, "procedures": []})
        raise ApiError(422, "invalid_province", "province must be a 2-digit province code such as 01", "province")
    try:
        province = load_roster().province(code)
    except KeyError:
        raise ApiError(404, "unknown_province", f"no 2025 province has code {code}", "province") from None
    await enter_scope(request, province=code)
    published = request.app.state.readiness.province(code).catalogue_published
    return json_response(
        {
            "province_code": code,
            "province_name": province.name,
            "agency_code": province.agency_code,
            "published": published,
            "procedures": [p.to_json() for p in catalogue_of(code)] if published else [],
        }
    )


async def submit_feedback(request: Request) -> Response:
    """Record a citizen's feedback (phản ánh kiến nghị) about a commune."""
    portal = portal_of(request)
    caller = portal.citizen(request)
    body = await read_json(request, FeedbackIn)
    try:
        commune = load_roster().commune(body.commune_code)
    except KeyError:
        raise ApiError(422, "unknown_commune", f"no 2025 commune has code {body.commune_code}", "commune_code") from None
    await enter_scope(request, province=commune.province_code)

    def unit(conn) -> tuple[str, str]:
        at = now_iso()
        return PortalStore.insert_feedback(conn, caller.subject, commune.code, body.subject, body.body, at), at

    feedback_id, at = await portal.writer.write(unit)
    return json_response({"id": feedback_id, "commune_code": commune.code, "created_at": at}, status=201)
