"""The load model on a real single-process Locust runner: recorder, arrivals, pacing,
GC freeze, lag monitor and abort rule wired the way personas use them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scn_support import HERE


def _probe(base_url: str, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "local_probe.py"), base_url, mode],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.e2e
def test_local_runner_wiring(support_server):
    r = _probe(support_server.base_url, "wiring")
    assert r["role"] == "local" and r["failures"] == 0
    eps = r["endpoints"]
    # Officers (paced) and arrivals (open model) both carry intended starts.
    for name in ("GET /dossiers", "GET /procedures", "POST /dossiers"):
        assert eps[f"{name}|service"] == eps[f"{name}|intended"] > 0
    # 5 officers at 10 actions/s for ~2.5 s. At most: one action at the start and one per 100-ms
    # tick (+1 for the clocks' rounding) of the probe's measured run, which also holds the drain and
    # quit after its 2.5 s (longer on a busy machine) while the officers keep acting: 135 at 2.5 s.
    assert 90 <= eps["GET /dossiers|service"] <= 5 * (10 * r["elapsed_s"] + 2)
    arrivals = r["arrivals"]
    assert arrivals["due"] == arrivals["started"] == arrivals["completed"] == eps["GET /procedures|service"]
    assert arrivals["achieved_ratio"] >= 0.98 and arrivals["errors"] == 0
    assert set(r["communes"]) == {"00004", "26734"} and sum(r["communes"].values()) == r["requests"]
    assert r["gc"]["frozen"] and r["gc"]["frozen_objects"] > 1000 and r["gc"]["collections"] >= 1
    assert r["lag"]["lag_samples"] >= 15 and r["lag"]["arrivals_due"] == arrivals["due"]
    assert r["trust"] == {"trustworthy": True, "reasons": []}
    assert r["pools"] == 2  # one shared pool per (service, commune office)


@pytest.mark.e2e
def test_abort_rule_stops_a_failing_run_and_says_why(support_server):
    r = _probe(support_server.base_url, "abort")
    assert r["abort"]["rule"] == "error_rate"
    assert r["abort"]["reason"].startswith("error rate ") and "above 20.0% for 1 s" in r["abort"]["reason"]
    assert r["elapsed_s"] < 6  # stopped early (the probe would run 10 s otherwise)
