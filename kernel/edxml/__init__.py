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
everything read after verification comes from the *signed* content (the tree the
digest was computed over, signature removed), never from anything outside it — so
signature wrapping cannot smuggle fields in. Packages are signed with signxml and
verified by a strict verifier of that one profile (:mod:`kernel.edxml.xmldsig`,
checked against signxml in the tests). Every rejection is an :class:`EdxmlError` with a snake_case ``code`` and the
dotted ``field`` it concerns.
"""

from kernel.edxml.building import build_package
from kernel.edxml.envelope import (
    DEFAULT_MAX_BYTES,
    EDXML_NS,
    ERROR_CODES,
    Attachment,
    DocumentEnvelope,
    EdxmlError,
    VerifiedDocument,
    make_document_id,
    validate_envelope,
)
from kernel.edxml.verification import parse_and_verify

__all__ = [
    "Attachment",
    "DEFAULT_MAX_BYTES",
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
