"""The axis's service layer: what every face does once it knows its caller.

Admitting an agency (closed agencies, readiness, agency-scoped faults), accepting a signed
package (the checks of ``mocks/axis/README.md``), reading a document, sending a receipt.
The native REST handlers (:mod:`mocks.axis.routes`) and the SDK face
(:mod:`mocks.axis.vdxp`) both call these, so a rule lives in one place and a record
written through one face is the record the other sees. Refusals are
:class:`~mocks.core.errors.ApiError`; each face renders them in its own error form.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from starlette.requests import Request

from kernel.districts import district_tier
from kernel.edxml import EdxmlError, parse_and_verify
from kernel.roster import load_roster
from mocks.axis.directory import Agency, AgencyDirectory, AgencyLevel
from mocks.axis.receipts import ReceiptCode, ReceiptRuleError
from mocks.axis.records import AcceptedDocument, MessageIdConflict, NewDocument, Receipt, StoredDocument, document_id_for
from mocks.axis.store import AxisStore
from mocks.core.district_tier import DistrictTierSwitch
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.settings import ServiceSettings
from mocks.core.tokens import TokenIssuer

__all__ = [
    "AxisContext",
    "accept_package",
    "agency_scope",
    "check_recipient",
    "enter_as",
    "no_such_document",
    "readable_document",
    "record_receipt",
]

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
    # Closed from the start unless the readiness profile opens the old tier (mocks.core.district_tier).
    district_tier: DistrictTierSwitch = field(default_factory=lambda: DistrictTierSwitch(False))

    def weak(self, name: str) -> bool:
        """Whether planted weakness ``name`` is enabled (security drills only)."""
        return name in self.settings.vulnerable


def _not_connected(agency: Agency) -> ApiError:
    return ApiError(
        503,
        "province_not_connected",
        f"province {agency.province_code} is not yet connected to the document axis",
        None,
        {"Retry-After": _RETRY_AFTER_S},
    )


async def agency_scope(request: Request, agency: Agency) -> None:
    """Apply agency-scoped faults and the readiness profile for ``agency``."""
    await enter_scope(request, province=agency.province_code, agency=agency.code)
    if agency.province_code and not request.app.state.readiness.province(agency.province_code).axis_connected:
        raise _not_connected(agency)


async def enter_as(request: Request, agency: Agency, field: str | None = None) -> Agency:
    """Admit an authenticated ``agency``: refused when closed (403), then its faults and
    readiness apply (every face, once the caller is known)."""
    if not agency.is_open:
        raise ApiError(403, "agency_closed", f"agency {agency.code} is closed: {agency.closed_reason}", field)
    await agency_scope(request, agency)
    return agency


def _lossy_drop(ctx: AxisContext, message_id: str) -> bool:
    """PLANTED DEFECT ``lossy_axis``: drop 1 in ``lossy_one_in`` documents, by message id."""
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % ctx.lossy_one_in == 0


def _recipient_closed(agency: Agency, field: str) -> ApiError:
    """422 ``recipient_closed``; for a district committee, naming its successor communes'
    agency codes (``successors``, by the synthesized rule of :mod:`kernel.districts`)."""
    district = district_tier().by_agency(agency.code) if agency.level is AgencyLevel.DISTRICT else None
    if district is None:
        return ApiError(422, "recipient_closed", f"recipient {agency.code} is closed: {agency.closed_reason}", field)
    successors = list(district_tier().successor_agencies(district, load_roster()))
    return ApiError(422, "recipient_closed",
                    f"recipient {agency.code} is closed: {agency.closed_reason}; address its successors: "
                    + ", ".join(successors), field, extra={"successors": successors})


def _check_recipients(ctx: AxisContext, recipients: list[str]) -> tuple[str, ...]:
    unique: dict[str, None] = {}
    for i, code in enumerate(recipients):
        field = f"MessageHeader.To[{i}].OrganId"
        agency = ctx.directory.get(code)
        if agency is None:
            raise ApiError(422, "unknown_recipient", f"recipient {code} is not registered on the axis", field)
        if not agency.is_open and not (agency.level is AgencyLevel.DISTRICT and ctx.district_tier.is_open):
            raise _recipient_closed(agency, field)
        unique[code] = None
    return tuple(unique)


async def accept_package(
    ctx: AxisContext, sender: Agency, body: bytes, *, business_type: int | None = None, business_field: str = ""
) -> AcceptedDocument:
    """Verify a signed package sent by ``sender`` and store it (every face's send).

    The rules of the table in ``mocks/axis/README.md``, in order; ``business_type``, when
    given, must be the package's ``BussinessDocType`` (an error naming ``business_field``).
    A duplicate answers the original with ``duplicate=True``, even where a recipient rule would now refuse it.
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
            f"the package is sent by {envelope.sender_code}, but the caller is {sender.code} (its token, or its signed systemId)",
            "MessageHeader.From.OrganId",
        )
    message_id = envelope.message_id
    if ctx.weak("replay_accepted"):  # PLANTED WEAKNESS: every send is a new message, replays included
        message_id = f"{message_id}#{uuid.uuid4().hex[:8]}"
    try:
        try:
            recipients = _check_recipients(ctx, envelope.recipients)
        except ApiError:
            # A duplicate is answered as the stored document whatever changed since (a
            # recipient closed, say): a retry must learn that its first send was accepted.
            # Looked up only when a recipient rule refuses: the write finds every other one.
            duplicate = ctx.store.find_duplicate(sender.code, message_id, verified.digest)
            if duplicate is not None:
                return duplicate
            raise
        if ctx.weak("lossy_axis") and _lossy_drop(ctx, envelope.message_id):
            # PLANTED DEFECT: acknowledge without storing, for the lossy-axis reconciliation drill.
            document_id = document_id_for(sender.code, envelope.message_id)
            return AcceptedDocument(document_id, envelope.message_id, recipients, ctx.store.now(), False)
        return await ctx.store.accept_document_async(
            NewDocument(
                sender_code=sender.code,
                message_id=message_id,
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


def no_such_document(document_id: str, field: str = "document_id") -> ApiError:
    return ApiError(404, "unknown_document", f"no document {document_id!r} visible to this agency", field)


def readable_document(ctx: AxisContext, caller: Agency, document_id: str, field: str = "document_id") -> StoredDocument:
    """The document if ``caller`` may read it (its sender or a recipient); 404 otherwise."""
    doc = ctx.store.get_document(document_id)
    if doc is None:
        raise no_such_document(document_id, field)
    is_party = caller.code == doc.sender_code or caller.code in doc.recipient_status
    if not is_party and not ctx.weak("axis_bola"):  # axis_bola: PLANTED WEAKNESS, anyone reads
        raise no_such_document(document_id, field)
    return doc


def check_recipient(ctx: AxisContext, caller: Agency, document_id: str, field: str = "document_id") -> None:
    """Only a recipient may send a receipt: 404 unless a party, 403 for the sender."""
    parties = ctx.store.parties(document_id)
    if parties is None or (caller.code != parties[0] and caller.code not in parties[1]):
        raise no_such_document(document_id, field)
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
