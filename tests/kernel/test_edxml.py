"""Signed edXML packages: round trip, every refusal rule, tamper-evidence, hostile XML."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from kernel.edxml import (
    EDXML_NS,
    ERROR_CODES,
    Attachment,
    DocumentEnvelope,
    EdxmlError,
    build_package,
    make_document_id,
    parse_and_verify,
)
from kernel.pki import AgencyCredential, DryRunCA, make_untrusted_ca

UTC = dt.UTC
SENDER = "000.00.00.G22"
NS = {"e": EDXML_NS, "ds": "http://www.w3.org/2000/09/xmldsig#"}
TODAY = dt.date(2025, 7, 1)


@functools.cache
def _ca() -> DryRunCA:
    # Module-wide (not a fixture) so Hypothesis tests can share it.
    return DryRunCA.create_ephemeral()


def make_envelope(**changes: object) -> DocumentEnvelope:
    fields: dict[str, object] = dict(
        sender_code=SENDER,
        sender_name="Văn phòng Chính phủ",
        recipients=["000.00.00.H26", "H26.00004"],
        code_number="7816",
        code_notation="VPCP-TTĐT",
        promulgation_place="Hà Nội",
        promulgation_date=TODAY,
        document_type="Công văn",
        subject="Về việc diễn tập vận hành chính quyền địa phương hai cấp",
        priority=1,
        business_type=0,
        attachments=[Attachment("cong-van.pdf", "application/pdf", b"%PDF-1.7 \x00\xff rehearsal")],
    )
    fields.update(changes)
    if "message_id" not in changes:
        fields["message_id"] = make_document_id(
            fields["sender_code"], fields["promulgation_date"], fields["code_number"], fields["code_notation"]  # type: ignore[arg-type]
        )
    return DocumentEnvelope(**fields)  # type: ignore[arg-type]


@functools.cache
def _package() -> bytes:
    return build_package(make_envelope(), _ca().issue(SENDER))


def verify(data: bytes, **kwargs: object) -> object:
    kwargs.setdefault("trusted_ca", _ca().certificate)
    return parse_and_verify(data, **kwargs)  # type: ignore[arg-type]


def refused(data: bytes, **kwargs: object) -> EdxmlError:
    with pytest.raises(EdxmlError) as info:
        verify(data, **kwargs)
    assert info.value.code in ERROR_CODES
    return info.value


def resign(mutate: Callable[[etree._Element], None], credential: AgencyCredential | None = None) -> bytes:
    """A *validly signed* package whose tree was changed by ``mutate`` before signing."""
    root = etree.fromstring(_package())
    for signature in root.findall("ds:Signature", NS):
        root.remove(signature)
    mutate(root)
    credential = credential or _ca().issue(SENDER)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    return etree.tostring(signer.sign(root, key=credential.private_key, cert=[credential.certificate]))


def set_text(path: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        root.find(path, NS).text = value

    return mutate


def remove(path: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        element = root.find(path, NS)
        element.getparent().remove(element)

    return mutate


def edit_bytes(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, old
    return data.replace(old, new)


HEADER = "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader"
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b']><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol9;</edXML>'
)


def xxe_package(target: Path) -> bytes:
    """The real package with a ``file://`` external entity placed in its Subject."""
    body = _package().split(b"?>", 1)[1]
    old_subject = re.search(rb"<Subject>[^<]*</Subject>", body).group(0)  # type: ignore[union-attr]
    return (
        b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY xxe SYSTEM "'
        + target.as_uri().encode()
        + b'">]>'
        + body.replace(old_subject, b"<Subject>&xxe;</Subject>")
    )


# --------------------------------------------------------------------------- round trip


def test_round_trip_returns_the_envelope_signer_and_digest() -> None:
    result = verify(_package())
    assert result.envelope == make_envelope()
    assert result.signer_code == SENDER
    assert result.signature_verified is True
    assert re.fullmatch(r"[0-9a-f]{64}", result.digest)


