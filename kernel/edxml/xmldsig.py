"""Strict verification of the one XML-DSig profile edXML packages are signed with here.

signxml verifies any XML signature, and pays for that generality: it serialises and
re-parses the package about six times per call, which was two thirds of the document
axis's cost per send. Packages built by :func:`kernel.edxml.build_package` (signxml's
enveloped signer) always have the same shape, so this module verifies exactly that
shape and refuses everything else:

    <ds:Signature>                       a direct child of the root, the only one
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="…xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="…xmldsig-more#ecdsa-sha256"/>
        <ds:Reference URI="">            the whole document
          <ds:Transforms>
            <ds:Transform Algorithm="…xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="…xml-exc-c14n#"/>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="…xmlenc#sha256"/>
          <ds:DigestValue>…</ds:DigestValue>
      <ds:SignatureValue>r‖s, base64</ds:SignatureValue>
      <ds:KeyInfo>…</ds:KeyInfo>

Signing is the same profile in the other direction (:func:`sign_enveloped`), for the same
reason: signxml's general signer serialised and re-parsed each package several times, and
building and signing edXML packages was ≈ 13 % of the load generator's busy time under the
national profile (py-spy; bench/edxml_sign.py measures the two signers side by side). The
signer writes exactly the shape above and nothing else.

Nothing cryptographic is hand-written: canonicalisation is libxml2's (through lxml),
hashing hashlib's and the ECDSA check cryptography's. What is ours is the shape check,
and a strict shape is the point — no optional transforms, no XPath, no second reference,
no ``InclusiveNamespaces``: nothing for a wrapping attack to hide in. The tests check
this verifier against signxml's on every package shape they build and on mutated ones, and
this signer's packages against signxml's verifier.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

__all__ = ["SignatureInvalid", "NotWholeDocument", "verify_enveloped", "sign_enveloped"]

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

_SIGNATURE_SHAPE = ("SignedInfo", "SignatureValue", "KeyInfo")
_SIGNED_INFO_SHAPE = ("CanonicalizationMethod", "SignatureMethod", "Reference")
_REFERENCE_SHAPE = ("Transforms", "DigestMethod", "DigestValue")
_TRANSFORMS = (ENVELOPED, EXC_C14N)


class SignatureInvalid(Exception):
    """The signature is malformed, outside the profile, or does not verify."""


class NotWholeDocument(SignatureInvalid):
    """The signature's reference is not ``URI=""``: it would vouch for part of the package only."""


