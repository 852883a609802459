"""``dientap mocks`` and the public default dry-run secret: refused off loopback, one warning on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.credentials import DRY_RUN_SECRET_ENV
from kernel.errors import ExitCode


def _mocks(tmp_path: Path, *flags: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != DRY_RUN_SECRET_ENV}
    if secret is not None:
        env[DRY_RUN_SECRET_ENV] = secret
    return subprocess.run([sys.executable, "-m", "dientap.cli", "mocks", "--data-dir", str(tmp_path / "data"),
                           "--population-size", "100", "--ports", "0,0,0", *flags], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120, check=False)


def test_a_public_address_with_the_default_secret_is_one_error_line_before_anything_starts(tmp_path: Path) -> None:
    done = _mocks(tmp_path, "--host", "0.0.0.0", "--duration", "1")  # noqa: S104 - the refused case
    lines = done.stderr.strip().splitlines()
    assert done.returncode == ExitCode.USAGE_ERROR and len(lines) == 1, done.stderr
    assert lines[0].startswith("ERROR: argument --host: the default dry-run secret is public"), lines
    assert f"give a secret of your own in {DRY_RUN_SECRET_ENV}" in lines[0]
    assert not (tmp_path / "data").exists(), "something started before the refusal"


@pytest.mark.e2e
def test_loopback_with_the_default_secret_starts_with_exactly_one_warning_line(tmp_path: Path) -> None:
    done = _mocks(tmp_path, "--duration", "1")
    assert done.returncode == ExitCode.OK, done.stderr
    assert "admin token" in done.stdout  # it really served
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert warnings == ["WARNING: the mocks: the default dry-run secret is in use, and it is public: anyone on this "
                        f"machine can mint tokens; loopback only — set {DRY_RUN_SECRET_ENV} to serve anything else"], \
        done.stderr
