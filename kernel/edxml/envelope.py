"""The edXML envelope: its fields, its rules, and the errors every refusal raises."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
_DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_SIG_TAG = f"{{{_DSIG_NS}}}Signature"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

ERROR_CODES = (
    "malformed_xml",
    "forbidden_dtd",
    "missing_element",
    "invalid_field",
    "missing_signature",
    "bad_signature",
    "untrusted_certificate",
    "certificate_expired",
    "certificate_not_yet_valid",
    "signer_mismatch",
    "too_large",
)
"""Every :attr:`EdxmlError.code`, each a rule name."""

_STATUS = {"malformed_xml": 400, "forbidden_dtd": 400, "too_large": 413}


class EdxmlError(ValueError):
    """A package was refused. ``code`` names the rule (one of :data:`ERROR_CODES`),
    ``field`` the dotted element path (``MessageHeader.To[0].OrganId``) or ``None``."""

    def __init__(self, code: str, message: str, field: str | None = None):
        self.code = code
        self.field = field
        self.message = message
        super().__init__(f"{code}: {message}" if field is None else f"{code}: {field}: {message}")

    @property
    def http_status(self) -> int:
        """The status the axis mock answers with: 400 for unparseable input, 413 when too
        large, 422 for a well-formed package that breaks a rule."""
        return _STATUS.get(self.code, 422)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried inline (base64) in ``AttachmentEncoded``."""

    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(slots=True)
class DocumentEnvelope:
    """The fields of one edXML document that the axis acts on.

    ``message_id`` is the QCVN DocumentId, ``<sender>,<yyyy/mm/dd>,<number>/<notation>``
    (see :func:`make_document_id`). ``priority``: 0 normal, 1 urgent, 2 very urgent,
    3 express, 4 timed express. ``business_type``: 0 new, 1 revoke, 2 update, 3 replace.
    """

    message_id: str
    sender_code: str
    sender_name: str
    recipients: list[str]
    code_number: str
    code_notation: str
    promulgation_place: str
    promulgation_date: dt.date
    document_type: str
    subject: str
    priority: int = 0
    business_type: int = 0
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VerifiedDocument:
    """A package that passed :func:`parse_and_verify`.

    ``digest`` is the SHA-256 (hex) of the canonical signed content (exclusive c14n of
    the package without its signature) less its routing trace (the ``TraceHeader``
    elements: who passed it on, when it was built): equal documents have equal digests
    whatever their signature bytes and whenever they were built, so it serves to tell a
    true retry from a conflicting reuse of a message id. ``signature_verified`` is ``False`` only under the planted
    ``verify_signature=False`` weakness, and then ``signer_code`` is merely the
    *claimed* sender code.
    """

    envelope: DocumentEnvelope
    signer_code: str
    digest: str
    signature_verified: bool = True


def make_document_id(sender: str, date: dt.date, number: str | int, notation: str) -> str:
    """The QCVN DocumentId, e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``."""
    return f"{sender},{date:%Y/%m/%d},{number}/{notation}"


# --------------------------------------------------------------------------- rules

_AGENCY_CODE = re.compile(r"[0-9A-Z]+(?:\.[0-9A-Z]+)*")
_CODE_NUMBER = re.compile(r"[0-9A-Za-z]{1,20}")
# Characters XML 1.0 cannot carry, plus U+FFFE/U+FFFF; surrogates cannot be encoded.
_NON_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_MAX_RECIPIENTS = 5000
_MAX_ATTACHMENTS = 50

# Dotted paths of the envelope fields, as reported in EdxmlError.field.
_F_SENDER = "MessageHeader.From.OrganId"
_F_SENDER_NAME = "MessageHeader.From.OrganName"
_F_TO = "MessageHeader.To"
_F_NUMBER = "MessageHeader.Code.CodeNumber"
_F_NOTATION = "MessageHeader.Code.CodeNotation"
_F_PLACE = "MessageHeader.PromulgationInfo.PlaceName"
_F_DATE = "MessageHeader.PromulgationInfo.PromulgationDate"
_F_TYPE = "MessageHeader.DocumentType.TypeName"
_F_SUBJECT = "MessageHeader.Subject"
_F_PRIORITY = "MessageHeader.OtherInfo.Priority"
_F_DOCID = "MessageHeader.DocumentId"
_F_BUSINESS = "TraceHeaderList.Bussiness.BussinessDocType"
_F_ATTACHMENT = "AttachmentEncoded.Attachment"