@functools.cache
def _tags(shape: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{{{DSIG_NS}}}{name}" for name in shape)


def _children(element: etree._Element, shape: tuple[str, ...]) -> list[etree._Element]:
    children = list(element)
    if tuple(child.tag for child in children) != _tags(shape):
        names = [etree.QName(c).localname if etree.QName(c).namespace == DSIG_NS else str(c.tag) for c in children]
        here = etree.QName(element).localname
        raise SignatureInvalid(f"{here} must contain exactly {', '.join(shape)}, found {', '.join(names) or 'nothing'}")
    for child in children:
        if child.tail and child.tail.strip():
            raise SignatureInvalid(f"text after {etree.QName(child).localname} is not allowed")
    return children


def _algorithm(element: etree._Element, expected: str) -> None:
    name = etree.QName(element).localname
    if len(element) or (element.text or "").strip():
        raise SignatureInvalid(f"{name} must be empty (no parameters are accepted)")
    if len(element.attrib) != 1 or element.get("Algorithm") != expected:
        raise SignatureInvalid(f"{name} must be {expected!r}, found {element.get('Algorithm')!r}")


def _base64(element: etree._Element) -> bytes:
    if len(element):
        raise SignatureInvalid(f"{etree.QName(element).localname} must contain base64 text only")
    try:
        return binascii.a2b_base64("".join((element.text or "").split()), strict_mode=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid(f"{etree.QName(element).localname} is not base64") from None


def _check_signature_value(signed_info: etree._Element, value: bytes, public_key: ec.EllipticCurvePublicKey) -> None:
    # XML-DSig carries ECDSA signatures as r‖s (RFC 4050/6931), cryptography wants DER.
    size = (public_key.curve.key_size + 7) // 8
    if len(value) != 2 * size:
        raise SignatureInvalid(f"SignatureValue must be {2 * size} bytes for {public_key.curve.name}, got {len(value)}")
    der = encode_dss_signature(int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big"))
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    try:
        public_key.verify(der, canonical, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureInvalid("SignatureValue does not match SignedInfo") from None


def _detach(parent: etree._Element, signature: etree._Element) -> None:
    # The enveloped-signature transform removes the Signature element, not the text
    # after it; lxml's remove() would take that tail along, so hand it to the neighbour.
    tail = signature.tail
    previous = signature.getprevious()
    parent.remove(signature)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def verify_enveloped(root: etree._Element, signature: etree._Element, public_key: object) -> bytes:
    """Verify ``signature`` (a direct child of ``root``) over ``root`` and detach it.

    On success ``root`` no longer contains the signature — it is exactly the signed
    content — and the canonical bytes that were digested are returned. Raises
    :class:`SignatureInvalid` (or :class:`NotWholeDocument`) otherwise; after a failed
    digest check ``root`` has lost its signature too, so discard it.
    """
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise SignatureInvalid("the signer certificate's key is not an ECDSA key")
    if signature.getparent() is not root:
        raise SignatureInvalid("the Signature must be a direct child of the root element")
    signed_info, signature_value, _key_info = _children(signature, _SIGNATURE_SHAPE)
    c14n_method, signature_method, reference = _children(signed_info, _SIGNED_INFO_SHAPE)
    _algorithm(c14n_method, EXC_C14N)
    _algorithm(signature_method, ECDSA_SHA256)
    if dict(reference.attrib) != {"URI": ""}:
        raise NotWholeDocument(f"the Reference must be URI=\"\" with no other attribute, found {dict(reference.attrib)}")
    transforms, digest_method, digest_value = _children(reference, _REFERENCE_SHAPE)
    found = _children(transforms, ("Transform",) * len(_TRANSFORMS))
    for transform, algorithm in zip(found, _TRANSFORMS, strict=True):
        _algorithm(transform, algorithm)
    _algorithm(digest_method, SHA256)
    expected_digest = _base64(digest_value)
    # SignedInfo first: a package whose digest matches but whose SignedInfo was not
    # signed by this key is refused before any work on the (untrusted) body.
    _check_signature_value(signed_info, _base64(signature_value), public_key)
    _detach(root, signature)  # checked above: root is its parent
    signed = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    if not hmac.compare_digest(hashlib.sha256(signed).digest(), expected_digest):
        raise SignatureInvalid("the package's digest does not match DigestValue (the package was changed after signing)")
    return signed


def _ds(parent: etree._Element, name: str, algorithm: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{DSIG_NS}}}{name}")
    if algorithm is not None:
        element.set("Algorithm", algorithm)
    return element


def _certificate_text(certificate: x509.Certificate) -> str:
    # The PEM body, line breaks kept, as signxml writes X509Certificate.
    pem = certificate.public_bytes(Encoding.PEM).decode("ascii")
    return "".join(line + "\n" for line in pem.splitlines() if not line.startswith("-----"))


def sign_enveloped(root: etree._Element, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
    """Sign ``root`` in place: append the enveloped ``ds:Signature`` of the one profile above
    (exclusive c14n of the whole document, SHA-256, ECDSA-SHA256 as r‖s, the certificate in
    KeyInfo). ``root`` must not hold a signature yet."""
    digest = hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True, with_comments=False)).digest()
    signature = etree.SubElement(root, f"{{{DSIG_NS}}}Signature", nsmap={"ds": DSIG_NS})
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", EXC_C14N)
    _ds(signed_info, "SignatureMethod", ECDSA_SHA256)
    reference = _ds(signed_info, "Reference")
    reference.set("URI", "")
    transforms = _ds(reference, "Transforms")
    for algorithm in _TRANSFORMS:
        _ds(transforms, "Transform", algorithm)
    _ds(reference, "DigestMethod", SHA256)
    _ds(reference, "DigestValue").text = base64.b64encode(digest).decode("ascii")
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    r, s = decode_dss_signature(private_key.sign(canonical, ec.ECDSA(hashes.SHA256())))
    size = (private_key.curve.key_size + 7) // 8
    _ds(signature, "SignatureValue").text = base64.b64encode(r.to_bytes(size, "big") + s.to_bytes(size, "big")).decode("ascii")
    _ds(_ds(_ds(signature, "KeyInfo"), "X509Data"), "X509Certificate").text = _certificate_text(certificate)