def test_package_uses_the_qcvn_namespace_and_element_names() -> None:
    root = etree.fromstring(_package())
    assert root.tag == f"{{{EDXML_NS}}}edXML"
    assert root.findtext(f"{HEADER}/e:DocumentId", namespaces=NS) == "000.00.00.G22,2025/07/01,7816/VPCP-TTĐT"
    assert root.findtext(f"{HEADER}/e:PromulgationInfo/e:PromulgationDate", namespaces=NS) == "2025/07/01"
    assert [e.text for e in root.findall(f"{HEADER}/e:To/e:OrganId", NS)] == ["000.00.00.H26", "H26.00004"]
    assert root.find("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS) is not None
    method = root.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
    assert method.endswith("ecdsa-sha256")


def test_make_document_id_follows_the_qcvn_form() -> None:
    assert make_document_id("000.00.00.G22", dt.date(2015, 9, 30), 7816, "VPCP-TTĐT") == (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    )


def test_digest_depends_on_content_not_on_signature_bytes() -> None:
    credential = _ca().issue(SENDER)
    stamp = dt.datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    first = build_package(make_envelope(), credential, timestamp=stamp)
    second = build_package(make_envelope(), credential, timestamp=stamp)
    other = build_package(make_envelope(subject="Khác"), credential, timestamp=stamp)
    assert first != second  # ECDSA signatures are randomized
    assert verify(first).digest == verify(second).digest
    assert verify(first).digest != verify(other).digest
    # The unverified (planted) path computes the same digest, so dedup keys agree.
    assert verify(first, verify_signature=False).digest == verify(first).digest



def test_digest_leaves_out_the_routing_trace_so_a_retry_built_later_is_the_same_document() -> None:
    credential = _ca().issue(SENDER)
    first = build_package(make_envelope(), credential, timestamp=dt.datetime(2025, 7, 1, 8, 0, 0, tzinfo=UTC))
    later = build_package(make_envelope(), credential, timestamp=dt.datetime(2025, 7, 1, 8, 0, 1, tzinfo=UTC))
    assert b"2025/07/01 08:00:00" in first and b"2025/07/01 08:00:01" in later
    assert verify(first).digest == verify(later).digest == verify(later, verify_signature=False).digest
    # Another trace entry (a relay's), under a prefix of the sender's choosing: still the same document.
    def relayed(root: etree._Element) -> None:
        traces = root.find("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList", NS)
        hop = etree.Element(f"{{{EDXML_NS}}}TraceHeader", nsmap={"t": EDXML_NS})
        etree.SubElement(hop, f"{{{EDXML_NS}}}OrganId").text = "000.00.00.G22"
        traces.insert(0, hop)
    assert verify(resign(relayed)).digest == verify(_package()).digest
    # What the document says still counts, the business type in the trace list included.
    assert verify(resign(set_text("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/e:BussinessDocType",
                                  "1"))).digest != verify(_package()).digest
    assert verify(resign(set_text("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/e:Subject", "Khác"))).digest \
        != verify(_package()).digest


_xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
).filter(str.strip)
_code = st.from_regex(r"[0-9A-Z]{1,3}(\.[0-9A-Z]{1,5}){0,3}", fullmatch=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sender=_code,
    recipients=st.lists(_code, min_size=1, max_size=4, unique=True),
    text=_xml_text,
    notation=st.from_regex(r"[A-ZĐ0-9][A-ZĐ0-9\-.]{0,15}", fullmatch=True),
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)),
    priority=st.integers(0, 4),
    business_type=st.integers(0, 3),
    blobs=st.lists(st.binary(max_size=64), max_size=3),
)
def test_any_valid_envelope_round_trips(
    sender: str,
    recipients: list[str],
    text: str,
    notation: str,
    day: dt.date,
    priority: int,
    business_type: int,
    blobs: list[bytes],
) -> None:
    envelope = make_envelope(
        sender_code=sender,
        sender_name=text,
        recipients=recipients,
        code_notation=notation,
        promulgation_date=day,
        subject=text + "\r\n" + text,
        promulgation_place=text,
        priority=priority,
        business_type=business_type,
        attachments=[Attachment(f"file{i}.bin", "application/octet-stream", blob) for i, blob in enumerate(blobs)],
    )
    result = verify(build_package(envelope, _ca().issue(sender)))
    assert result.envelope == envelope
    assert result.signer_code == sender


# --------------------------------------------------------------------------- every error code


