"""kernel.tls and the targets file's tls blocks: every unusable option is refused naming its field —
including paths that are no PEM file to read (a directory, a device, a pipe, an empty value) and
an encrypted client key, refused without OpenSSL asking anyone for its passphrase."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

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
    # Found after the file validated, the problem is still named at its line, as a schema problem is.
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "population.tls.ca_bundle")]


PASSPHRASE = "hunter2-review"

# tls_problems in a process of its own, with no controlling terminal (a new session): OpenSSL's
# prompt then reads stdin, which the test feeds the right passphrase. Before the fix the key
# loaded from that answer and the check found nothing wrong; now no prompt is made at all.
_CHECK = """
import json, sys
from pathlib import Path
from kernel.tls import TlsOptions, tls_problems
cert, key = sys.argv[1:3]
print(json.dumps(tls_problems(TlsOptions(client_cert=Path(cert), client_key=Path(key)), scheme="https", loopback=True)))
"""


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A client certificate and its key, the key encrypted with :data:`PASSPHRASE`."""
    where = tmp_path_factory.mktemp("tls-review")
    cert, key = issue_tls(DryRunCA.create_ephemeral(), "review client", client=True).write(where, "client")
    private = load_pem_private_key(key.read_bytes(), password=None)
    locked = where / "locked.key"
    locked.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    return cert, locked


def test_an_encrypted_client_key_is_refused_naming_the_key_and_nobody_is_asked_for_a_passphrase(
    encrypted: tuple[Path, Path],
) -> None:
    cert, key = encrypted
    done = subprocess.run([sys.executable, "-c", _CHECK, str(cert), str(key)], input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
                          capture_output=True, text=True, timeout=120, check=False, start_new_session=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "pass phrase" not in done.stderr.lower(), done.stderr
    problems = json.loads(done.stdout)
    assert [where for where, _ in problems] == ["tls.client_key"], problems
    assert "is encrypted" in problems[0][1] and "unencrypted PEM key" in problems[0][1]
    assert PASSPHRASE not in done.stdout


@pytest.mark.parametrize(("path", "says"), [
    (Path("/dev/zero"), "is not a regular file (a device or a pipe)"),
    (Path("."), "empty"),
    ("directory", "is a directory"),
])
def test_a_ca_bundle_that_is_no_file_says_what_it_is(tmp_path: Path, path: object, says: str) -> None:
    bundle = tmp_path if path == "directory" else path
    assert isinstance(bundle, Path)
    problems = tls_problems(TlsOptions(ca_bundle=bundle), scheme="https", loopback=True)
    assert [where for where, _ in problems] == ["tls.ca_bundle"] and says in problems[0][1], problems


def test_a_fifo_ca_bundle_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    problems = tls_problems(TlsOptions(ca_bundle=fifo), scheme="https", loopback=True)
    assert problems == [("tls.ca_bundle", f"{fifo} is not a regular file (a device or a pipe); give the path of a PEM file")]


@pytest.mark.parametrize("option", ["ca_bundle", "client_cert", "client_key"])
def test_an_empty_path_in_a_targets_file_is_named_at_its_line_not_read_as_the_current_directory(
    tmp_path: Path, option: str
) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(f"""\
portal: {{base_url: "http://127.0.0.1:8701"}}
population: {{base_url: "http://127.0.0.1:8702"}}
axis:
  base_url: "https://127.0.0.1:8703"
  tls: {{{option}: ""}}
""")
    with pytest.raises(ConfigError) as refused:
        load_targets(path)
    assert [str(p) for p in refused.value.problems] == [
        f"{path}:5: axis.tls.{option}: empty; give the path of a PEM file, or leave the option out"]