def _invalid(path: str, message: str) -> EdxmlError:
    return EdxmlError("invalid_field", message, path)


def _check_text(value: object, path: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise _invalid(path, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _invalid(path, "must not be empty")
    if len(value) > max_len:
        raise _invalid(path, f"must be at most {max_len} characters, got {len(value)}")
    if _NON_XML.search(value):
        raise _invalid(path, "contains a control character XML cannot carry")
    return value


def _check_agency_code(value: object, path: str) -> None:
    if not isinstance(value, str) or len(value) > 35 or not _AGENCY_CODE.fullmatch(value):
        raise _invalid(path, f"must be an agency identifier code (dot-separated 0-9A-Z groups, ≤35), got {value!r:.60}")


def _check_int(value: object, path: str, high: int) -> None:
    if type(value) is not int or not 0 <= value <= high:
        raise _invalid(path, f"must be an integer from 0 to {high}, got {value!r:.20}")


def validate_envelope(envelope: DocumentEnvelope) -> None:
    """Raise :class:`EdxmlError` (``invalid_field``) naming the first field that breaks a rule."""
    _check_agency_code(envelope.sender_code, _F_SENDER)
    _check_text(envelope.sender_name, _F_SENDER_NAME, 250)
    if not isinstance(envelope.recipients, list) or not envelope.recipients:
        raise _invalid(_F_TO, "at least one recipient is required")
    if len(envelope.recipients) > _MAX_RECIPIENTS:
        raise _invalid(_F_TO, f"at most {_MAX_RECIPIENTS} recipients, got {len(envelope.recipients)}")
    seen: set[str] = set()
    for index, code in enumerate(envelope.recipients):
        path = f"{_F_TO}[{index}].OrganId"
        _check_agency_code(code, path)
        if code in seen:
            raise _invalid(path, f"recipient {code} is listed twice")
        seen.add(code)
    if not isinstance(envelope.code_number, str) or not _CODE_NUMBER.fullmatch(envelope.code_number):
        raise _invalid(_F_NUMBER, f"must be 1-20 letters or digits, got {envelope.code_number!r:.40}")
    notation = _check_text(envelope.code_notation, _F_NOTATION, 50)
    if "," in notation or notation != notation.strip() or any(ch.isspace() for ch in notation):
        raise _invalid(_F_NOTATION, "must not contain commas or whitespace (it is part of the DocumentId)")
    _check_text(envelope.promulgation_place, _F_PLACE, 250)
    if type(envelope.promulgation_date) is not dt.date:
        raise _invalid(_F_DATE, f"must be a date, got {type(envelope.promulgation_date).__name__}")
    _check_text(envelope.document_type, _F_TYPE, 250)
    _check_text(envelope.subject, _F_SUBJECT, 2000)
    _check_int(envelope.priority, _F_PRIORITY, 4)
    _check_int(envelope.business_type, _F_BUSINESS, 3)
    expected = make_document_id(
        envelope.sender_code, envelope.promulgation_date, envelope.code_number, envelope.code_notation
    )
    if envelope.message_id != expected:
        got = f"{envelope.message_id!r:.120}"
        raise _invalid(_F_DOCID, f"must be sender,yyyy/mm/dd,number/notation = {expected!r}, got {got}")
    if not isinstance(envelope.attachments, list) or len(envelope.attachments) > _MAX_ATTACHMENTS:
        raise _invalid("AttachmentEncoded", f"must be a list of at most {_MAX_ATTACHMENTS} attachments")
    for index, attachment in enumerate(envelope.attachments):
        path = f"{_F_ATTACHMENT}[{index}]"
        name = _check_text(attachment.name, f"{path}.AttachmentName", 255)
        # A file name, never a path: recipients may store attachments under it.
        if any(ch in name for ch in "/\\") or name in {".", ".."}:
            raise _invalid(f"{path}.AttachmentName", "must be a file name without / or \\")
        if not isinstance(attachment.content_type, str) or not _CONTENT_TYPE.fullmatch(attachment.content_type):
            got = f"{attachment.content_type!r:.60}"
            raise _invalid(f"{path}.ContentType", f"must be a MIME type like application/pdf, got {got}")
        if not isinstance(attachment.data, bytes):
            raise _invalid(f"{path}.ContentTransferEncoded", "must be bytes")
