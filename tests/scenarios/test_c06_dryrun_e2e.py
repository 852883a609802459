"""The smoke profile end to end with the population database spoken as C06 SOAP: the
personas run unchanged through the c06-soap adapter against the embedded mock's SOAP face,
and the run reconciles as a native one does (nothing lost, nothing duplicated)."""

from __future__ import annotations

import httpx
import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from kernel.ack_ledger import AckLedger
from reports.run_files import load_summary

pytestmark = pytest.mark.e2e

VERIFY = "POST /c06 XacThucThongTinCongDan"


def _ledger(run: DryRun, service: str) -> dict:
    response = httpx.get(f"{run.urls[service]}/admin/ledger", headers={"Authorization": f"Bearer {run.admin_token}"},
                         timeout=10)
    response.raise_for_status()
    return response.json()


def test_smoke_through_the_c06_face_reconciles_like_a_native_run(tmp_path):
    options = DryRunOptions(profile="smoke", population_size=3000, out=tmp_path / "runs", duration_s=20,
                            protocols={"population": "c06-soap"})
    with DryRun(options) as run:
        run.start_target()
        before = _ledger(run, "population")["counts"]["audit_entries"]
        run.start_load()
        assert run.wait(timeout_s=run.profile.duration_s + 120)
        ledgers = {name: _ledger(run, name) for name in ("portal", "axis", "population")}
    summary = load_summary(run.run_dir)
    population = {e.name: e for e in summary.endpoints if e.service == "population"}
    # The population database was spoken to only through the SOAP face, and it answered.
    assert set(population) == {VERIFY}, set(population)
    assert population[VERIFY].count > 0 and population[VERIFY].failures == 0
    # Every check through the face was audited by the same service as a native one.
    assert ledgers["population"]["counts"]["audit_entries"] - before >= population[VERIFY].count
    # The same reconciliation as a native run.
    acked = AckLedger.merge(sorted((run.run_dir / "ledgers").glob("*.json")))
    assert set(acked.entries.get("dossiers", {})) == set(ledgers["portal"]["ids"]["dossiers"])
    assert set(acked.entries.get("documents", {})) <= set(ledgers["axis"]["ids"]["documents"])
    submits = next(e for e in summary.endpoints if e.service == "portal" and e.name == "POST /dossiers")
    assert submits.count - submits.failures == len(ledgers["portal"]["ids"]["dossiers"])
    assert summary.requests.failed == sum(e.failures for e in summary.endpoints)
