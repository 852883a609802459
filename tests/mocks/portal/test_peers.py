"""The portal's audit of peer addresses per commune (``GET /admin/peers``) stays bounded."""

from __future__ import annotations

from mocks.portal.peers import MAX_ADDRESSES, PeerAudit


def test_each_commune_keeps_its_addresses_and_counts_past_the_cap():
    audit = PeerAudit()
    audit.record("00004", "127.10.0.4")
    audit.record("00004", "127.10.0.4")
    for n in range(MAX_ADDRESSES + 3):  # an office behind many addresses: only the first few are kept
        audit.record("00070", f"10.0.0.{n}")
    report = audit.report()
    assert report["communes"]["00004"] == {"addresses": ["127.10.0.4"], "requests": 2, "overflow_requests": 0}
    assert len(report["communes"]["00070"]["addresses"]) == MAX_ADDRESSES
    assert report["communes"]["00070"]["overflow_requests"] == 3
    assert report["communes_seen"] == 2 and report["distinct_addresses"] == 1 + MAX_ADDRESSES
