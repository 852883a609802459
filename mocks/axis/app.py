"""The document-axis service: endpoints, state and :func:`create_app`."""

from __future__ import annotations

from starlette.applications import Starlette

from kernel.pki import DryRunCA
from kernel.service_limits import ServiceLimits
from mocks.axis import routes, vdxp
from mocks.axis.directory import build_directory
from mocks.axis.inbox import MAX_PULL_LIMIT
from mocks.axis.schemas import (
    ACK_SCHEMA,
    AGENCY_PAGE_SCHEMA,
    DOCUMENT_ACCEPTED_SCHEMA,
    DOCUMENT_SCHEMA,
    INBOX_SCHEMA,
    RECEIPT_LIST_SCHEMA,
    RECEIPT_SCHEMA,
    TOKEN_SCHEMA,
    ReceiptRequest,
    TokenRequest,
)
from mocks.axis.service import AxisContext
from mocks.axis.store import AxisStore
from mocks.axis.store_files import read_stored_file, seed_store
from mocks.core.app import Endpoint, Param, build_service_app
from mocks.core.district_tier import DistrictTierSwitch, district_tier_endpoints
from mocks.core.limits import limits_endpoint
from mocks.core.readiness import load_readiness
from mocks.core.settings import ServiceSettings
from mocks.core.store import GroupCommit, WalCheckpointer, open_database
from mocks.core.tokens import TokenIssuer

__all__ = ["DEFAULT_LOSSY_ONE_IN", "SERVICE_NAME", "create_app", "endpoints"]

SERVICE_NAME = "axis"
DEFAULT_LOSSY_ONE_IN = 50  # share of documents the planted `lossy_axis` defect drops


def endpoints() -> list[Endpoint]:
    """The axis routes (the common /healthz, /metrics, /admin/* come from the core)."""
    docs = ("documents",)
    inbox = ("inbox",)
    return [
        Endpoint("POST", "/auth/token", routes.issue_token, "Client-credentials token of an agency system",
                 TokenRequest, TOKEN_SCHEMA, tags=("auth",)),
        Endpoint("GET", "/agencies", routes.list_agencies, "The agency directory (open and closed agencies)",
                 response_schema=AGENCY_PAGE_SCHEMA, tags=("directory",),
                 params=(Param("province", schema={"type": "string", "pattern": "^[0-9]{2}$"}),
                         Param("status", schema={"enum": ["open", "closed"]}),
                         Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
                         Param("cursor", schema={"type": "integer", "minimum": 0, "maximum": 10**9}))),
        Endpoint("POST", "/documents", routes.send_document, "Send a signed edXML package",
                 response_schema=DOCUMENT_ACCEPTED_SCHEMA, auth="bearer", tags=docs,
                 request_content_type="application/xml", success_status=201),
        Endpoint("GET", "/documents/{document_id}", routes.get_document,
                 "Read a document (its sender and recipients only)", response_schema=DOCUMENT_SCHEMA,
                 auth="bearer", tags=docs),
        Endpoint("POST", "/documents/{document_id}/receipts", routes.send_receipt,
                 "Send a status receipt (recipients only)", ReceiptRequest, RECEIPT_SCHEMA, auth="bearer",
                 tags=docs, success_status=201),
        Endpoint("GET", "/documents/{document_id}/receipts", routes.list_receipts,
                 "Receipts of a document (sender: all; recipient: its own)", response_schema=RECEIPT_LIST_SCHEMA,
                 auth="bearer", tags=docs),
        Endpoint("GET", "/inbox", routes.pull_inbox, "Pull and lease the next deliveries of the calling agency",
                 response_schema=INBOX_SCHEMA, auth="bearer", tags=inbox,
                 params=(Param("cursor", schema={"type": "integer", "minimum": 0, "maximum": 2**62},
                               description="next_cursor of the previous pull (0 or absent: from the start)"),
                         Param("limit", schema={"type": "integer", "minimum": 1, "maximum": MAX_PULL_LIMIT}))),
        Endpoint("GET", "/store/{name}", read_stored_file,
                 "A file of the document store (dossier attachments the portal may fetch)", tags=("store",),
                 params=(Param("name", "path", True, {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"}),),
                 response_content_type="application/octet-stream"),
        Endpoint("POST", "/inbox/{delivery_id}/ack", routes.ack_delivery, "Acknowledge a delivery (idempotent)",
                 response_schema=ACK_SCHEMA, auth="bearer", tags=inbox,
                 params=(Param("delivery_id", "path", True, {"type": "integer", "minimum": 1}),)),
    ]


def create_app(settings: ServiceSettings, *, lossy_one_in: int = DEFAULT_LOSSY_ONE_IN) -> Starlette:
    """The document-axis app: SQLite at ``<data_dir>/axis.db``, dry-run CA at ``<data_dir>/pki/``.

    ``lossy_one_in`` only matters with the planted ``lossy_axis`` defect: one document in
    that many (chosen by a hash of its message id) is acknowledged but never stored.
    """
    if lossy_one_in < 1:
        raise ValueError(f"lossy_one_in must be ≥ 1, got {lossy_one_in}")
    conn = open_database(settings.data_dir / "axis.db")
    seed_store(settings.data_dir)
    group = GroupCommit(conn)
    store = AxisStore(conn, group=group)
    ca = DryRunCA.load_or_create(settings.data_dir / "pki")
    issuer = TokenIssuer(settings.dry_run_secret, "dientap-axis", "axis", settings.token_ttl_s)
    ctx = AxisContext(
        settings=settings,
        directory=build_directory(),
        store=store,
        trusted_ca=ca.certificate,
        issuer=issuer,
        visibility_s=settings.inbox_visibility_s,
        lossy_one_in=lossy_one_in,
        district_tier=DistrictTierSwitch(load_readiness(settings.readiness_file).district_tier == "open", conn),
    )

    def ledger() -> dict[str, object]:
        snapshot = store.ledger()
        return {
            "counts": store.counts(),
            "ids": {
                "documents": list(snapshot.documents),
                "receipts": list(snapshot.receipts),
                "deliveries_acked": list(snapshot.deliveries_acked),
                "deliveries_pending": list(snapshot.deliveries_pending),
            },
        }

    checkpointers: list[WalCheckpointer] = []

    def startup(_app: Starlette) -> None:
        checkpointers.append(WalCheckpointer(conn))

    def shutdown(_app: Starlette) -> None:
        while checkpointers:
            checkpointers.pop().close()
        conn.close()

    # The SDK face (``/vdxp/*``, mocks.axis.vdxp) is mounted on the same app, over the same context.
    app = build_service_app(SERVICE_NAME, settings, [*endpoints(), *vdxp.endpoints(), *district_tier_endpoints(),
                             limits_endpoint(ServiceLimits(service=SERVICE_NAME, token_ttl_s=settings.token_ttl_s))],
                            ledger,
                            store_sizes=store.counts, on_startup=startup, on_shutdown=shutdown)
    app.state.axis = ctx
    app.state.district_tier = ctx.district_tier  # the one switch the admin API and the handlers share
    app.state.vdxp = vdxp.VdxpState(ctx)
    return app