def test_error_carries_code_field_message_and_http_status() -> None:
    error = refused(resign(set_text(f"{HEADER}/e:OtherInfo/e:Priority", "7")))
    assert (error.code, error.field) == ("invalid_field", "MessageHeader.OtherInfo.Priority")
    assert "from 0 to 4" in error.message
    assert str(error) == f"invalid_field: MessageHeader.OtherInfo.Priority: {error.message}"
    assert error.http_status == 422
    assert isinstance(error, ValueError)


def test_too_large() -> None:
    error = refused(_package(), max_bytes=1000)
    assert (error.code, error.field, error.http_status) == ("too_large", None, 413)
    assert "limit is 1000" in error.message


@pytest.mark.parametrize("data", [b"", b"<edXML", b"\xff\xfe\x00garbage", _package()[:-20]])
def test_malformed_xml(data: bytes) -> None:
    error = refused(data)
    assert (error.code, error.field, error.http_status) == ("malformed_xml", None, 400)


def test_undefined_entity_reference_is_malformed() -> None:
    data = edit_bytes(_package(), b"<Subject>", b"<Subject>&undefined;")
    assert refused(data).code == "malformed_xml"


def test_billion_laughs_is_refused_before_expansion() -> None:
    error = refused(BILLION_LAUGHS)
    assert (error.code, error.http_status) == ("forbidden_dtd", 400)

    def fastest(call: Callable[[], object], runs: int = 5) -> float:
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            with contextlib.suppress(EdxmlError):
                call()
            best = min(best, time.perf_counter() - start)
        return best

    # Refusing the bomb must cost less than verifying one ordinary package: nothing expands.
    assert fastest(lambda: verify(BILLION_LAUGHS)) < fastest(lambda: verify(_package()))


def test_xxe_file_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    error = refused(xxe_package(secret))
    assert error.code == "forbidden_dtd"
    assert "TOP-SECRET" not in str(error)


def test_dtd_hidden_in_utf16_is_refused(tmp_path: Path) -> None:
    data = xxe_package(tmp_path / "x.txt").replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    assert refused(data.decode("utf-8").encode("utf-16")).code == "forbidden_dtd"


def test_bare_doctype_is_refused() -> None:
    data = edit_bytes(_package(), b"?>", b"?><!DOCTYPE edXML>")
    assert refused(data).code == "forbidden_dtd"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (remove(f"{HEADER}/e:Subject"), "MessageHeader.Subject"),
        (remove(f"{HEADER}/e:From"), "MessageHeader.From"),
        (remove(f"{HEADER}/e:From/e:OrganId"), "MessageHeader.From.OrganId"),
        (remove(f"{HEADER}/e:Code/e:CodeNotation"), "MessageHeader.Code.CodeNotation"),
        (remove("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList"), "TraceHeaderList"),
        (remove("e:AttachmentEncoded/e:Attachment/e:ContentType"), "AttachmentEncoded.Attachment[0].ContentType"),
    ],
)
def test_missing_element(mutate: Callable[[etree._Element], None], field: str) -> None:
    error = refused(resign(mutate))
    assert (error.code, error.field) == ("missing_element", field)
    assert "missing" in error.message


def test_missing_recipients() -> None:
    def drop_to(root: etree._Element) -> None:
        for element in root.findall(f"{HEADER}/e:To", NS):
            element.getparent().remove(element)

    error = refused(resign(drop_to))
    assert (error.code, error.field) == ("missing_element", "MessageHeader.To[0]")


