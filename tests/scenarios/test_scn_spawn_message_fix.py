"""A Locust worker builds Locust's default argument parser once per process, not once per
option of every spawn message (scenarios.spawn_message_fix), with a real master and worker
on loopback."""

from __future__ import annotations

import json
import subprocess
import sys

from scn_support import HERE

USERS, RATE = 30, 10  # three spawn messages, one a second


def _probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, str(HERE / "spawn_args_probe.py"), mode, str(USERS), str(RATE)],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_locust_alone_rebuilds_its_parser_for_every_option_of_every_spawn_message():
    plain = _probe("nofix")
    assert plain["users"] == USERS and plain["spawn_messages"] >= 3
    # Locust 2.47.0: one build per option the master sends (≈ 56), per message. If Locust
    # stops doing this, this test fails and the fix can go.
    assert plain["parser_builds"] > 10 * plain["spawn_messages"], plain


def test_with_the_fix_a_worker_builds_it_at_most_twice_whatever_the_messages():
    fixed = _probe("fix")
    assert fixed["users"] == USERS and fixed["spawn_messages"] >= 3
    # Once for the worker's own options (Locust's, when it has none) and once for the cache.
    assert fixed["parser_builds"] <= 2, fixed
    assert fixed["defaults_equal"] and fixed["read_only"], fixed
