"""The smoke profile end to end with the axis spoken through its SDK face (``vdxp``):
the personas unchanged, the same reconciliation as a native run (nothing lost, nothing
duplicated), and every axis request a signed SDK call."""

from __future__ import annotations

import httpx
import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from kernel.ack_ledger import AckLedger
from reports.run_files import load_summary

pytestmark = pytest.mark.e2e


def test_smoke_through_the_sdk_face_reconciles_like_a_native_run(tmp_path):
    options = DryRunOptions(profile="smoke", population_size=3000, out=tmp_path / "runs", duration_s=25,
                            protocols={"axis": "vdxp"})
    with DryRun(options) as run:
        run.start_target()
        run.start_load()
        assert run.wait(timeout_s=run.profile.duration_s + 120)
        ledger = httpx.get(f"{run.urls['axis']}/admin/ledger", timeout=10,
                           headers={"Authorization": f"Bearer {run.admin_token}"}).json()
    summary = load_summary(run.run_dir)
    axis = {e.name: e for e in summary.endpoints if e.service == "axis"}
    assert axis and all(name.startswith("POST /vdxp/") for name in axis), sorted(axis)
    assert {"POST /vdxp/sendEdoc", "POST /vdxp/getReceivedEdocList", "POST /vdxp/updateStatus"} <= set(axis)
    assert sum(e.failures for e in axis.values()) == 0
    # What the load was told was accepted is what the axis holds: nothing lost, nothing twice.
    acked = AckLedger.merge(sorted((run.run_dir / "ledgers").glob("*.json")))
    documents = ledger["ids"]["documents"]
    assert len(documents) == len(set(documents)) > 0
    # (⊆ as in the native smoke test: a send the run's stop cut off after the axis stored it
    # is the axis's, not the load's.)
    assert set(acked.entries.get("documents", {})) <= set(documents)
    sends = axis["POST /vdxp/sendEdoc"]
    assert 0 < sends.count - sends.failures <= len(documents)
    # The communes worked their inboxes through the face: receipts were sent and deliveries acknowledged.
    assert ledger["counts"]["receipts"] > 0 and ledger["counts"]["deliveries_acked"] > 0
    assert 0 < len(acked.entries.get("receipts", {})) <= ledger["counts"]["receipts"]
