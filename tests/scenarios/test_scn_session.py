"""The adapters' HTTP session against a real loopback server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scn_support import HERE


@pytest.mark.e2e
def test_a_shared_session_carries_no_cookie_from_one_actor_to_the_next(support_server):
    out = subprocess.run(
        [sys.executable, str(HERE / "session_probe.py"), support_server.base_url],
        capture_output=True, text=True, timeout=60, check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["set_ok"] and r["ours_ok"]
    assert r["ours"] == {"cookie": None}
    assert r["control"] == {"cookie": "actor=a1"}  # Locust's own jar would have sent it


@pytest.mark.e2e
def test_each_commune_leaves_from_its_own_address_on_connections_never_reused_once_idle(support_server):
    from kernel.source_addresses import commune_source, province_source

    out = subprocess.run(
        [sys.executable, str(HERE / "pools_probe.py"), support_server.base_url],
        capture_output=True, text=True, timeout=60, check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["a1"][0] == commune_source("00004") and seen["b"][0] == commune_source("00070")
    assert seen["province"][0] == province_source("01")
    assert seen["shared"][0] == "127.0.0.1"  # a session without source addresses: the generator's own
    assert seen["a2"] == seen["a1"]  # back to back: the same connection, kept alive
    # Idle past IDLE_REUSE_S: a fresh connection from the same address, then kept alive again.
    assert seen["a_after_idle"][0] == seen["a1"][0] and seen["a_after_idle"][1] != seen["a1"][1]
    assert seen["a_again"] == seen["a_after_idle"]
