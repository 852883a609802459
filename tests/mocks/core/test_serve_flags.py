"""``python -m mocks serve``'s TLS flags: a bad combination or a missing file is one ERROR: line, before serving."""

from __future__ import annotations

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
