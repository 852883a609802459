"""The portal's route table and ``create_app``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from kernel.national.dvcqg import AUTH_PATH, INTEGRATION_PATH, SHARE_PATH
from kernel.service_limits import LockoutLimit, ServiceLimits
from mocks.core.app import Endpoint, Param, build_service_app
from mocks.core.district_tier import DistrictTierSwitch, district_tier_endpoints
from mocks.core.http import PRINTABLE_ASCII
from mocks.core.limits import limits_endpoint
from mocks.core.settings import ServiceSettings
from mocks.portal.district_migration import (
    MIGRATION_BATCH_SCHEMA,
    MIGRATION_JOURNAL_SCHEMA,
    MigrationBatchRequest,
    ensure_journal,
    read_migration_journal,
    run_migration_batch,
)
from mocks.portal.dvcqg_form import CALL_RESPONSE_SCHEMA, ERROR_SCHEMA, LOGIN_RESPONSE_SCHEMA, face_error
from mocks.portal.dvcqg_models import DvcqgCall, DvcqgLogin
from mocks.portal.models import (
    FeedbackIn,
    LoginRequest,
    PaymentCallback,
    PaymentRequest,
    SubmitDossier,
    TransitionRequest,
)
from mocks.portal.routes_auth import TOKEN_RESPONSE_SCHEMA, issue_token, logout
from mocks.portal.routes_dossiers import (
    DOSSIER_SCHEMA,
    SUBMIT_RESPONSE_SCHEMA,
    public_lookup,
    read_dossier,
    submit_dossier,
    transition,
    worklist,
)
from mocks.portal.routes_dvcqg import dvcqg_call, dvcqg_login
from mocks.portal.routes_payments import PAYMENT_RESPONSE_SCHEMA, create_payment, payment_callback
from mocks.portal.routes_public import FEEDBACK_RESPONSE_SCHEMA, PROCEDURES_SCHEMA, list_procedures, submit_feedback
from mocks.portal.service import Portal, read_peers

__all__ = ["create_app", "portal_endpoints"]

_KEY = Param("Idempotency-Key", "header", True, {"type": "string", "maxLength": 128, "pattern": PRINTABLE_ASCII})
_DSTCODE = Param("dstcode", "header", True, {"type": "string", "maxLength": 64, "pattern": PRINTABLE_ASCII},
                 "the destination's agency code")
_FACE: dict[str, Any] = {"error_form": face_error, "error_schema": ERROR_SCHEMA}
_CODE = Param("code", "path", True, {"type": "string", "maxLength": 64}, "dossier code <commune>-<yymmdd>-<seq>")


def portal_endpoints() -> list[Endpoint]:
    """Every portal route with its contract (for routing and the OpenAPI document)."""
    return [
        Endpoint("POST", "/auth/token", issue_token, "Sign in (citizen by ID number, or commune officer)",
                 LoginRequest, TOKEN_RESPONSE_SCHEMA, tags=("auth",)),
        Endpoint("POST", "/auth/logout", logout, "Revoke the caller's token", auth="bearer", tags=("auth",)),
        Endpoint("GET", "/procedures", list_procedures, "Procedure catalogue of a province", None, PROCEDURES_SCHEMA,
                 tags=("catalogue",),
                 params=(Param("province", "query", True, {"type": "string", "pattern": r"^\d{2}$"}),)),
        Endpoint("POST", "/dossiers", submit_dossier, "Submit a dossier (identity-checked, idempotent)",
                 SubmitDossier, SUBMIT_RESPONSE_SCHEMA, auth="bearer", tags=("dossiers",), params=(_KEY,),
                 success_status=201),
        Endpoint("GET", "/dossiers", worklist, "Officer worklist of the officer's commune", None,
                 {"type": "object"}, auth="bearer", tags=("dossiers",),
                 params=(Param("status", schema={"type": "integer", "minimum": 1, "maximum": 10}),
                         Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}),
                         Param("cursor", schema={"type": "integer", "minimum": 0, "maximum": 2**62},
                               description="next_cursor of the previous page"))),
        Endpoint("GET", "/dossiers/{code}", read_dossier, "Read a dossier (owner or officer of its commune)", None,
                 DOSSIER_SCHEMA, auth="bearer", tags=("dossiers",), params=(_CODE,)),
        Endpoint("POST", "/dossiers/{code}/transitions", transition, "Change a dossier's status",
                 TransitionRequest, {"type": "object"}, auth="bearer", tags=("dossiers",), params=(_CODE,)),
        Endpoint("POST", "/dossiers/{code}/payments", create_payment, "Pay a dossier's fee (status 6)",
                 PaymentRequest, PAYMENT_RESPONSE_SCHEMA, auth="bearer", tags=("payments",), params=(_CODE, _KEY),
                 success_status=201),
        Endpoint("POST", "/payments/callback", payment_callback, "Signed callback from the payment intermediary",
                 PaymentCallback, {"type": "object"}, tags=("payments",),
                 params=(Param("X-Paygov-Signature", "header", True),)),
        Endpoint("GET", "/public/dossiers/{code}", public_lookup, "Public status look-up (code + owner ID number)",
                 None, {"type": "object"}, tags=("public",),
                 params=(_CODE, Param("personal_id", "query", True, {"type": "string", "pattern": "^[0-9]{12}$"}))),
        Endpoint("POST", "/feedback", submit_feedback, "Citizen feedback about a commune", FeedbackIn,
                 FEEDBACK_RESPONSE_SCHEMA, auth="bearer", tags=("feedback",), success_status=201),
        # The integration-adapter face (mocks/portal/routes_dvcqg.py): the same portal in the
        # shape one-stop systems reach it through the LGSP/NGSP adapter.
        Endpoint("POST", AUTH_PATH, dvcqg_login, "Integration adapter: log in (dstcode header) for a session",
                 DvcqgLogin, LOGIN_RESPONSE_SCHEMA, tags=("dvcqg-adapter",), params=(_DSTCODE,), **_FACE),
        Endpoint("POST", INTEGRATION_PATH, dvcqg_call, "Integration adapter: one call, dispatched on service",
                 DvcqgCall, CALL_RESPONSE_SCHEMA, tags=("dvcqg-adapter",), params=(_DSTCODE,), **_FACE),
        Endpoint("POST", SHARE_PATH, dvcqg_call, "Integration adapter: look-ups (every service accepted)",
                 DvcqgCall, CALL_RESPONSE_SCHEMA, tags=("dvcqg-adapter",), params=(_DSTCODE,), **_FACE),
        Endpoint("GET", "/admin/peers", read_peers, "Peer addresses each commune's traffic came from", None,
                 {"type": "object"}, auth="admin", tags=("admin",)),
        # The go-live-night cut-over (mocks/portal/district_migration.py, mocks/core/district_tier.py).
        Endpoint("POST", "/admin/migrations/district-tier", run_migration_batch,
                 "Move the next batch of dossiers from closed district units to their successor communes",
                 MigrationBatchRequest, MIGRATION_BATCH_SCHEMA, auth="admin", tags=("admin",)),
        Endpoint("GET", "/admin/migrations/district-tier", read_migration_journal,
                 "The district-tier migration journal", None, MIGRATION_JOURNAL_SCHEMA, auth="admin",
                 tags=("admin",)),
        *district_tier_endpoints(),
    ]  # fmt: skip


def _limits(settings: ServiceSettings) -> ServiceLimits:
    """The sign-in lockout and token lifetime in force (a planted ``no_lockout`` shows as threshold 0)."""
    locks = "no_lockout" not in settings.vulnerable
    return ServiceLimits(service="portal", token_ttl_s=settings.token_ttl_s,
                         lockout=LockoutLimit(threshold=settings.lockout_threshold if locks else 0,
                                              seconds=settings.lockout_seconds if locks else 0))


def create_app(settings: ServiceSettings) -> Starlette:
    """The National Public Service Portal mock (SQLite at ``<data_dir>/portal.db``)."""
    portal = Portal(settings)
    ensure_journal(portal.store.conn)

    async def startup(app: Starlette) -> None:
        await portal.startup()

    async def shutdown(app: Starlette) -> None:
        await portal.shutdown()

    endpoints = portal_endpoints()
    if "legacy_routes" in settings.vulnerable:  # planted weakness: the old API version still answers
        endpoints.append(Endpoint("GET", "/v1/procedures", list_procedures, "Procedure catalogue (API v1, retired)",
                                  documented=False))
    app = build_service_app(
        "portal",
        settings,
        [*endpoints, limits_endpoint(_limits(settings))],
        portal.ledger,
        store_sizes=portal.store_sizes,
        on_startup=startup,
        on_shutdown=shutdown,
    )
    app.state.portal = portal
    # The one switch the admin API and the handlers share, its closing kept in portal.db.
    app.state.district_tier = DistrictTierSwitch(app.state.readiness.district_tier == "open", portal.conn)
    return app
