"""The throttled-until gate on an injected clock: how long an account is held, per account."""

from __future__ import annotations

import random

import pytest

from scenarios.retry_after import MAX_HOLD_S, RETRY_JITTER, ThrottleGate, parse_retry_after, retry_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hold_lasts_retry_after_times_a_jitter_of_one_to_one_and_a_half():
    clock = Clock()
    gate = ThrottleGate(clock=clock)
    waits = [gate.hold(f"0000{n}.officer1", 60.0) for n in range(1, 10)]
    assert RETRY_JITTER == (1.0, 1.5)
    assert all(60.0 <= w <= 90.0 for w in waits) and len(set(waits)) == len(waits)
    assert gate.remaining("00001.officer1") == pytest.approx(waits[0])
    clock.now += waits[0] - 0.001
    assert gate.remaining("00001.officer1") > 0
    clock.now += 0.002
    assert gate.remaining("00001.officer1") == 0.0
    assert gate.remaining("never.held") == 0.0


def test_the_jitter_is_seeded_per_account_and_hold():
    one, two = ThrottleGate(clock=Clock()), ThrottleGate(clock=Clock())
    assert [one.hold("a", 10.0), one.hold("a", 10.0)] == [two.hold("a", 10.0), two.hold("a", 10.0)]
    assert one.hold("a", 10.0) == retry_wait(10.0, random.Random("a:2"))


def test_a_later_hold_never_shortens_an_earlier_one_and_every_hold_is_bounded():
    clock = Clock()
    gate = ThrottleGate(clock=clock)
    long = gate.hold("a", 300.0)
    gate.hold("a", 1.0)
    assert gate.remaining("a") == pytest.approx(long)
    assert gate.hold("b", 1e9) == MAX_HOLD_S
    assert ThrottleGate(clock=clock, max_hold_s=5.0).hold("c", 60.0) == 5.0
    assert gate.hold("d", -3.0) == 0.0 and gate.remaining("d") == 0.0


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), (" 2.5 ", 2.5), ("0", 0.0),
    ("Sun, 06 Nov 1994 08:51:00 GMT", 60.0),  # IMF-fixdate, one minute ahead of the clock below
    ("Sunday, 06-Nov-94 08:51:00 GMT", 60.0),  # RFC 850
    ("Sun Nov  6 08:51:00 1994", 60.0),  # asctime: no zone, GMT by definition
    ("Sun, 06 Nov 1994 08:49:00 GMT", 0.0),  # already past: come back now
])
def test_retry_after_is_read_as_seconds_or_as_an_http_date(header, seconds):
    now = 784111800.0  # 1994-11-06 08:50:00 UTC
    assert parse_retry_after(header, now=lambda: now) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [None, "", "-5", "soon", "nan", "inf", "1e400", "0x10", "5 s"])
def test_a_garbled_or_negative_retry_after_is_none(header):
    assert parse_retry_after(header) is None
