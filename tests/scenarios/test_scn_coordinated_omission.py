"""Coordinated omission: a server stall shows in intended-start latency, not in send-time
latency, when sending is gated (one clerk per office)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scn_support import HERE

STALL_MS = 1000


@pytest.mark.e2e
def test_intended_latency_shows_stall_send_latency_hides_it(support_server):
    out = subprocess.run(
        [sys.executable, str(HERE / "co_probe.py"), support_server.base_url, str(STALL_MS)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    sent, intended = result["service"], result["intended"]
    assert sent["count"] == intended["count"] == result["completed"] == result["due"] > 100
    assert result["achieved_ratio"] >= 0.98  # the generator itself kept the schedule
    # The one request in flight during the freeze saw it: both maxima ≈ the stall.
    assert 0.8 * STALL_MS <= sent["max_ms"] <= 1.5 * STALL_MS
    assert 0.8 * STALL_MS <= intended["max_ms"] <= 1.5 * STALL_MS
    # Everyone who arrived during the freeze waited; only the intended measure shows it.
    assert intended["p95_ms"] >= 0.5 * STALL_MS, intended
    assert sent["p95_ms"] <= 0.05 * STALL_MS, sent
    assert intended["mean_ms"] >= 10 * sent["mean_ms"]


@pytest.mark.e2e
def test_a_paced_officer_behind_a_stall_shows_it_in_intended_latency_on_every_request_behind_it(support_server):
    """Officers act on ticks (scenarios.schedule.Pacing). A server stall delays the one
    request in flight — the only one whose send-time latency shows it — and every action
    whose tick fell inside the stall: they go out late, back to back, and their intended
    latency says by how much."""
    out = subprocess.run(
        [sys.executable, str(HERE / "paced_probe.py"), support_server.base_url, str(STALL_MS)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["actions"] == 40
    behind = STALL_MS / result["interval_ms"] * 2  # ticks inside the stall × requests per action
    slow_sent = sum(e["service"]["slow"] for e in result["endpoints"].values())
    slow_intended = sum(e["intended"]["slow"] for e in result["endpoints"].values())
    assert slow_sent <= 2  # the request in flight (and at most one more on the other route)
    assert slow_intended >= 0.5 * behind, result
    for name, row in result["endpoints"].items():
        sent, intended = row["service"], row["intended"]
        assert sent["count"] == intended["count"] == 40, name  # both columns cover the same requests
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            assert intended[key] >= sent[key], (name, key)  # on every row, intended ≥ raw
    # The transition never met the stall on the wire, yet the ones queued behind it waited.
    transitions = result["endpoints"]["POST /transitions"]
    assert transitions["service"]["p95_ms"] <= 0.1 * STALL_MS
    assert transitions["intended"]["max_ms"] >= 0.5 * STALL_MS
