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
