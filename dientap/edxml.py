"""Signed edXML packages: the document format of the national document axis.

A faithful-but-small subset of the QCVN 102:2016 edXML envelope (namespace
``http://www.mic.gov.vn/TBT/QCVN_102_2016``), signed with an enveloped XML signature
(XML-DSig, ECDSA-SHA256, exclusive c14n, the signer's certificate in ``KeyInfo``)::

    <edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
      <edXMLEnvelope>
        <edXMLHeader>
          <MessageHeader>
            <From><OrganId>000.00.00.G22</OrganId><OrganName>Văn phòng Chính phủ</OrganName></From>
            <To><OrganId>000.00.00.H26</OrganId></To>            (one or more)
            <Code><CodeNumber>7816</CodeNumber><CodeNotation>VPCP-TTĐT</CodeNotation></Code>
            <PromulgationInfo><PlaceName>Hà Nội</PlaceName><PromulgationDate>2025/07/01</PromulgationDate></PromulgationInfo>
            <DocumentType><TypeName>Công văn</TypeName></DocumentType>
            <Subject>...</Subject>
            <OtherInfo><Priority>0</Priority></OtherInfo>      (0 normal … 4 timed express)
            <DocumentId>000.00.00.G22,2025/07/01,7816/VPCP-TTĐT</DocumentId>
          </MessageHeader>
          <TraceHeaderList>
            <TraceHeader><OrganId>000.00.00.G22</OrganId><Timestamp>2025/07/01 08:00:00</Timestamp></TraceHeader>
            <Bussiness><BussinessDocType>0</BussinessDocType></Bussiness>   (sic, as in the standard)
          </TraceHeaderList>
        </edXMLHeader>
      </edXMLEnvelope>
      <AttachmentEncoded>                                      (optional)
        <Attachment><ContentId>1</ContentId><ContentType>application/pdf</ContentType>
          <AttachmentName>cv.pdf</AttachmentName><ContentTransferEncoded>base64…</ContentTransferEncoded></Attachment>
      </AttachmentEncoded>
      <ds:Signature>…</ds:Signature>                           (enveloped, covers everything else)
    </edXML>

Left out on purpose (the mock enforces no rule on them): From/To addresses, e-mail,
phone, ``OrganizationInCharge``; ``DocumentType/Type`` codes; ``Content``,
``SignerInfo``, ``DueDate``, ``ToPlaces``, ``SteeringType``, the rest of ``OtherInfo``;
``ResponseFor``; ``edXMLBody``/``edXMLManifest`` (attachments are carried inline
instead). Unknown elements are ignored when reading, but the signature covers them.

Parsing is hardened: no DTD, no entity expansion, no network, size-capped, and
everything read after verification comes from the *signed* bytes (signxml's
``signed_xml``), never from the unsigned tree — so signature wrapping cannot smuggle
fields in. Every rejection is an :class:`EdxmlError` with a snake_case ``code`` and the
dotted ``field`` it concerns.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import re
import threading
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.verifier import SignatureConfiguration

from dientap.pki import AgencyCredential, agency_code_of

__all__ = [
    "Attachment",
    "DocumentEnvelope",
    "EDXML_NS",
    "ERROR_CODES",
    "EdxmlError",
    "VerifiedDocument",
    "build_package",
    "make_document_id",
    "parse_and_verify",
    "validate_envelope",
]

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
    the package without its signature): equal documents have equal digests whatever
    their signature bytes, so it serves to tell a true retry from a conflicting reuse
    of a message id. ``signature_verified`` is ``False`` only under the planted
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


# --------------------------------------------------------------------------- writing


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{EDXML_NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def _to_tree(envelope: DocumentEnvelope, timestamp: dt.datetime) -> etree._Element:
    root = etree.Element(f"{{{EDXML_NS}}}edXML", nsmap={None: EDXML_NS})
    header = _sub(_sub(root, "edXMLEnvelope"), "edXMLHeader")
    message = _sub(header, "MessageHeader")
    sender = _sub(message, "From")
    _sub(sender, "OrganId", envelope.sender_code)
    _sub(sender, "OrganName", envelope.sender_name)
    for code in envelope.recipients:
        _sub(_sub(message, "To"), "OrganId", code)
    code = _sub(message, "Code")
    _sub(code, "CodeNumber", envelope.code_number)
    _sub(code, "CodeNotation", envelope.code_notation)
    promulgation = _sub(message, "PromulgationInfo")
    _sub(promulgation, "PlaceName", envelope.promulgation_place)
    _sub(promulgation, "PromulgationDate", f"{envelope.promulgation_date:%Y/%m/%d}")
    _sub(_sub(message, "DocumentType"), "TypeName", envelope.document_type)
    _sub(message, "Subject", envelope.subject)
    _sub(_sub(message, "OtherInfo"), "Priority", str(envelope.priority))
    _sub(message, "DocumentId", envelope.message_id)
    traces = _sub(header, "TraceHeaderList")
    trace = _sub(traces, "TraceHeader")
    _sub(trace, "OrganId", envelope.sender_code)
    _sub(trace, "Timestamp", f"{timestamp:%Y/%m/%d %H:%M:%S}")
    _sub(_sub(traces, "Bussiness"), "BussinessDocType", str(envelope.business_type))
    if envelope.attachments:
        encoded = _sub(root, "AttachmentEncoded")
        for index, attachment in enumerate(envelope.attachments, start=1):
            item = _sub(encoded, "Attachment")
            _sub(item, "ContentId", str(index))
            _sub(item, "ContentType", attachment.content_type)
            _sub(item, "AttachmentName", attachment.name)
            _sub(item, "ContentTransferEncoded", base64.b64encode(attachment.data).decode("ascii"))
    return root


def build_package(
    envelope: DocumentEnvelope,
    credential: AgencyCredential,
    *,
    timestamp: dt.datetime | None = None,
    validate: bool = True,
) -> bytes:
    """Serialise ``envelope`` and sign it as ``credential`` (enveloped XML-DSig, ECDSA-SHA256).

    ``timestamp`` goes to ``TraceHeader/Timestamp`` (default: now, UTC). ``validate=False``
    lets drills build packages that break a field rule; the result is still validly signed.
    """
    if validate:
        validate_envelope(envelope)
    root = _to_tree(envelope, timestamp or dt.datetime.now(dt.timezone.utc))
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(root, key=credential.private_key, cert=[credential.certificate])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


# --------------------------------------------------------------------------- reading

_parsers = threading.local()


def _parser(allow_entities: bool) -> etree.XMLParser:
    # lxml parsers are cheap to reuse but not to share across threads.
    attr = "unsafe" if allow_entities else "safe"
    parser = getattr(_parsers, attr, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=allow_entities,
            load_dtd=allow_entities,
            no_network=True,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,  # exclusive c14n without comments ignores them anyway
            remove_pis=True,
            collect_ids=False,
        )
        setattr(_parsers, attr, parser)
    return parser


def _parse(data: bytes, allow_entities: bool) -> etree._Element:
    # Refuse a DTD before libxml2 reads it: nothing in edXML needs one, and a
    # declaration is how billion-laughs and XXE payloads start.
    if not allow_entities and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
        raise EdxmlError("forbidden_dtd", "DTDs and entity declarations are not allowed in edXML")
    try:
        root = etree.fromstring(data, parser=_parser(allow_entities))
    except etree.XMLSyntaxError as exc:
        raise EdxmlError("malformed_xml", f"not well-formed XML: {str(exc)[:200]}") from None
    if not allow_entities:
        # The byte check misses a DTD in UTF-16 and other encodings; the parsed tree does not.
        docinfo = root.getroottree().docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
            raise EdxmlError("forbidden_dtd", "DTDs and entity declarations are not allowed in edXML")
        if any(True for _ in root.iter(etree.Entity)):
            raise EdxmlError("forbidden_dtd", "entity references are not allowed in edXML")
    return root


def _q(name: str) -> str:
    return f"{{{EDXML_NS}}}{name}"


def _optional(parent: etree._Element, name: str, path: str) -> etree._Element | None:
    found = parent.findall(_q(name))
    if len(found) > 1:
        raise _invalid(path, f"element {name} must appear once, found {len(found)}")
    return found[0] if found else None


def _one(parent: etree._Element, name: str, path: str) -> etree._Element:
    element = _optional(parent, name, path)
    if element is None:
        raise EdxmlError("missing_element", f"required element {name} is missing", path)
    return element


def _text(parent: etree._Element, name: str, path: str) -> str:
    element = _one(parent, name, path)
    if len(element):
        raise _invalid(path, "must contain text only, not child elements")
    return element.text or ""


def _int(text: str, path: str, high: int) -> int:
    if len(text) != 1 or not "0" <= text <= str(high):
        raise _invalid(path, f"must be an integer from 0 to {high}, got {text!r:.20}")
    return int(text)


def _date(text: str, path: str) -> dt.date:
    try:
        if not re.fullmatch(r"\d{4}/\d{2}/\d{2}", text):
            raise ValueError
        return dt.date(int(text[:4]), int(text[5:7]), int(text[8:]))
    except ValueError:
        raise _invalid(path, f"must be a date yyyy/mm/dd, got {text!r:.40}") from None


def _read_envelope(root: etree._Element) -> DocumentEnvelope:
    """Read and validate the envelope fields from a (signed) edXML tree."""
    if root.tag != _q("edXML"):
        raise EdxmlError("missing_element", f"root element must be edXML in namespace {EDXML_NS}", "edXML")
    header = _one(_one(root, "edXMLEnvelope", "edXMLEnvelope"), "edXMLHeader", "edXMLEnvelope.edXMLHeader")
    message = _one(header, "MessageHeader", "MessageHeader")
    sender = _one(message, "From", "MessageHeader.From")
    recipients = []
    to_elements = message.findall(_q("To"))
    if not to_elements:
        raise EdxmlError("missing_element", "at least one To element is required", "MessageHeader.To[0]")
    if len(to_elements) > _MAX_RECIPIENTS:
        raise _invalid(_F_TO, f"at most {_MAX_RECIPIENTS} recipients, got {len(to_elements)}")
    for index, element in enumerate(to_elements):
        recipients.append(_text(element, "OrganId", f"{_F_TO}[{index}].OrganId"))
    code = _one(message, "Code", "MessageHeader.Code")
    promulgation = _one(message, "PromulgationInfo", "MessageHeader.PromulgationInfo")
    other_info = _one(message, "OtherInfo", "MessageHeader.OtherInfo")
    business = _one(_one(header, "TraceHeaderList", "TraceHeaderList"), "Bussiness", "TraceHeaderList.Bussiness")
    attachments = []
    encoded = _optional(root, "AttachmentEncoded", "AttachmentEncoded")
    if encoded is not None:
        items = encoded.findall(_q("Attachment"))
        if len(items) > _MAX_ATTACHMENTS:
            raise _invalid("AttachmentEncoded", f"at most {_MAX_ATTACHMENTS} attachments, got {len(items)}")
        for index, item in enumerate(items):
            path = f"{_F_ATTACHMENT}[{index}]"
            value = _text(item, "ContentTransferEncoded", f"{path}.ContentTransferEncoded")
            try:
                data = binascii.a2b_base64("".join(value.split()), strict_mode=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"{path}.ContentTransferEncoded", "must be base64") from None
            attachments.append(
                Attachment(
                    name=_text(item, "AttachmentName", f"{path}.AttachmentName"),
                    content_type=_text(item, "ContentType", f"{path}.ContentType"),
                    data=data,
                )
            )
    envelope = DocumentEnvelope(
        message_id=_text(message, "DocumentId", _F_DOCID),
        sender_code=_text(sender, "OrganId", _F_SENDER),
        sender_name=_text(sender, "OrganName", _F_SENDER_NAME),
        recipients=recipients,
        code_number=_text(code, "CodeNumber", _F_NUMBER),
        code_notation=_text(code, "CodeNotation", _F_NOTATION),
        promulgation_place=_text(promulgation, "PlaceName", _F_PLACE),
        promulgation_date=_date(_text(promulgation, "PromulgationDate", _F_DATE), _F_DATE),
        document_type=_text(_one(message, "DocumentType", "MessageHeader.DocumentType"), "TypeName", _F_TYPE),
        subject=_text(message, "Subject", _F_SUBJECT),
        priority=_int(_text(other_info, "Priority", _F_PRIORITY), _F_PRIORITY, 4),
        business_type=_int(_text(business, "BussinessDocType", _F_BUSINESS), _F_BUSINESS, 3),
        attachments=attachments,
    )
    validate_envelope(envelope)
    return envelope


# --------------------------------------------------------------------------- verifying

# Certificates already proven to be issued by a trusted CA, keyed by (CA fingerprint,
# base64 text as sent). A hit skips base64 decoding, DER parsing and one ECDSA
# verification; validity dates are still checked against ``now`` on every call.
_trusted_certs: dict[tuple[bytes, str], tuple[x509.Certificate, str]] = {}
_TRUSTED_CACHE_LIMIT = 20_000
_F_CERT = "Signature.KeyInfo.X509Data.X509Certificate"


def _untrusted(message: str) -> EdxmlError:
    return EdxmlError("untrusted_certificate", message, _F_CERT)


def _signer_certificate(signature: etree._Element, trusted_ca: x509.Certificate) -> tuple[x509.Certificate, str]:
    certs = signature.findall(f"{{{_DSIG_NS}}}KeyInfo/{{{_DSIG_NS}}}X509Data/{{{_DSIG_NS}}}X509Certificate")
    if len(certs) != 1:
        raise _untrusted(f"exactly one signer certificate is required, found {len(certs)}")
    text = certs[0].text or ""
    key = (trusted_ca.fingerprint(hashes.SHA256()), text)
    hit = _trusted_certs.get(key)
    if hit is not None:
        return hit
    try:
        cert = x509.load_der_x509_certificate(binascii.a2b_base64("".join(text.split()), strict_mode=True))
    except (binascii.Error, ValueError):
        raise _untrusted("the signer certificate is not a DER X.509 certificate") from None
    try:
        cert.verify_directly_issued_by(trusted_ca)
    except (ValueError, TypeError, InvalidSignature):
        raise _untrusted("the signer certificate is not issued by the trusted dry-run CA") from None
    code = agency_code_of(cert)
    if code is None:
        raise _untrusted("the signer certificate names no agency (or is a CA)")
    if len(_trusted_certs) >= _TRUSTED_CACHE_LIMIT:
        _trusted_certs.clear()
    _trusted_certs[key] = (cert, code)
    return cert, code


def _check_validity(cert: x509.Certificate, now: dt.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise EdxmlError(
            "certificate_not_yet_valid",
            f"the signer certificate is valid from {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}",
            _F_CERT,
        )
    if now > cert.not_valid_after_utc:
        raise EdxmlError(
            "certificate_expired",
            f"the signer certificate expired at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
            _F_CERT,
        )


def _verify(root: etree._Element, trusted_ca: x509.Certificate, now: dt.datetime) -> tuple[etree._Element, str, str]:
    """Check the enveloped signature; return (signed tree, digest, signer agency code)."""
    signatures = root.findall(_SIG_TAG)
    nested = sum(1 for _ in root.iter(_SIG_TAG)) - len(signatures)
    if not signatures and not nested:
        raise EdxmlError("missing_signature", "the package carries no enveloped XML signature", "Signature")
    if len(signatures) != 1 or nested:
        raise EdxmlError("bad_signature", "exactly one Signature, as a direct child of edXML, is required", "Signature")
    cert, code = _signer_certificate(signatures[0], trusted_ca)
    _check_validity(cert, now)
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        verification_time=now,
    )
    try:
        result = XMLVerifier().verify(root, x509_cert=cert, parser=_parser(False), expect_config=config)
    except Exception as exc:  # signxml raises a zoo (InvalidSignature, InvalidInput, DocumentInvalid, KeyError …)
        reason = f"{type(exc).__name__}: {str(exc)[:160]}"
        raise EdxmlError("bad_signature", f"signature does not verify: {reason}", "Signature") from None
    references = result.signature_xml.findall(f"{{{_DSIG_NS}}}SignedInfo/{{{_DSIG_NS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != "" or result.signed_xml is None:
        raise EdxmlError("bad_signature", 'the signature must cover the whole package (Reference URI="")', "Signature")
    return result.signed_xml, hashlib.sha256(result.signed_data).hexdigest(), code


def _unsigned_digest(root: etree._Element) -> str:
    # Same bytes signxml digests for an enveloped URI="" reference with exclusive c14n.
    stripped = copy.deepcopy(root)
    for signature in list(stripped.iter(_SIG_TAG)):
        signature.getparent().remove(signature)
    return hashlib.sha256(etree.tostring(stripped, method="c14n", exclusive=True, with_comments=False)).hexdigest()


def parse_and_verify(
    data: bytes,
    *,
    trusted_ca: x509.Certificate,
    now: dt.datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify_signature: bool = True,
    allow_entities: bool = False,
) -> VerifiedDocument:
    """Parse an edXML package safely, verify its signature and return its envelope.

    Checks, in order: size (``too_large``), well-formedness (``malformed_xml``), no DTD
    or entities (``forbidden_dtd``), one enveloped signature (``missing_signature`` /
    ``bad_signature``), a signer certificate issued by ``trusted_ca``
    (``untrusted_certificate``) and valid at ``now`` (``certificate_expired`` /
    ``certificate_not_yet_valid``), the signature itself (``bad_signature``), the
    envelope fields read from the *signed* content (``missing_element`` /
    ``invalid_field``), and that the certificate's agency is the sender
    (``signer_mismatch``).

    .. danger:: ``verify_signature=False`` and ``allow_entities=True`` are PLANTED
       WEAKNESSES for the security drills of a deliberately ``vulnerable`` mock on
       loopback. The first accepts unsigned and forged packages; the second lets
       libxml2 load the DTD and expand entities, including ``file://`` external
       entities (XXE; the network stays off). Never enable them anywhere else.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise EdxmlError("too_large", f"package is {len(data)} bytes, the limit is {max_bytes}")
    root = _parse(data, allow_entities)
    if root.tag != _q("edXML"):
        raise EdxmlError("missing_element", f"root element must be edXML in namespace {EDXML_NS}", "edXML")
    if now is None:
        now = dt.datetime.now(dt.timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    if not verify_signature:
        envelope = _read_envelope(root)
        return VerifiedDocument(envelope, envelope.sender_code, _unsigned_digest(root), signature_verified=False)
    signed_root, digest, signer_code = _verify(root, trusted_ca, now)
    envelope = _read_envelope(signed_root)
    if signer_code != envelope.sender_code:
        raise EdxmlError(
            "signer_mismatch",
            f"signed by {signer_code}, but the sender is {envelope.sender_code}",
            _F_SENDER,
        )
    return VerifiedDocument(envelope, signer_code, digest)
