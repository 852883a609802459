"""Clients honour Retry-After: through real HTTP on loopback (``throttle_probe.py``) the
gated adapters never sign in or call again before Retry-After × jitter, never turn a
throttle into a lockout, and throttled answers are recorded apart from failures. Times
are compared with the injected Retry-After (ratios), never with a wall-clock limit."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from scn_support import HERE

pytestmark = pytest.mark.e2e

RETRY_AFTER_S = 0.4
NAIVE = "09999.officer1"


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "throttle_probe.py"), str(RETRY_AFTER_S)], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _signins(probe: dict[str, Any], account: str) -> list[dict[str, Any]]:
    return [r for r in probe["seen"] if r["path"] == "/auth/token" and r["who"] == account]


def test_a_throttled_sign_in_is_not_retried_before_retry_after_times_its_jitter(probe):
    holds = probe["holds"]
    for account, hold in holds.items():
        signins = _signins(probe, account)
        assert [r["status"] for r in signins] == [429, 200], account  # one throttle, then one sign-in that worked
        gap = signins[1]["t"] - signins[0]["t"]
        assert gap >= hold >= RETRY_AFTER_S, account  # never before Retry-After × this account's jitter
        # ...and back soon after it: the actor acts every 5 % of Retry-After, so within a few steps.
        assert gap / RETRY_AFTER_S < 1.5 + 1.0, account


def test_the_jitter_spreads_the_throttled_apart_within_one_to_one_and_a_half(probe):
    ratios = [hold / RETRY_AFTER_S for hold in probe["holds"].values()]
    assert all(1.0 <= r <= 1.5 for r in ratios)
    assert max(ratios) - min(ratios) > 0.1  # seeded per account: eight officers do not come back together
    assert len(set(ratios)) == len(ratios)


def test_the_server_locks_a_client_that_does_not_wait_and_never_a_gated_one(probe):
    locked = {r["who"] for r in probe["seen"] if r["status"] == 423}
    assert locked == {NAIVE}  # the naive actor proves the lockout is there to be triggered
    assert [r["status"] for r in _signins(probe, NAIVE)][:2] == [429, 423]


def test_a_throttled_call_with_a_token_holds_that_account_until_retry_after(probe):
    lists = [r for r in probe["seen"] if r["path"].startswith("/dossiers?")]
    for account in probe["holds"]:
        mine = [r for r in lists if r["who"] == f"tok-{account}"]
        assert [r["status"] for r in mine] == [429, 200], account
        assert not mine[1]["early"] and mine[1]["t"] - mine[0]["t"] >= RETRY_AFTER_S, account


def test_throttled_answers_are_recorded_apart_from_failures(probe):
    officers = len(probe["holds"])
    naive_throttled = sum(1 for r in _signins(probe, NAIVE) if r["status"] in (423, 429))
    recorder = probe["recorder"]
    # Throttled: every 429/423 with a Retry-After (sign-ins and worklists); failed: the 503 outage
    # and the 429 whose Retry-After gave no time.
    assert recorder["throttled"] == officers * 2 + naive_throttled
    assert recorder["failures"] == 2
    assert recorder["key_throttled"] == [["portal", "GET /dossiers", "01", officers],
                                         ["portal", "POST /auth/token", "01", officers + naive_throttled]]
    assert probe["outage"] == [503, RETRY_AFTER_S, False]
    assert probe["garbled"] == [429, None, False]


def test_locust_still_counts_them_as_failures_under_their_own_message(probe):
    assert "throttled by target (429 sign_in_throttled, Retry-After 0.4)" in probe["messages"]
    assert "throttled by target (423 account_locked, Retry-After 300)" in probe["messages"]
    assert {"HTTP 503 dependency_down", "HTTP 429 slow_down"} <= set(probe["messages"])
    assert probe["locust_failures"] == probe["recorder"]["throttled"] + probe["recorder"]["failures"]


def test_a_citizen_waits_retry_after_times_jitter_gives_up_past_the_bound_and_stops_with_the_run(probe):
    citizen = probe["citizen"]
    assert citizen["waited"] and citizen["took"] >= citizen["expected"] >= RETRY_AFTER_S
    assert citizen["took"] / citizen["expected"] < 2.0
    # Told to come back in 1,000 s (past MAX_RETRY_WAIT_S): gives up at once instead of retrying early.
    assert not citizen["gave_up"] and citizen["gave_up_took"] < citizen["expected"] / 10
    # A 20 s wait ends when the run closes (set after one Retry-After): bounded by the run's end.
    assert citizen["closed"] and citizen["closed_took"] / 20.0 < 0.25
