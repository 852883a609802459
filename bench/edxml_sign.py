"""Signing one edXML package: signxml's general signer ÷ the one-profile signer, same run.

    python bench/edxml_sign.py [--packages N]

Both sign the same envelope with the same agency key (enveloped XML-DSig, exclusive c14n,
ECDSA-SHA256); the figure is µs per package, best of three rounds each, and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from kernel.edxml import Attachment, DocumentEnvelope, make_document_id
from kernel.edxml.building import _to_tree
from kernel.edxml.xmldsig import sign_enveloped
from kernel.pki import DryRunCA


def _envelope() -> DocumentEnvelope:
    day = dt.date(2025, 7, 1)
    return DocumentEnvelope(
        message_id=make_document_id("000.00.00.G22", day, "7816", "VPCP-TTĐT"), sender_code="000.00.00.G22",
        sender_name="Văn phòng Chính phủ", recipients=["000.00.00.H26", "H26.00004"], code_number="7816",
        code_notation="VPCP-TTĐT", promulgation_place="Hà Nội", promulgation_date=day, document_type="Công văn",
        subject="Về việc diễn tập vận hành chính quyền địa phương hai cấp", priority=1, business_type=0,
        attachments=[Attachment("cong-van.pdf", "application/pdf", b"%PDF-1.7 " + bytes(range(256)) * 8)],
    )


def _per_package_us(sign, packages: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(packages):
            sign()
        best = min(best, (time.perf_counter() - started) / packages * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        credential = DryRunCA.load_or_create(Path(tmp)).issue("000.00.00.G22")
    envelope, now = _envelope(), dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    signer = XMLSigner(method=SignatureConstructionMethod.enveloped, signature_algorithm=SignatureMethod.ECDSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)

    def with_signxml() -> bytes:
        signed = signer.sign(_to_tree(envelope, now), key=credential.private_key, cert=[credential.certificate])
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")

    def with_ours() -> bytes:
        root = _to_tree(envelope, now)
        sign_enveloped(root, credential.private_key, credential.certificate)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    theirs, ours = _per_package_us(with_signxml, args.packages), _per_package_us(with_ours, args.packages)
    print(f"edXML package built and signed: signxml {theirs:.0f} µs, one-profile signer {ours:.0f} µs "
          f"→ {theirs / ours:.1f}× faster ({args.packages} packages × best of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
