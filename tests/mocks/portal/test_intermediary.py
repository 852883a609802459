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


def test_an_undeliverable_callback_gives_up_after_max_attempts():
    """The retry loop sends traffic, so it is bounded: a dead portal ends it after N tries."""
    import asyncio
    import socket
    import time

    from mocks.portal.intermediary import PaymentIntermediary

    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/payments/callback"

    async def main() -> tuple[int, int, float]:
        intermediary = PaymentIntermediary(callback_key("s"), 0.0, max_attempts=3, timeout_s=0.5)
        started = time.monotonic()
        intermediary.schedule(dead_url, "PAY1", "00004-260701-000001", 8000)
        while intermediary.in_flight:
            await asyncio.sleep(0.05)
            assert time.monotonic() - started < 10, "the retry loop did not stop"
        await intermediary.aclose()
        return intermediary.delivered, intermediary.in_flight, time.monotonic() - started

    delivered, in_flight, took = asyncio.run(main())
    assert (delivered, in_flight) == (0, 0)
    assert took >= 0.2 + 0.4  # it did back off between its three attempts
