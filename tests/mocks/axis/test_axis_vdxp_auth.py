"""The SDK face's replay memory (pure, no server)."""

from __future__ import annotations

from mocks.axis.vdxp_auth import ReplayGuard, jar_hex_forms


def test_a_signature_is_refused_the_second_time_within_the_window_and_forgotten_after():
    guard = ReplayGuard(skew_s=120)
    assert guard.first_time("a", timestamp=1000.0, now=1000.0)
    assert not guard.first_time("a", timestamp=1000.0, now=1100.0)
    assert guard.first_time("b", timestamp=1100.0, now=1100.0)
    # "a" expires at 1120 (its timestamp + skew): after that the timestamp alone refuses it.
    assert guard.first_time("c", timestamp=1130.0, now=1130.0)
    assert len(guard) == 2  # "a" dropped, "b" and "c" kept
    assert not guard.first_time("b", timestamp=1100.0, now=1130.0)


def test_the_jar_s_file_hash_drops_each_byte_s_leading_zero():
    digest = bytes([0x0B, 0x00, 0xAB, 0x10])
    assert jar_hex_forms(digest) == ("0b00ab10", "b0ab10")