def test_wrong_root_element() -> None:
    data = b'<edXML xmlns="urn:not-qcvn"><x/></edXML>'
    assert (refused(data).code, refused(data).field) == ("missing_element", "edXML")


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (set_text(f"{HEADER}/e:OtherInfo/e:Priority", "5"), "MessageHeader.OtherInfo.Priority", "from 0 to 4"),
        (
            set_text("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/e:BussinessDocType", "x"),
            "TraceHeaderList.Bussiness.BussinessDocType",
            "from 0 to 3",
        ),
        (set_text(f"{HEADER}/e:To[2]/e:OrganId", "h26.00004; DROP TABLE"), "MessageHeader.To[1].OrganId", "agency identifier"),
        (set_text(f"{HEADER}/e:To[2]/e:OrganId", "000.00.00.H26"), "MessageHeader.To[1].OrganId", "listed twice"),
        (set_text(f"{HEADER}/e:From/e:OrganId", "not a code"), "MessageHeader.From.OrganId", "agency identifier"),
        (set_text(f"{HEADER}/e:PromulgationInfo/e:PromulgationDate", "2025/02/30"),
         "MessageHeader.PromulgationInfo.PromulgationDate", "yyyy/mm/dd"),
        (set_text(f"{HEADER}/e:DocumentId", "000.00.00.G22,2025/07/01,1/X"), "MessageHeader.DocumentId",
         "must be sender,yyyy/mm/dd"),
        (set_text(f"{HEADER}/e:Subject", "   "), "MessageHeader.Subject", "must not be empty"),
        (set_text(f"{HEADER}/e:Code/e:CodeNumber", "78 16"), "MessageHeader.Code.CodeNumber", "letters or digits"),
        (
            set_text("e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", "not*base64"),
            "AttachmentEncoded.Attachment[0].ContentTransferEncoded",
            "base64",
        ),
        (
            set_text("e:AttachmentEncoded/e:Attachment/e:AttachmentName", "../../etc/passwd"),
            "AttachmentEncoded.Attachment[0].AttachmentName",
            "without / or",
        ),
        (
            set_text("e:AttachmentEncoded/e:Attachment/e:ContentType", "pdf"),
            "AttachmentEncoded.Attachment[0].ContentType",
            "MIME type",
        ),
    ],
)
def test_invalid_field(mutate: Callable[[etree._Element], None], field: str, rule: str) -> None:
    error = refused(resign(mutate))
    assert (error.code, error.field) == ("invalid_field", field)
    assert rule in error.message


def test_element_repeated_or_with_children_is_invalid() -> None:
    def duplicate_subject(root: etree._Element) -> None:
        subject = root.find(f"{HEADER}/e:Subject", NS)
        subject.addnext(etree.fromstring(etree.tostring(subject)))

    def nest_in_subject(root: etree._Element) -> None:
        etree.SubElement(root.find(f"{HEADER}/e:Subject", NS), f"{{{EDXML_NS}}}b").text = "x"

    first = refused(resign(duplicate_subject))
    assert (first.code, first.field, "must appear once" in first.message) == ("invalid_field", "MessageHeader.Subject", True)
    second = refused(resign(nest_in_subject))
    assert (second.code, second.field, "text only" in second.message) == ("invalid_field", "MessageHeader.Subject", True)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority": 9}, "MessageHeader.OtherInfo.Priority"),
        ({"recipients": []}, "MessageHeader.To"),
        ({"subject": "bell\x07"}, "MessageHeader.Subject"),
        ({"message_id": "x"}, "MessageHeader.DocumentId"),
        ({"code_notation": "A,B"}, "MessageHeader.Code.CodeNotation"),
        ({"promulgation_date": dt.datetime(2025, 7, 1)}, "MessageHeader.PromulgationInfo.PromulgationDate"),
        ({"attachments": [Attachment("a", "text/plain", "str")]}, "AttachmentEncoded.Attachment[0].ContentTransferEncoded"),
    ],
)
def test_build_package_validates_the_envelope(changes: dict[str, object], field: str) -> None:
    with pytest.raises(EdxmlError) as info:
        build_package(make_envelope(**changes), _ca().issue(SENDER))
    assert (info.value.code, info.value.field) == ("invalid_field", field)


def test_build_package_without_validation_lets_drills_sign_bad_fields() -> None:
    data = build_package(make_envelope(priority=4, recipients=["X.1"], business_type=3), _ca().issue(SENDER), validate=False)
    assert verify(data).envelope.recipients == ["X.1"]
    data = build_package(make_envelope(message_id="forged-id"), _ca().issue(SENDER), validate=False)
    assert refused(data).field == "MessageHeader.DocumentId"


def test_missing_signature() -> None:
    data = re.sub(rb"<ds:Signature.*</ds:Signature>", b"", _package(), flags=re.S)
    error = refused(data)
    assert (error.code, error.field, error.http_status) == ("missing_signature", "Signature", 422)


def test_tampered_field_is_a_bad_signature() -> None:
    data = edit_bytes(_package(), "Hà Nội".encode(), "Hà Tây".encode())
    error = refused(data)
    assert (error.code, error.field) == ("bad_signature", "Signature")
    assert "does not verify" in error.message


