"""The smoke profile end to end with the portal spoken to through its integration-adapter
shape (``protocols={"portal": "dvcqg-adapter"}``): the same reconciliation as a native run."""

from __future__ import annotations

import httpx
import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from kernel.ack_ledger import AckLedger
from reports.run_files import load_summary

pytestmark = pytest.mark.e2e


def test_smoke_through_the_adapter_shape_loses_and_duplicates_nothing(tmp_path):
    options = DryRunOptions(profile="smoke", population_size=3000, out=tmp_path / "runs", duration_s=25,
                            protocols={"portal": "dvcqg-adapter"})  # fmt: skip
    with DryRun(options) as run:
        run.start_target()
        run.start_load()
        assert run.wait(timeout_s=run.profile.duration_s + 120)
        ledger = httpx.get(f"{run.urls['portal']}/admin/ledger", headers={"Authorization": f"Bearer {run.admin_token}"},
                           timeout=10).json()  # fmt: skip
    summary = load_summary(run.run_dir)
    portal = {e.name: e for e in summary.endpoints if e.service == "portal"}
    # The shape really was spoken: sign-in, sync and progress went through the face.
    assert {"POST /dvcqg auth", "POST /dvcqg DongBoHoSoMC", "POST /dvcqg LayDanhSachTTHC"} <= set(portal)
    assert "POST /dossiers" not in portal and "POST /auth/token" not in portal
    assert portal["POST /dvcqg DongBoHoSoMC"].count > 0
    # Every dossier the load was told about is in the portal's ledger, and nothing else is.
    acked = AckLedger.merge(sorted((run.run_dir / "ledgers").glob("*.json")))
    assert set(acked.entries.get("dossiers", {})) == set(ledger["ids"]["dossiers"]) != set()
    submits = portal["POST /dvcqg DongBoHoSoMC"]
    assert submits.count - submits.failures == len(ledger["ids"]["dossiers"])
    assert len(set(ledger["ids"]["dossiers"])) == len(ledger["ids"]["dossiers"])
