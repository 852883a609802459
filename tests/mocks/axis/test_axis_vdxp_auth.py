"""The SDK face's replay memory (pure, no server)."""

from __future__ import annotations

from mocks.axis.vdxp_auth import ReplayGuard


def test_a_signature_is_refused_the_second_time_within_the_window_and_forgotten_after():
    guard = ReplayGuard(skew_s=120)
    assert guard.first_time("a", timestamp=1000.0, now=1000.0)
    assert not guard.first_time("a", timestamp=1000.0, now=1100.0)
    assert guard.first_time("b", timestamp=1100.0, now=1100.0)
    # "a" expires at 1120 (its timestamp + skew): after that the timestamp alone refuses it.
    assert guard.first_time("c", timestamp=1130.0, now=1130.0)
    assert len(guard) == 2  # "a" dropped, "b" and "c" kept
    assert not guard.first_time("b", timestamp=1100.0, now=1130.0)
