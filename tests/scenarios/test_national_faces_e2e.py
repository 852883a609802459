"""The smoke profile end to end as against a real staging system: all three national systems
spoken to in their real integration shapes at once — the portal through its integration
adapter (``dvcqg-adapter``), the population database as C06 SOAP (``c06-soap``), the document
axis through the agencies' SDK (``vdxp``) — over mutual TLS (the mocks serve https with
certificates from a dry-run CA and require dientap's client certificate): the personas
unchanged, the same reconciliation as a native run (nothing lost, nothing duplicated), and
every request of each service in its shape."""

from __future__ import annotations

import ssl

import httpx
import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from kernel.ack_ledger import AckLedger
from reports.run_files import load_summary

pytestmark = pytest.mark.e2e

NATIONAL = {"portal": "dvcqg-adapter", "population": "c06-soap", "axis": "vdxp"}
VERIFY = "POST /c06 XacThucThongTinCongDan"
# The portal's calls with no national shape known go to its own routes (scenarios/adapters/dvcqg.py).
PORTAL_NATIVE = {"GET /dossiers", "POST /dossiers/{code}/payments", "POST /feedback", "POST /auth/logout"}


def _ledger(run: DryRun, service: str) -> dict:
    assert run.cluster is not None and run.cluster.tls is not None
    response = httpx.get(f"{run.urls[service]}/admin/ledger", headers={"Authorization": f"Bearer {run.admin_token}"},
                         timeout=10, verify=run.cluster.tls.client_context())
    response.raise_for_status()
    return response.json()


def test_smoke_through_the_three_national_faces_over_mutual_tls_reconciles_like_a_native_run(tmp_path):
    options = DryRunOptions(profile="smoke", population_size=3000, out=tmp_path / "runs", duration_s=20,
                            protocols=NATIONAL, mocks_tls=True)
    with DryRun(options) as run:
        run.start_target()
        assert run.cluster is not None and run.cluster.tls is not None
        files = run.cluster.tls
        assert all(url.startswith("https://127.0.0.1:") for url in run.urls.values()), run.urls
        # TLS is really required, and so is a client certificate: a plain-http client and one
        # that shows no certificate are both refused (TLS 1.3 checks the certificate after the
        # handshake, so that refusal comes as the connection's end).
        with pytest.raises(httpx.HTTPError):
            httpx.get(run.urls["portal"].replace("https://", "http://") + "/healthz", timeout=5)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{run.urls['population']}/healthz", verify=ssl.create_default_context(cafile=str(files.ca)),
                      timeout=5)
        audited_before = _ledger(run, "population")["counts"]["audit_entries"]
        run.start_load()
        assert run.wait(timeout_s=run.profile.duration_s + 120)
        ledgers = {name: _ledger(run, name) for name in ("portal", "axis", "population")}
    summary = load_summary(run.run_dir)
    assert summary.requests.total > 300 and summary.requests.failed == 0
    by_service: dict[str, dict] = {}
    for endpoint in summary.endpoints:
        by_service.setdefault(endpoint.service, {})[endpoint.name] = endpoint

    # Each shape was really spoken.
    portal, population, axis = by_service["portal"], by_service["population"], by_service["axis"]
    assert {"POST /dvcqg auth", "POST /dvcqg DongBoHoSoMC", "POST /dvcqg LayDanhSachTTHC"} <= set(portal)
    assert set(portal) - PORTAL_NATIVE == {name for name in portal if name.startswith("POST /dvcqg ")}, sorted(portal)
    assert set(population) == {VERIFY} and population[VERIFY].count > 0
    assert all(name.startswith("POST /vdxp/") for name in axis), sorted(axis)
    assert {"POST /vdxp/sendEdoc", "POST /vdxp/getReceivedEdocList", "POST /vdxp/updateStatus"} <= set(axis)

    # Every check through the SOAP face was audited by the same service as a native one.
    assert ledgers["population"]["counts"]["audit_entries"] - audited_before >= population[VERIFY].count

    # The same reconciliation as a native run: dossiers exactly, documents and receipts
    # within what the targets hold (a send cut off by the run's stop after it was stored is
    # the target's, not the load's), nothing held twice.
    acked = AckLedger.merge(sorted((run.run_dir / "ledgers").glob("*.json")))
    dossiers = ledgers["portal"]["ids"]["dossiers"]
    assert set(acked.entries.get("dossiers", {})) == set(dossiers) != set() and len(dossiers) == len(set(dossiers))
    submits = portal["POST /dvcqg DongBoHoSoMC"]
    assert submits.count - submits.failures == len(dossiers)
    documents = ledgers["axis"]["ids"]["documents"]
    assert len(documents) == len(set(documents)) > 0
    assert set(acked.entries.get("documents", {})) <= set(documents)
    assert ledgers["axis"]["counts"]["receipts"] > 0 and ledgers["axis"]["counts"]["deliveries_acked"] > 0
    assert 0 < len(acked.entries.get("receipts", {})) <= ledgers["axis"]["counts"]["receipts"]
