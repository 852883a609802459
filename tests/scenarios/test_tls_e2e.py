"""The load over TLS stops before any load, naming the option to fix, when the target's
certificate is not trusted or the target wants a client certificate dientap does not show.
(A whole run over mutual TLS, against the mocks serving https with certificates from a
dry-run CA: tests/scenarios/test_national_faces_e2e.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from dientap.orchestration.mockcluster import MockCluster, MockClusterConfig
from kernel.errors import ConfigError
from kernel.pki import DryRunCA

pytestmark = pytest.mark.e2e

POPULATION = 2000


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
                with pytest.raises(ConfigError) as stopped:
                    run.start_load()
            message = str(stopped.value)
            assert field in message and says in message and "no load was sent" in message, (case, message)
            [problem] = stopped.value.problems
            assert problem.file == str(targets) and problem.line is not None, (case, message)  # file:line: field
            assert not (run.run_dir / "ledgers").exists(), case