def test_corrupt_signature_value_is_a_bad_signature() -> None:
    root = etree.fromstring(_package())
    value = root.find("ds:Signature/ds:SignatureValue", NS)
    value.text = ("B" if value.text[0] == "A" else "A") + value.text[1:]
    assert refused(etree.tostring(root)).code == "bad_signature"


def test_two_or_nested_signatures_are_bad() -> None:
    root = etree.fromstring(_package())
    signature = root.find("ds:Signature", NS)
    root.append(etree.fromstring(etree.tostring(signature)))
    assert refused(etree.tostring(root)).code == "bad_signature"
    root = etree.fromstring(_package())
    signature = root.find("ds:Signature", NS)
    root.remove(signature)
    root.find("e:edXMLEnvelope", NS).append(signature)
    error = refused(etree.tostring(root))
    assert (error.code, "direct child" in error.message) == ("bad_signature", True)


def test_signing_only_part_of_the_package_is_refused() -> None:
    """Signature wrapping: a signature over one sub-element must not vouch for the rest."""
    root = etree.fromstring(_package())
    root.remove(root.find("ds:Signature", NS))
    root.find("e:AttachmentEncoded", NS).set("Id", "part")
    credential = _ca().issue(SENDER)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(root, key=credential.private_key, cert=[credential.certificate], reference_uri="#part")
    # The header (sender, recipients, subject) is outside the signed part: forge it freely.
    signed.find(f"{HEADER}/e:Subject", NS).text = "forged"
    error = refused(etree.tostring(signed))
    assert (error.code, "whole package" in error.message) == ("bad_signature", True)


def test_untrusted_ca_is_refused_even_with_the_same_ca_name() -> None:
    forged = build_package(make_envelope(), make_untrusted_ca().issue(SENDER))
    error = refused(forged)
    assert (error.code, error.field) == ("untrusted_certificate", "Signature.KeyInfo.X509Data.X509Certificate")
    assert "not issued by the trusted" in error.message


def test_a_cached_trusted_certificate_is_not_trusted_under_another_ca() -> None:
    verify(_package())  # caches the signer certificate as trusted by _ca()
    error = refused(_package(), trusted_ca=make_untrusted_ca().certificate)
    assert error.code == "untrusted_certificate"


