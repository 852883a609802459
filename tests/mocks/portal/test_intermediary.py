"""Payment callback signatures."""

from __future__ import annotations

from mocks.portal.intermediary import callback_key, sign, signature_valid


def test_signature_round_trip_and_tamper_detection():
    key = callback_key("secret")
    body = b'{"payment_id":"PAY1","amount_vnd":8000}'
    header = sign(key, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_valid(key, body, header)
    assert not signature_valid(key, body.replace(b"8000", b"9000"), header)
    assert not signature_valid(callback_key("other secret"), body, header)
    assert not signature_valid(key, body, None)
    assert not signature_valid(key, body, "")
