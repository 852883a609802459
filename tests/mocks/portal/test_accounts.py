"""Sign-in rules: officer accounts and the per-account lockout."""

from __future__ import annotations

from kernel.credentials import derive_password
from mocks.portal.accounts import LoginThrottle, officer_of, password_matches


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_officer_accounts_exist_for_roster_communes_only():
    officer = officer_of("00004.officer1", 5)
    assert officer is not None and officer.commune.code == "00004" and officer.commune.province_code == "01"
    assert officer_of("00004.officer5", 5) is not None
    assert officer_of("00004.officer6", 5) is None
    assert officer_of("00004.officer0", 5) is None
    assert officer_of("99999.officer1", 5) is None
    assert officer_of("00004.officer1 ", 5) is None
    assert officer_of("admin", 5) is None


def test_password_is_derived_from_the_secret():
    assert password_matches("s", "00004.officer1", derive_password("s", "00004.officer1"))
    assert not password_matches("s", "00004.officer1", derive_password("other", "00004.officer1"))


def test_lock_after_threshold_failures_then_expires():
    clock = FakeClock()
    throttle = LoginThrottle(3, 300, clock=clock)
    assert throttle.record_failure("a") is None
    assert throttle.record_failure("a") is None
    assert throttle.record_failure("a") == 300
    clock.now += 100
    assert throttle.retry_after("a") == 200
    assert throttle.retry_after("b") is None  # per account: other accounts are unaffected
    clock.now += 201
    assert throttle.retry_after("a") is None


def test_failures_outside_the_window_do_not_count():
    clock = FakeClock()
    throttle = LoginThrottle(3, 60, clock=clock)
    throttle.record_failure("a")
    throttle.record_failure("a")
    clock.now += 61
    assert throttle.record_failure("a") is None
    assert throttle.retry_after("a") is None


def test_success_resets_the_count():
    throttle = LoginThrottle(2, 60, clock=FakeClock())
    throttle.record_failure("a")
    throttle.record_success("a")
    assert throttle.record_failure("a") is None


def test_memory_is_bounded_under_spraying():
    clock = FakeClock()
    throttle = LoginThrottle(5, 60, clock=clock, max_accounts=100)
    for i in range(1000):
        throttle.record_failure(f"acct{i}")
    assert len(throttle._accounts) <= 100


def test_stuffing_detector_throttles_an_address_failing_across_many_accounts():
    from mocks.portal.accounts import StuffingDetector

    now = [0.0]
    detector = StuffingDetector(threshold=20, min_accounts=10, window_s=60, block_s=30, clock=lambda: now[0])
    # One account guessed 30 times is the per-account lockout's business, not stuffing.
    assert all(detector.record_failure("10.0.0.1", "same") is None for _ in range(30))
    # Two guesses on each of many accounts from one address trips it on the 20th failure.
    results = [detector.record_failure("10.0.0.2", f"acct{i // 2}") for i in range(20)]
    assert results[:19] == [None] * 19 and results[19] == 30
    assert detector.blocked_for("10.0.0.2") == 30
    assert detector.blocked_for("10.0.0.3") is None  # other addresses unaffected
    now[0] = 31.0
    assert detector.blocked_for("10.0.0.2") is None  # the block ends by itself
    now[0] = 200.0  # old failures leave the window
    assert detector.record_failure("10.0.0.2", "acct-new") is None
