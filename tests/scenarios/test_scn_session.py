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
