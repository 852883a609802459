"""Building and signing edXML packages (enveloped XML-DSig, ECDSA-SHA256; the signature is
written by :func:`kernel.edxml.xmldsig.sign_enveloped`, the one profile the axis accepts)."""

from __future__ import annotations

import base64
import datetime as dt

from lxml import etree

from kernel.edxml.envelope import (
    EDXML_NS,
    DocumentEnvelope,
    validate_envelope,
)
from kernel.edxml.xmldsig import sign_enveloped
from kernel.pki import AgencyCredential


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
    for recipient in envelope.recipients:
        _sub(_sub(message, "To"), "OrganId", recipient)
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
    root = _to_tree(envelope, timestamp or dt.datetime.now(dt.UTC))
    sign_enveloped(root, credential.private_key, credential.certificate)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
