"""The load over TLS: the mocks serve https with certificates from a dry-run CA (uvicorn's own
TLS), and dientap verifies them and shows its client certificate (mutual TLS), or stops
before any load naming the option to fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from dientap.orchestration.mockcluster import MockCluster, MockClusterConfig
from kernel.ack_ledger import AckLedger
from kernel.errors import UsageError
from kernel.pki import DryRunCA
from reports.run_files import load_summary

pytestmark = pytest.mark.e2e

POPULATION = 2000


def test_a_run_with_mocks_tls_speaks_mutual_tls_end_to_end_and_loses_nothing(tmp_path: Path) -> None:
    options = DryRunOptions(profile="smoke", population_size=POPULATION, out=tmp_path / "runs", duration_s=20,
                            mocks_tls=True)
    with DryRun(options) as run:
        run.start_target()
        assert all(url.startswith("https://127.0.0.1:") for url in run.urls.values()), run.urls
        assert run.cluster is not None and run.cluster.tls is not None
        files = run.cluster.tls
        # TLS is really required, and so is a client certificate: a client that shows none is refused.
        # (TLS 1.3 finishes the handshake before the server checks: the refusal comes as the connection's end.)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{run.urls['portal']}/healthz", verify=ssl.create_default_context(cafile=str(files.ca)), timeout=5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(run.urls["portal"].replace("https://", "http://") + "/healthz", timeout=5)
        run.start_load()
        assert run.wait(timeout_s=run.profile.duration_s + 120)
        with httpx.Client(verify=files.client_context(), timeout=10,
                          headers={"Authorization": f"Bearer {run.admin_token}"}) as admin:
            held = admin.get(f"{run.urls['portal']}/admin/ledger").json()["ids"]["dossiers"]
    summary = load_summary(run.run_dir)
    assert summary.requests.total > 100 and summary.requests.failed == 0
    acked = AckLedger.merge(sorted((run.run_dir / "ledgers").glob("*.json")))
    assert acked.entries.get("dossiers") and set(acked.entries["dossiers"]) == set(held)


def _targets(path: Path, urls: dict[str, str], ca: Path, cert: Path | None, key: Path | None) -> Path:
    client = f', client_cert: "{cert}", client_key: "{key}"' if cert is not None else ""
    lines = [f'{name}: {{base_url: "{url}", tls: {{ca_bundle: "{ca}"{client}}}}}' for name, url in urls.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_target_whose_certificate_is_not_trusted_or_that_wants_a_client_certificate_stops_before_any_load(
    tmp_path: Path,
) -> None:
    config = MockClusterConfig(data_dir=tmp_path / "mocks", population_size=POPULATION, tls_dir=tmp_path / "tls",
                               client_auth=frozenset({"portal"}))
    stranger = tmp_path / "stranger-ca.pem"
    stranger.write_bytes(DryRunCA.create_ephemeral().certificate_pem)  # same subject, another key
    with MockCluster(config) as cluster:
        files = cluster.tls
        assert files is not None
        cases = {
            "untrusted": (_targets(tmp_path / "untrusted.yaml", cluster.urls, stranger, files.client_cert, files.client_key),
                          "tls.ca_bundle", "certificate verify failed"),
            "no client certificate": (_targets(tmp_path / "anonymous.yaml", cluster.urls, files.ca, None, None),
                                      "portal.tls.client_cert", "closes every TLS connection"),
        }
        for case, (targets, field, says) in cases.items():
            run = DryRun(DryRunOptions(profile="smoke", target=str(targets), out=tmp_path / "runs", duration_s=5))
            with run:
                run.start_target()
                with pytest.raises(UsageError) as stopped:
                    run.start_load()
            message = str(stopped.value)
            assert field in message and says in message and "no load was sent" in message, (case, message)
            assert not (run.run_dir / "ledgers").exists(), case
