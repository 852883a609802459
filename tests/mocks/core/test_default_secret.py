"""The public default dry-run secret protects nothing: loopback only, and said once at start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kernel.credentials import DRY_RUN_SECRET_ENV
from mocks.core.settings import ServiceSettings


def _env(secret: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != DRY_RUN_SECRET_ENV}
    if secret is not None:
        env[DRY_RUN_SECRET_ENV] = secret
    return env


def test_settings_refuse_the_default_secret_off_loopback_and_allow_a_secret_of_ones_own() -> None:
    with pytest.raises(ValidationError, match=f"dry_run_secret: the default dry-run secret is public.*{DRY_RUN_SECRET_ENV}"):
        ServiceSettings(host="0.0.0.0")  # noqa: S104 - the refused case
    with pytest.raises(ValidationError, match="refuse to listen on '10.0.0.5'"):
        ServiceSettings(host="10.0.0.5")
    allowed = ServiceSettings(host="0.0.0.0", dry_run_secret="a-team-secret")  # noqa: S104 - validated, never bound
    assert not allowed.default_secret
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert ServiceSettings(host=loopback).default_secret


def test_serve_refuses_a_public_address_with_the_default_secret_before_binding(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mocks", "serve", "axis", "--host", "0.0.0.0", "--port", "0",  # noqa: S104
                           "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False,
                          env=_env())
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3 and len(lines) == 1, done.stderr
    assert lines[0].startswith("ERROR: invalid settings for axis: dry_run_secret: the default dry-run secret is public")
    assert f"give a secret of your own in {DRY_RUN_SECRET_ENV}" in lines[0] and "'0.0.0.0'" in lines[0]
    assert not any(tmp_path.iterdir()), "the service started (its data folder was written) before refusing"


def _serve_on_loopback(tmp_path: Path, secret: str | None, stop: signal.Signals = signal.SIGTERM) -> list[str]:
    """Start the axis mock on a loopback socket, wait until it answers, stop it with ``stop``:
    its stderr lines, then its exit status."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "mocks", "serve", "axis", "--fd", str(sock.fileno()),
                                 "--data-dir", str(tmp_path / (secret or "default"))],
                                pass_fds=(sock.fileno(),), stderr=subprocess.PIPE, text=True, env=_env(secret))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the axis mock did not start"
            time.sleep(0.1)
    finally:
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
    return [*err.strip().splitlines(), f"exit {proc.returncode}"]


def test_serve_warns_once_on_loopback_with_the_default_secret(tmp_path: Path) -> None:
    lines = _serve_on_loopback(tmp_path, None)
    warnings = [line for line in lines if "WARNING" in line]
    assert warnings == [("WARNING: the axis mock: the default dry-run secret is in use, and it is public: anyone on "
                         f"this machine can mint tokens; loopback only — set {DRY_RUN_SECRET_ENV} to serve anything "
                         "else")], lines


def test_serve_with_a_secret_of_ones_own_does_not_warn(tmp_path: Path) -> None:
    assert not [line for line in _serve_on_loopback(tmp_path, "a-team-secret") if "secret" in line]


def test_ctrl_c_stops_serve_with_status_130_and_no_traceback(tmp_path: Path) -> None:
    lines = _serve_on_loopback(tmp_path, "a-team-secret", signal.SIGINT)
    assert lines[-1] == "exit 130" and not [line for line in lines if "Traceback" in line or "Interrupt" in line], lines
