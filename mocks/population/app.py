"""The population mock's app factory: its endpoints on the shared mock core — the native
face and the C06 SOAP face (:mod:`mocks.population.c06`) over one service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette

from kernel.service_limits import ServiceLimits, ThrottleLimit
from mocks.core.app import Endpoint, Param, build_service_app
from mocks.core.limits import limits_endpoint
from mocks.core.settings import ServiceSettings
from mocks.population.c06 import C06Face
from mocks.population.models import (
    PERSONAL_ID_PATTERN,
    PURPOSE_MAX,
    VERIFY_BATCH_MAX,
    AuditPage,
    CitizenResponse,
    TokenRequest,
    TokenResponse,
    VerifyBatchRequest,
    VerifyBatchResponse,
    VerifyRequest,
    VerifyResponse,
)
from mocks.population.service import AUDIT_LIMIT_MAX, PopulationService

__all__ = ["create_app"]

SERVICE_NAME = "population"


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with nested models inlined (response schemas sit inline)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _endpoints(service: PopulationService) -> list[Endpoint]:
    tags = ("population",)
    purpose = Param(
        "purpose",
        "query",
        required=True,
        schema={"type": "string", "minLength": 1, "maxLength": PURPOSE_MAX},
        description="Why the look-up is made (written to the audit log).",
    )
    personal_id = Param(
        "personal_id",
        "path",
        required=True,
        schema={"type": "string", "pattern": PERSONAL_ID_PATTERN},
        description="12-digit personal ID number; a malformed one gets 422 naming the broken rule.",
    )
    return [
        Endpoint(
            "POST", "/auth/token", service.issue_token,
            "Client-credentials token for an agency system (portal, police, province-NN)",
            request_model=TokenRequest, response_schema=_inline_schema(TokenResponse), tags=("auth",),
        ),
        Endpoint(
            "GET", "/citizens/{personal_id}", service.get_citizen,
            "Look up a citizen; fields depend on the caller's role; audited",
            response_schema=_inline_schema(CitizenResponse), auth="bearer", tags=tags,
            params=(personal_id, purpose),
        ),
        Endpoint(
            "POST", "/citizens/verify", service.verify,
            "Verify ID number + full name + date of birth: match or no match; audited",
            request_model=VerifyRequest, response_schema=_inline_schema(VerifyResponse), auth="bearer", tags=tags,
        ),
        Endpoint(
            "POST", "/citizens/verify-batch", service.verify_batch,
            f"Up to {VERIFY_BATCH_MAX} verifications in one call, answered in order; each item audited "
            "and throttled as one verify",
            request_model=VerifyBatchRequest, response_schema=_inline_schema(VerifyBatchResponse), auth="bearer",
            tags=tags,
        ),
        Endpoint(
            "GET", "/admin/audit", service.read_audit,
            "Audit log of look-ups and verifications, newest first",
            response_schema=_inline_schema(AuditPage), auth="admin", tags=("admin",),
            params=(
                Param("subject", description="only entries about this personal ID number"),
                Param("caller", description="only entries by this client system"),
                Param("limit", schema={"type": "integer", "minimum": 1, "maximum": AUDIT_LIMIT_MAX, "default": 100}),
            ),
        ),
    ]


def _limits(service: PopulationService) -> ServiceLimits:
    """The throttle and token lifetime in force (a planted ``no_rate_limit`` shows as rate 0)."""
    policy = service.throttle_policy
    return ServiceLimits(service=SERVICE_NAME, token_ttl_s=service.settings.token_ttl_s,
                         throttle=ThrottleLimit(rate_per_s=policy.rate_per_s, burst=policy.burst))


def create_app(settings: ServiceSettings) -> Starlette:
    """The National Population Database mock as an ASGI app (seeds on startup)."""
    service = PopulationService(settings)

    async def on_startup(app: Starlette) -> None:
        await service.startup()

    async def on_shutdown(app: Starlette) -> None:
        await service.shutdown()

    app = build_service_app(
        SERVICE_NAME,
        settings,
        [*_endpoints(service), *C06Face(service).endpoints(), limits_endpoint(_limits(service))],
        service.ledger,
        store_sizes=service.store_sizes,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    service.apply_readiness(app.state.readiness)
    app.state.population = service
    return app
