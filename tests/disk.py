"""A small disk of its own for a test (a tmpfs it mounts and removes), and a filler file that
fills it up — the disk-full tests of each mock and of the CLI, the CLI's read-only ones."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess  # nosec B404 - mount/umount of the test's own tmpfs
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

__all__ = ["STORAGE_FULL", "assert_storage_refusal", "fill", "small_disk"]

STORAGE_FULL = 507
_CHUNK = b"\0" * 65536


@contextlib.contextmanager
def small_disk(directory: Path, size_kib: int) -> Iterator[Path]:
    """Mount a ``size_kib`` tmpfs on ``directory`` (created); unmount it on the way out, also
    after a failure. Skips the test when not root or when the mount fails."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(directory)],  # noqa: S607
                             capture_output=True, text=True, check=False)  # nosec B603 B607
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on {directory}: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        # Lazy: a service the test could not stop must not leave the mount behind.
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)  # noqa: S607  # nosec B603 B607


def fill(directory: Path) -> Path:
    """Write a filler file in ``directory`` until its filesystem is full; return its path
    (delete it to free the space). Bounded by the filesystem's size."""
    filler = directory / "filler"
    limit = shutil.disk_usage(directory).total // len(_CHUNK) + 2
    with filler.open("wb", buffering=0) as f:
        for _ in range(limit):
            try:
                f.write(_CHUNK)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        else:
            raise AssertionError(f"{directory} did not fill up")
        # Fill the last partial page too: a small write must find no room either.
        with contextlib.suppress(OSError):
            while f.write(b"\0" * 512):
                pass
    return filler


def assert_storage_refusal(response: httpx.Response) -> None:
    """507 with Retry-After, never a 500 and never a traceback."""
    assert response.status_code == STORAGE_FULL, (response.status_code, response.text)
    assert int(response.headers["retry-after"]) > 0, response.headers
    assert "insufficient_storage" in response.text and "storage" in response.text, response.text
    assert "Traceback" not in response.text
