"""kernel.tls and the targets file's tls blocks: every unusable option is refused naming its field."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from kernel.pki import DryRunCA, issue_tls
from kernel.targets import load_targets
from kernel.tls import TlsOptions, client_context, tls_problems


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("tls")
    ca = DryRunCA.create_ephemeral()
    (where / "ca.pem").write_bytes(ca.certificate_pem)
    cert, key = issue_tls(ca, "dientap test client", client=True).write(where, "client")
    _other_cert, other_key = issue_tls(ca, "another client", client=True).write(where, "other")
    (where / "garbage.pem").write_text("not a certificate\n")
    return {"ca": where / "ca.pem", "cert": cert, "key": key, "other_key": other_key, "garbage": where / "garbage.pem"}


def test_usable_options_give_a_verifying_context_that_holds_the_client_certificate(files: dict[str, Path]) -> None:
    options = TlsOptions(ca_bundle=files["ca"], client_cert=files["cert"], client_key=files["key"])
    assert tls_problems(options, scheme="https", loopback=False) == []
    context = client_context(options)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # exactly the bundle given, not the system store
    loose = client_context(TlsOptions(verify=False))
    assert loose.verify_mode == ssl.CERT_NONE and not loose.check_hostname


@pytest.mark.parametrize(
    ("options", "scheme", "loopback", "field", "says"),
    [
        (TlsOptions(), "http", True, "tls", "http://"),
        (TlsOptions(verify=False), "https", False, "tls.verify", "loopback"),
        (TlsOptions(ca_bundle=Path("/no/such/ca.pem")), "https", True, "tls.ca_bundle", "no such file"),
        ("cert-only", "https", True, "tls.client_key", "go together"),
        ("garbage-ca", "https", True, "tls.ca_bundle", "PEM CA bundle"),
        ("mismatched", "https", True, "tls.client_cert", "PEM pair"),
    ],
)
def test_each_unusable_option_is_named(files: dict[str, Path], options: object, scheme: str, loopback: bool,
                                       field: str, says: str) -> None:
    if options == "cert-only":
        options = TlsOptions(client_cert=files["cert"])
    elif options == "garbage-ca":
        options = TlsOptions(ca_bundle=files["garbage"])
    elif options == "mismatched":
        options = TlsOptions(client_cert=files["cert"], client_key=files["other_key"])
    assert isinstance(options, TlsOptions)
    problems = tls_problems(options, scheme=scheme, loopback=loopback)
    assert [where for where, _ in problems] == [field], problems
    assert says in problems[0][1]


def test_a_targets_file_carries_each_services_tls_and_refuses_a_bad_one_naming_the_service(
    files: dict[str, Path], tmp_path: Path
) -> None:
    good = f"""\
portal: {{base_url: "https://127.0.0.1:8701", tls: {{ca_bundle: "{files['ca']}", client_cert: "{files['cert']}",
          client_key: "{files['key']}"}}}}
population: {{base_url: "https://127.0.0.1:8702", tls: {{ca_bundle: "{files['ca']}"}}}}
axis: {{base_url: "http://127.0.0.1:8703"}}
"""
    path = tmp_path / "targets.yaml"
    path.write_text(good)
    target = load_targets(path)
    assert target.tls["portal"] == TlsOptions(files["ca"], files["cert"], files["key"])
    assert target.tls["population"] == TlsOptions(files["ca"]) and "axis" not in target.tls
    assert target.describe()["tls"]["portal"]["client_key"] == str(files["key"])  # a path, never the key
    path.write_text(good.replace(f'ca_bundle: "{files["ca"]}"}}', f'ca_bundle: "{files["garbage"]}"}}'))
    with pytest.raises(ConfigError) as refused:
        load_targets(path)
    assert "population.tls.ca_bundle" in str(refused.value) and "portal.tls" not in str(refused.value)
