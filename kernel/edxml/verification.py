"""Reading packages safely and verifying their signature, certificate and sender."""

from __future__ import annotations

import binascii
import copy
import datetime as dt
import hashlib
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from lxml import etree

from kernel.edxml.envelope import (
    _DSIG_NS,
    _F_ATTACHMENT,
    _F_BUSINESS,
    _F_DATE,
    _F_DOCID,
    _F_NOTATION,
    _F_NUMBER,
    _F_PLACE,
    _F_PRIORITY,
    _F_SENDER,
    _F_SENDER_NAME,
    _F_SUBJECT,
    _F_TO,
    _F_TYPE,
    _MAX_ATTACHMENTS,
    _MAX_RECIPIENTS,
    _SIG_TAG,
    DEFAULT_MAX_BYTES,
    EDXML_NS,
    Attachment,
    DocumentEnvelope,
    EdxmlError,
    VerifiedDocument,
    _invalid,
    validate_envelope,
)
from kernel.edxml.xmldsig import NotWholeDocument, SignatureInvalid, verify_enveloped
from kernel.pki import agency_code_of
from kernel.safe_xml import UnsafeXml, parse_untrusted


def _parse(data: bytes, allow_entities: bool, max_bytes: int) -> etree._Element:
    # The hardened parser every XML face shares (kernel.safe_xml): no DTD, no entities,
    # no network, size-capped.
    try:
        return parse_untrusted(data, what="edXML", max_bytes=max_bytes, allow_entities=allow_entities)
    except UnsafeXml as exc:
        raise EdxmlError(exc.code, exc.message) from None


_TAGS: dict[str, str] = {}
_TRACE_TAG = f"{{{EDXML_NS}}}TraceHeader"


def _q(name: str) -> str:
    tag = _TAGS.get(name)
    if tag is None:
        tag = _TAGS[name] = f"{{{EDXML_NS}}}{name}"
    return tag


class _Node:
    """An element with its children grouped by tag in one pass.

    Reading the envelope asks each parent for several children by name; one pass over
    the children and dictionary look-ups cost a fraction of a tree query per field
    (findall() goes through lxml's Python path engine, which made reading the envelope
    cost as much as checking the signature).
    """

    __slots__ = ("_children", "element")

    def __init__(self, element: etree._Element):
        self.element = element
        children: dict[object, list[etree._Element]] = {}
        for child in element:
            children.setdefault(child.tag, []).append(child)
        self._children = children

    def all(self, name: str) -> list[etree._Element]:
        return self._children.get(_q(name), [])

    def optional(self, name: str, path: str) -> etree._Element | None:
        found = self._children.get(_q(name))
        if not found:
            return None
        if len(found) > 1:
            raise _invalid(path, f"element {name} must appear once, found {len(found)}")
        return found[0]

    def one(self, name: str, path: str) -> etree._Element:
        element = self.optional(name, path)
        if element is None:
            raise EdxmlError("missing_element", f"required element {name} is missing", path)
        return element

    def node(self, name: str, path: str) -> _Node:
        return _Node(self.one(name, path))

    def text(self, name: str, path: str) -> str:
        element = self.one(name, path)
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
    top = _Node(root)
    header = top.node("edXMLEnvelope", "edXMLEnvelope").node("edXMLHeader", "edXMLEnvelope.edXMLHeader")
    message = header.node("MessageHeader", "MessageHeader")
    sender = message.node("From", "MessageHeader.From")
    recipients = []
    to_elements = message.all("To")
    if not to_elements:
        raise EdxmlError("missing_element", "at least one To element is required", "MessageHeader.To[0]")
    if len(to_elements) > _MAX_RECIPIENTS:
        raise _invalid(_F_TO, f"at most {_MAX_RECIPIENTS} recipients, got {len(to_elements)}")
    for index, element in enumerate(to_elements):
        recipients.append(_Node(element).text("OrganId", f"{_F_TO}[{index}].OrganId"))
    code = message.node("Code", "MessageHeader.Code")
    promulgation = message.node("PromulgationInfo", "MessageHeader.PromulgationInfo")
    other_info = message.node("OtherInfo", "MessageHeader.OtherInfo")
    business = header.node("TraceHeaderList", "TraceHeaderList").node("Bussiness", "TraceHeaderList.Bussiness")
    attachments = []
    encoded = top.optional("AttachmentEncoded", "AttachmentEncoded")
    if encoded is not None:
        items = _Node(encoded).all("Attachment")
        if len(items) > _MAX_ATTACHMENTS:
            raise _invalid("AttachmentEncoded", f"at most {_MAX_ATTACHMENTS} attachments, got {len(items)}")
        for index, element in enumerate(items):
            path = f"{_F_ATTACHMENT}[{index}]"
            item = _Node(element)
            value = item.text("ContentTransferEncoded", f"{path}.ContentTransferEncoded")
            try:
                data = binascii.a2b_base64("".join(value.split()), strict_mode=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"{path}.ContentTransferEncoded", "must be base64") from None
            attachments.append(
                Attachment(
                    name=item.text("AttachmentName", f"{path}.AttachmentName"),
                    content_type=item.text("ContentType", f"{path}.ContentType"),
                    data=data,
                )
            )
    envelope = DocumentEnvelope(
        message_id=message.text("DocumentId", _F_DOCID),
        sender_code=sender.text("OrganId", _F_SENDER),
        sender_name=sender.text("OrganName", _F_SENDER_NAME),
        recipients=recipients,
        code_number=code.text("CodeNumber", _F_NUMBER),
        code_notation=code.text("CodeNotation", _F_NOTATION),
        promulgation_place=promulgation.text("PlaceName", _F_PLACE),
        promulgation_date=_date(promulgation.text("PromulgationDate", _F_DATE), _F_DATE),
        document_type=message.node("DocumentType", "MessageHeader.DocumentType").text("TypeName", _F_TYPE),
        subject=message.text("Subject", _F_SUBJECT),
        priority=_int(other_info.text("Priority", _F_PRIORITY), _F_PRIORITY, 4),
        business_type=_int(business.text("BussinessDocType", _F_BUSINESS), _F_BUSINESS, 3),
        attachments=attachments,
    )
    validate_envelope(envelope)
    return envelope


