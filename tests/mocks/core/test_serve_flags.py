"""``python -m mocks serve``'s TLS flags and environment: a bad combination, a missing file or a setting the
service does not know is one ERROR: line, before serving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("flags", "says"), [
    (["--tls-cert", "{cert}"], "--tls-cert and --tls-key go together"),
    (["--tls-client-ca", "{cert}"], "--tls-client-ca needs --tls-cert and --tls-key"),
    (["--tls-cert", "{cert}", "--tls-key", "{missing}"], "--tls-key: no such file:"),
])
def test_bad_tls_flags_are_refused_before_serving(tmp_path: Path, flags: list[str], says: str) -> None:
    cert = tmp_path / "server.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    argv = [flag.format(cert=cert, missing=tmp_path / "nope.key") for flag in flags]
    done = subprocess.run([sys.executable, "-m", "mocks", "serve", "portal", "--port", "0", "--data-dir", str(tmp_path),
                           *argv], capture_output=True, text=True, timeout=60, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines == [lines[0]] and lines[0].startswith("ERROR: ") and says in lines[0], done.stderr


def test_a_durability_setting_the_store_does_not_know_is_refused_before_serving(tmp_path: Path) -> None:
    """``FUL`` for FULL: the store used to fall back to NORMAL in silence, so a rehearsal believed
    to survive power loss did not."""
    done = subprocess.run([sys.executable, "-m", "mocks", "serve", "portal", "--port", "0", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "DIENTAP_SQLITE_SYNCHRONOUS": "FUL"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3 and len(lines) == 1, done.stderr
    assert lines[0] == ("ERROR: environment variable DIENTAP_SQLITE_SYNCHRONOUS: 'FUL' is not one of NORMAL, FULL; give "
                        "FULL to survive power loss too, NORMAL (the default) for a process crash only, or unset it")
    assert not list(tmp_path.iterdir()), "the service opened its database before refusing"
