"""Against a target: the accounts are checked before any load, and every commune's
traffic leaves from its own loopback address (issue #18, items 1 and 2).

One real mock cluster, provisioned with one officer per commune, and the real CLI in a
subprocess aimed at it through a targets file — as a team runs `dientap mocks` and
`dientap run --target`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from dientap.orchestration.mockcluster import MockCluster
from kernel.errors import ExitCode
from kernel.roster import load_roster
from kernel.source_addresses import commune_source, province_source
from scenarios.communes import active_communes
from scenarios.profile import resolve_profile
from tests.support import team_mocks

pytestmark = pytest.mark.e2e

POPULATION = 3000


def _dientap(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dientap.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=240, check=False, env={**os.environ, **(env or {})})


def _admin(cluster: MockCluster, token: str, service: str, path: str) -> dict:
    response = httpx.get(f"{cluster.urls[service]}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_a_missing_account_is_refused_before_any_load_and_each_commune_sends_from_its_own_address(tmp_path):
    runs = tmp_path / "runs"
    with team_mocks(tmp_path, population=POPULATION, officers_per_commune=1) as (cluster, admin_token, targets):
        common = ("--target", str(targets), "--population-size", str(POPULATION), "--out", str(runs), "--no-board")
        admin = {"DIENTAP_ADMIN_TOKEN": admin_token}

        # ×2 signs in two officers per commune; the target holds one.
        refused = _dientap("run", "smoke", "--scale", "2", "--duration", "5", *common, cwd=tmp_path, env=admin)
        lines = refused.stderr.strip().splitlines()
        first = active_communes(resolve_profile("smoke"))[0]
        assert refused.returncode == ExitCode.CONFIG_ERROR, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr
        assert len(lines) == 1 and lines[0].startswith("ERROR: account check:"), refused.stderr
        assert f"'{first.code}.officer2'" in lines[0] and f"commune {first.code} {first.name}" in lines[0]
        assert "2 officers per commune" in lines[0] and "no load was sent" in lines[0]
        # Nothing was sent: no dossier, no officer's request, and the load never opened its doors.
        assert _admin(cluster, admin_token, "portal", "/admin/ledger")["counts"].get("dossiers", 0) == 0
        assert _admin(cluster, admin_token, "portal", "/admin/peers")["communes_seen"] == 0
        assert not list(runs.glob("*/load-start.json"))

        # The same check speaks the shape the target speaks: through the portal's integration
        # adapter (its own sign-in), the missing officer is named the same way; the shapes with
        # no sign-in (c06-soap, vdxp) are said to be unchecked, not counted as confirmed.
        shaped = tmp_path / "shaped.yaml"
        shaped.write_text(targets.read_text().replace("portal: {base_url: '", "portal: {protocol: dvcqg-adapter, base_url: '")
                          .replace("axis: {base_url: '", "axis: {protocol: vdxp, base_url: '"))
        refused = _dientap("run", "smoke", "--scale", "2", "--duration", "5", *common[2:], "--target", str(shaped),
                           cwd=tmp_path, env=admin)
        assert refused.returncode == ExitCode.CONFIG_ERROR and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        assert f"'{first.code}.officer2'" in refused.stderr and "no load was sent" in refused.stderr
        assert _admin(cluster, admin_token, "portal", "/admin/ledger")["counts"].get("dossiers", 0) == 0

        # The control: at the size the target holds, the same command runs, and the portal
        # saw each commune's traffic from that commune's own address, and from no other.
        ran = _dientap("run", "smoke", "--duration", "10", *common, cwd=tmp_path, env=admin)
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
        assert "accounts: the target holds all 136 " in ran.stdout
        shaped_run = _dientap("run", "smoke", "--duration", "10", *common[2:], "--target", str(shaped), cwd=tmp_path,
                              env=admin)
        assert shaped_run.returncode == 0, shaped_run.stdout[-2000:] + shaped_run.stderr[-2000:]
        assert ("accounts: the target holds all 68 checked before any load; axis: not checked (vdxp: every SDK call "
                "is signed with the system's secret; there is no sign-in to check)") in shaped_run.stdout
        peers = _admin(cluster, admin_token, "portal", "/admin/peers")
    smoke_communes = {c.code for c in active_communes(resolve_profile("smoke"))}
    assert smoke_communes <= set(peers["communes"])
    for code, seen in peers["communes"].items():
        assert seen["addresses"] == [commune_source(code)], (code, seen)
        assert seen["overflow_requests"] == 0
    assert peers["distinct_addresses"] == peers["communes_seen"] >= 34


def test_every_commune_and_province_has_a_loopback_address_of_its_own():
    roster = load_roster()
    communes = [commune_source(c.code) for c in roster.communes]
    provinces = [province_source(p.code) for p in roster.provinces]
    addresses = communes + provinces
    assert len(set(addresses)) == len(addresses) == 3321 + 34
    assert all(a.startswith("127.") and a != "127.0.0.1" for a in addresses)
    with pytest.raises(ValueError, match="5 digits"):
        commune_source("123456")
