"""dientap.orchestration.account_check against real HTTP(S) servers on 127.0.0.1: a refused
account from an accounts file points at that file's row, the integration adapter's refusal
is named by its reason, and a TLS handshake that fails is a config error (exit 3) naming the
targets file's option to fix."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dientap.orchestration.account_check import account_probes, check_accounts
from dientap.orchestration.mockcluster import MockTlsFiles
from kernel.accounts_file import AccountsFile
from kernel.credentials import DerivedCredentials
from kernel.errors import AccountsMissing, ConfigError, ExitCode
from kernel.pki import DryRunCA
from kernel.roster import load_roster
from kernel.tls import TlsOptions
from mocks.core.errors import ApiError
from mocks.portal.dvcqg_form import error_body

# What the integration adapter's face answers a wrong password with (its own error form).
REFUSED = error_body(ApiError(401, "invalid_credentials", "wrong account or password", "password"))


class _Refuses(BaseHTTPRequestHandler):
    """Answers every sign-in 401 in the integration adapter's form."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(REFUSED).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _portal(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _portal_probes(accounts: AccountsFile | None):  # noqa: ANN202 - the portal's probes of one commune
    commune = load_roster().communes[0]
    credentials = accounts if accounts is not None else DerivedCredentials("not-the-targets-secret")
    return {"portal": account_probes([commune], 1, credentials, accounts, {"portal": "dvcqg-adapter"})["portal"]}


def test_a_refused_account_of_the_accounts_file_points_at_its_row_and_the_reason_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = load_roster()
    commune = roster.communes[0]
    monkeypatch.setenv("STAGING_OFFICER_PASSWORD", "a-wrong-password")
    path = tmp_path / "accounts.csv"
    path.write_text("kind,account,commune,password,full_name,date_of_birth\n\n"
                    f"officer,staging.mc01,{commune.code},env:STAGING_OFFICER_PASSWORD,,\n"
                    f"agency,{commune.agency_code},,env:STAGING_OFFICER_PASSWORD,,\n"
                    f"agency,{roster.province(commune.province_code).agency_code},,env:STAGING_OFFICER_PASSWORD,,\n"
                    f"client,province-{commune.province_code},,env:STAGING_OFFICER_PASSWORD,,\n", encoding="utf-8")
    accounts = AccountsFile.load(path)
    with _portal() as url, pytest.raises(AccountsMissing) as refused:
        check_accounts({"portal": url}, _portal_probes(accounts), bind_sources=False, needed=" — needed")
    message = str(refused.value)
    assert "refused account 'staging.mc01'" in message and "(HTTP 401 invalid_credentials)" in message, message
    assert f"the password {path}:3 gives for it (env:STAGING_OFFICER_PASSWORD) is not the one the target holds" in message
    assert "--officers-per-commune" not in message and "--scale" not in message, message
    assert "a-wrong-password" not in message


def test_a_refused_derived_account_is_still_to_be_provisioned(tmp_path: Path) -> None:
    with _portal() as url, pytest.raises(AccountsMissing) as refused:
        check_accounts({"portal": url}, _portal_probes(None), bind_sources=False, needed=" — needed")
    message = str(refused.value)
    assert "(HTTP 401 invalid_credentials) — needed; provision it on the target" in message, message


def test_a_certificate_the_targets_file_does_not_trust_is_a_config_error_naming_the_option(tmp_path: Path) -> None:
    files = MockTlsFiles.prepare(tmp_path / "tls", "127.0.0.1")
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(str(files.server_cert), str(files.server_key))
    stranger = tmp_path / "stranger-ca.pem"
    stranger.write_bytes(DryRunCA.create_ephemeral().certificate_pem)  # same subject, another key
    with _portal(served) as url, pytest.raises(ConfigError) as refused:
        check_accounts({"portal": url}, _portal_probes(None), bind_sources=False,
                       tls={"portal": TlsOptions(ca_bundle=stranger)}, targets_file="staging.yaml")
    assert refused.value.exit_code == ExitCode.CONFIG_ERROR
    [problem] = refused.value.problems
    assert (problem.file, problem.field) == ("staging.yaml", "portal.tls.ca_bundle")
    assert "certificate verify failed" in problem.message and problem.message.endswith("no load was sent")
    # A targets file that is there: the field is named at its line, or at its nearest parent's
    # when the file does not give it (a client certificate the target wants, say).
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"portal:\n  url: {url}\n  tls:\n    ca_bundle: {stranger}\n", encoding="utf-8")
    with _portal(served) as url, pytest.raises(ConfigError) as located:
        check_accounts({"portal": url}, _portal_probes(None), bind_sources=False,
                       tls={"portal": TlsOptions(ca_bundle=stranger)}, targets_file=str(targets))
    assert [(p.file, p.line, p.field) for p in located.value.problems] == [(str(targets), 4, "portal.tls.ca_bundle")]
    assert str(located.value).startswith(f"{targets}:4: portal.tls.ca_bundle: TLS to the portal at ")