def test_missing_or_garbage_certificate_is_untrusted() -> None:
    root = etree.fromstring(_package())
    cert = root.find("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    cert.text = "bm90IGEgY2VydA=="
    assert refused(etree.tostring(root)).code == "untrusted_certificate"
    cert.getparent().remove(cert)
    error = refused(etree.tostring(root))
    assert (error.code, "exactly one signer certificate" in error.message) == ("untrusted_certificate", True)


def test_the_ca_itself_cannot_sign_as_an_agency() -> None:
    ca = _ca()
    as_ca = AgencyCredential(SENDER, ca._key, ca.certificate, b"", ca.certificate_pem)  # noqa: SLF001 - a drill's worst case
    error = refused(build_package(make_envelope(), as_ca))
    assert (error.code, "names no agency" in error.message) == ("untrusted_certificate", True)


def test_expired_certificate() -> None:
    credential = _ca().issue(
        SENDER, not_before=dt.datetime(2020, 1, 1, tzinfo=UTC), not_after=dt.datetime(2021, 1, 1, tzinfo=UTC)
    )
    error = refused(build_package(make_envelope(), credential))
    assert (error.code, error.field) == ("certificate_expired", "Signature.KeyInfo.X509Data.X509Certificate")
    assert "2021-01-01T00:00:00Z" in error.message
    # The same package verifies at a time inside the validity window.
    assert verify(build_package(make_envelope(), credential), now=dt.datetime(2020, 6, 1, tzinfo=UTC)).signer_code == SENDER


def test_expiry_is_checked_against_now_even_for_cached_certificates() -> None:
    verify(_package())
    error = refused(_package(), now=dt.datetime.now(UTC) + dt.timedelta(days=400))
    assert error.code == "certificate_expired"


def test_not_yet_valid_certificate() -> None:
    start = dt.datetime.now(UTC) + dt.timedelta(days=10)
    credential = _ca().issue(SENDER, not_before=start, not_after=start + dt.timedelta(days=30))
    error = refused(build_package(make_envelope(), credential))
    assert (error.code, error.field) == ("certificate_not_yet_valid", "Signature.KeyInfo.X509Data.X509Certificate")
    naive_later = (start + dt.timedelta(days=1)).replace(tzinfo=None)
    assert verify(build_package(make_envelope(), credential), now=naive_later).signer_code == SENDER


def test_signer_must_be_the_sender() -> None:
    data = build_package(make_envelope(), _ca().issue("H26.00004"))
    error = refused(data)
    assert (error.code, error.field) == ("signer_mismatch", "MessageHeader.From.OrganId")
    assert "signed by H26.00004, but the sender is 000.00.00.G22" in error.message


def test_every_error_code_is_covered_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{code}"' in source for code in ERROR_CODES)


# --------------------------------------------------------------------------- tamper properties


def _signed_region() -> tuple[int, int]:
    data = _package()
    return data.index(b"?>") + 2, data.index(b"<ds:Signature")


@settings(max_examples=300, deadline=None)
@given(offset=st.integers(0, 10**9), byte=st.integers(0, 255))
def test_any_single_byte_change_in_the_signed_content_is_rejected(offset: int, byte: int) -> None:
    start, end = _signed_region()
    position = start + offset % (end - start)
    data = _package()
    assume(data[position] != byte)
    mutated = data[:position] + bytes([byte]) + data[position + 1 :]
    # Insignificant whitespace (after the XML declaration, between an element's name and its
    # attributes) leaves the canonical document — what the signature covers — unchanged:
    # such a package *is* the signed document, and verifying it is right.
    assume(_canonical(mutated) != _canonical(data))
    with pytest.raises(EdxmlError):
        verify(mutated)


def _canonical(data: bytes) -> bytes | None:
    """Exclusive C14N of a package (None when it is not even well-formed XML)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.tostring(etree.fromstring(data, parser), method="c14n", exclusive=True)
    except etree.XMLSyntaxError:
        return None


_TEXT_FIELDS = [
    f"{HEADER}/e:From/e:OrganId",
    f"{HEADER}/e:From/e:OrganName",
    f"{HEADER}/e:To/e:OrganId",
    f"{HEADER}/e:Code/e:CodeNumber",
    f"{HEADER}/e:Code/e:CodeNotation",
    f"{HEADER}/e:PromulgationInfo/e:PlaceName",
    f"{HEADER}/e:PromulgationInfo/e:PromulgationDate",
    f"{HEADER}/e:DocumentType/e:TypeName",
    f"{HEADER}/e:Subject",
    f"{HEADER}/e:OtherInfo/e:Priority",
    f"{HEADER}/e:DocumentId",
    "e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:TraceHeader/e:Timestamp",
    "e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/e:BussinessDocType",
    "e:AttachmentEncoded/e:Attachment/e:AttachmentName",
    "e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded",
]


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(_TEXT_FIELDS), value=_xml_text)
def test_any_changed_field_reserialised_never_verifies(path: str, value: str) -> None:
    root = etree.fromstring(_package())
    element = root.find(path, NS)
    assume(element.text != value)
    element.text = value
    error = refused(etree.tostring(root))
    assert error.code == "bad_signature"


# --------------------------------------------------------------------------- planted weaknesses


def test_verify_signature_false_accepts_forgeries_and_says_so() -> None:
    forged = edit_bytes(_package(), "Hà Nội".encode(), "Hà Tây".encode())
    result = verify(forged, verify_signature=False)
    assert result.signature_verified is False
    assert result.envelope.promulgation_place == "Hà Tây"
    unsigned = re.sub(rb"<ds:Signature.*</ds:Signature>", b"", _package(), flags=re.S)
    assert verify(unsigned, verify_signature=False).signer_code == SENDER


def test_allow_entities_expands_a_file_entity(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    result = verify(xxe_package(secret), allow_entities=True, verify_signature=False)
    assert result.envelope.subject == "TOP-SECRET-CONTENT"


def test_allow_entities_still_stops_a_billion_laughs() -> None:
    assert refused(BILLION_LAUGHS, allow_entities=True).code == "malformed_xml"
