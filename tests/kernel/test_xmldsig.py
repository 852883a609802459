"""The strict XML-DSig verifier, checked against signxml's general one.

signxml stays the reference: whatever the strict verifier accepts, signxml must accept
too, with the same signed bytes; and the shapes outside the profile that signxml would
accept, the strict verifier refuses by name.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import assume, given, settings
from hypothesis import strategies as st
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

from kernel.edxml import Attachment, DocumentEnvelope, EdxmlError, build_package, make_document_id, parse_and_verify
from kernel.edxml.verification import content_digest
from kernel.edxml.xmldsig import NotWholeDocument, SignatureInvalid, verify_enveloped
from kernel.pki import AgencyCredential, DryRunCA

SENDER = "000.00.00.G22"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"ds": DS}
NOW = dt.datetime.now(dt.UTC)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True)


@functools.cache
def _ca() -> DryRunCA:
    return DryRunCA.create_ephemeral()


def _credential() -> AgencyCredential:
    return _ca().issue(SENDER)


def _envelope(recipients: int = 2, attachments: int = 1, subject: str = "Về việc diễn tập") -> DocumentEnvelope:
    today = dt.date(2025, 7, 1)
    return DocumentEnvelope(
        message_id=make_document_id(SENDER, today, "12", "VPCP-TTĐT"),
        sender_code=SENDER,
        sender_name="Văn phòng Chính phủ",
        recipients=["000.00.00.H26", "H26.00004", "000.00.00.H01"][:recipients],
        code_number="12",
        code_notation="VPCP-TTĐT",
        promulgation_place="Hà Nội",
        promulgation_date=today,
        document_type="Công văn",
        subject=subject,
        priority=1,
        attachments=[Attachment(f"phu-luc-{i}.pdf", "application/pdf", bytes(range(i, 200))) for i in range(attachments)],
    )


def strict(data: bytes) -> bytes:
    """Verify with the strict verifier; the canonical signed bytes."""
    root = etree.fromstring(data, PARSER)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    return verify_enveloped(root, signature, _credential().certificate.public_key())


def general(data: bytes) -> bytes:
    """Verify with signxml (one reference, any algorithm it supports); the signed bytes."""
    config = SignatureConfiguration(expect_references=1, signature_methods=frozenset(SignatureMethod),
                                    digest_algorithms=frozenset(DigestAlgorithm))
    result = XMLVerifier().verify(data, x509_cert=_credential().certificate, expect_config=config)
    return result.signed_data


def _resign(data: bytes, **options: object) -> bytes:
    root = etree.fromstring(data, PARSER)
    root.remove(root.find("ds:Signature", NS))
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=options.pop("signature_algorithm", SignatureMethod.ECDSA_SHA256),
        digest_algorithm=options.pop("digest_algorithm", DigestAlgorithm.SHA256),
        c14n_algorithm=options.pop("c14n_algorithm", CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0),
    )
    key = options.pop("key", _credential().private_key)
    signed = signer.sign(root, key=key, cert=[_credential().certificate], **options)
    return etree.tostring(signed)


@pytest.mark.parametrize(("recipients", "attachments"), [(1, 0), (2, 1), (3, 3)])
def test_both_verifiers_accept_built_packages_and_digest_the_same_bytes(recipients: int, attachments: int) -> None:
    data = build_package(_envelope(recipients, attachments), _credential())
    signed = strict(data)
    assert signed == general(data)
    assert b"Signature" not in signed and b"<OrganId>000.00.00.H26</OrganId>" in signed


@pytest.mark.parametrize(("recipients", "attachments"), [(1, 0), (3, 2)])
def test_our_signer_writes_what_signxml_s_signer_writes_but_the_ecdsa_value(recipients: int, attachments: int) -> None:
    # ECDSA signatures are randomised: everything else — the shape, the digest, KeyInfo — must
    # be byte for byte what signxml's enveloped signer writes for the same document.
    ours = build_package(_envelope(recipients, attachments), _credential())
    theirs = _resign(ours)
    value = re.compile(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>")
    assert value.sub(b"", etree.tostring(etree.fromstring(ours, PARSER))) == value.sub(b"", theirs)
    assert value.search(ours) is not None


@settings(max_examples=40, deadline=None)
@given(subject=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=80))
def test_both_verifiers_agree_on_any_subject_text(subject: str) -> None:
    assume(subject.strip())
    data = build_package(_envelope(subject=subject), _credential())
    assert strict(data) == general(data)


@functools.cache
def _built() -> bytes:
    return build_package(_envelope(), _credential())


@settings(max_examples=300, deadline=None)
@given(offset=st.integers(0, 10**9), byte=st.integers(0, 255))
def test_whatever_the_axis_accepts_signxml_accepts(offset: int, byte: int) -> None:
    """Single-byte mutations anywhere, signature and certificate included: strict ⊆ general.

    Through the axis's whole check (certificate from KeyInfo, issued by the trusted CA),
    since that is what decides; the digest it reports is of signxml's signed bytes (less
    the routing trace, as the axis's digest always is).
    """
    data = _built()
    position = offset % len(data)
    mutated = data[:position] + bytes([byte]) + data[position + 1 :]
    try:
        accepted = parse_and_verify(mutated, trusted_ca=_ca().certificate, now=NOW)
    except EdxmlError:
        return
    signed = general(mutated)
    assert accepted.digest == content_digest(signed, etree.fromstring(signed, PARSER))


def test_text_after_the_signature_is_covered() -> None:
    """The enveloped transform removes the Signature element, not the text that follows it."""
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    root.find("ds:Signature", NS).tail = "forged"
    data = etree.tostring(root)
    with pytest.raises(SignatureInvalid, match="digest does not match"):
        strict(data)
    with pytest.raises(Exception):  # signxml's InvalidDigest
        general(data)


def test_the_signature_may_sit_anywhere_among_the_roots_children() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    root.insert(0, root.find("ds:Signature", NS))
    data = etree.tostring(root)
    assert strict(data) == general(data)


def test_a_changed_signed_info_fails_the_signature_check() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    digest = root.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue", NS)
    digest.text = "A" * 43 + "="
    with pytest.raises(SignatureInvalid, match="SignatureValue does not match SignedInfo"):
        strict(etree.tostring(root))


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"c14n_algorithm": CanonicalizationMethod.CANONICAL_XML_1_1}, "CanonicalizationMethod must be"),
        ({"digest_algorithm": DigestAlgorithm.SHA512}, "DigestMethod must be"),
        ({"signature_algorithm": SignatureMethod.ECDSA_SHA512}, "SignatureMethod must be"),
    ],
)
def test_profiles_signxml_accepts_are_refused_by_name(options: dict, refusal: str) -> None:
    data = _resign(build_package(_envelope(), _credential()), **options)
    general(data)  # a valid signature in general …
    with pytest.raises(SignatureInvalid, match=refusal):  # … but not the profile edXML uses here
        strict(data)


def test_a_partial_reference_is_refused_as_not_whole() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    root.remove(root.find("ds:Signature", NS))
    root[0].set("Id", "part")
    signer = XMLSigner(method=SignatureConstructionMethod.enveloped, signature_algorithm=SignatureMethod.ECDSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    data = etree.tostring(signer.sign(root, key=_credential().private_key, cert=[_credential().certificate],
                                      reference_uri="#part"))
    with pytest.raises(NotWholeDocument, match='URI=""'):
        strict(data)


def test_extra_elements_in_the_signature_are_refused() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    signature = root.find("ds:Signature", NS)
    etree.SubElement(signature, f"{{{DS}}}Object").text = "smuggled"
    with pytest.raises(SignatureInvalid, match="Signature must contain exactly SignedInfo, SignatureValue, KeyInfo"):
        strict(etree.tostring(root))
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    transforms = root.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NS)
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
    with pytest.raises(SignatureInvalid, match="Transforms must contain exactly Transform, Transform"):
        strict(etree.tostring(root))


def test_a_non_ecdsa_key_is_refused() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(SignatureInvalid, match="not an ECDSA key"):
        verify_enveloped(root, root.find("ds:Signature", NS), rsa_key)


def test_a_signature_that_is_not_a_direct_child_is_refused() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    signature = root.find("ds:Signature", NS)
    root[0].append(signature)
    with pytest.raises(SignatureInvalid, match="direct child"):
        verify_enveloped(root, signature, _credential().certificate.public_key())


def test_a_short_signature_value_is_refused_with_its_length() -> None:
    root = etree.fromstring(build_package(_envelope(), _credential()), PARSER)
    root.find("ds:Signature/ds:SignatureValue", NS).text = "AAAA"
    with pytest.raises(SignatureInvalid, match="SignatureValue must be 64 bytes for secp256r1, got 3"):
        strict(etree.tostring(root))