# --------------------------------------------------------------------------- verifying

# Certificates already proven to be issued by a trusted CA, keyed by (CA certificate,
# base64 text as sent). A hit skips base64 decoding, DER parsing and one ECDSA
# verification; validity dates are still checked against ``now`` on every call.
_trusted_certs: dict[tuple[x509.Certificate, str], tuple[x509.Certificate, str, object]] = {}
_TRUSTED_CACHE_LIMIT = 20_000
_F_CERT = "Signature.KeyInfo.X509Data.X509Certificate"


def _untrusted(message: str) -> EdxmlError:
    return EdxmlError("untrusted_certificate", message, _F_CERT)


def _signer_certificate(
    signature: etree._Element, trusted_ca: x509.Certificate
) -> tuple[x509.Certificate, str, object]:
    """The signer's certificate, agency code and public key, once proven issued by ``trusted_ca``."""
    certs = [
        cert
        for key_info in signature.iterchildren(f"{{{_DSIG_NS}}}KeyInfo")
        for data in key_info.iterchildren(f"{{{_DSIG_NS}}}X509Data")
        for cert in data.iterchildren(f"{{{_DSIG_NS}}}X509Certificate")
    ]
    if len(certs) != 1:
        raise _untrusted(f"exactly one signer certificate is required, found {len(certs)}")
    text = certs[0].text or ""
    key = (trusted_ca, text)  # certificates compare by their DER: another CA is another key
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
    entry = _trusted_certs[key] = (cert, code, cert.public_key())
    return entry


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
    signatures = list(root.iterchildren(_SIG_TAG))
    nested = sum(1 for _ in root.iter(_SIG_TAG)) - len(signatures)
    if not signatures and not nested:
        raise EdxmlError("missing_signature", "the package carries no enveloped XML signature", "Signature")
    if len(signatures) != 1 or nested:
        raise EdxmlError("bad_signature", "exactly one Signature, as a direct child of edXML, is required", "Signature")
    cert, code, public_key = _signer_certificate(signatures[0], trusted_ca)
    _check_validity(cert, now)
    try:
        signed = verify_enveloped(root, signatures[0], public_key)
    except NotWholeDocument as exc:
        raise EdxmlError(
            "bad_signature", f'the signature must cover the whole package (Reference URI=""): {exc}', "Signature"
        ) from None
    except SignatureInvalid as exc:
        raise EdxmlError("bad_signature", f"signature does not verify: {exc}", "Signature") from None
    return root, content_digest(signed, root), code


def content_digest(canonical: bytes, root: etree._Element) -> str:
    """SHA-256 (hex) of ``canonical`` — the exclusive c14n of ``root`` without its signature
    — with the routing trace cut out.

    A ``TraceHeader`` says who passed the package on and when (its ``Timestamp`` is the
    moment the package was built), not what the document says: a sender's retry built a
    second later carries a new one and must still be the same document — a duplicate, not
    a message-id conflict. Each trace header is cut from the canonical bytes as its one
    ``<p:TraceHeader …>…</p:TraceHeader>`` span: canonical XML escapes every ``<`` in text
    and attribute values, so the first end tag after a start tag is the element's own
    (unless it nests itself, which no valid package does, and which still gives the same
    digest for the same bytes). The bytes are the ones the signature check already
    canonicalised, so no second tree is copied or canonicalised.
    """
    names = {node.prefix for node in root.iter(_TRACE_TAG)}
    for prefix in names:
        name = re.escape(f"{prefix}:TraceHeader" if prefix else "TraceHeader").encode()
        canonical = re.sub(rb"<" + name + rb"[\s>].*?</" + name + rb">", b"", canonical, flags=re.DOTALL)
    return hashlib.sha256(canonical).hexdigest()


def _unsigned_digest(root: etree._Element) -> str:
    # Same bytes signxml digests for an enveloped URI="" reference with exclusive c14n.
    stripped = copy.deepcopy(root)
    for signature in list(stripped.iter(_SIG_TAG)):
        parent = signature.getparent()
        if parent is not None:  # always: the root is edXML, never a Signature
            parent.remove(signature)
    return content_digest(etree.tostring(stripped, method="c14n", exclusive=True, with_comments=False), stripped)


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
    root = _parse(data, allow_entities, max_bytes)
    if root.tag != _q("edXML"):
        raise EdxmlError("missing_element", f"root element must be edXML in namespace {EDXML_NS}", "edXML")
    if now is None:
        now = dt.datetime.now(dt.UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
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

