"""The report in a real headless browser (Debian's chromium): it loads offline with no
console errors or failed fetches, and a screenshot is produced."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from reports.html import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/install-system-tools installs it)"),
]

# No network at all: a report that tries to fetch anything fails loudly.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--proxy-server=http://127.0.0.1:9", "--enable-logging=stderr", "--v=0",
]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("fixture", ["healthy", "unready-04-11"])
def test_report_loads_offline_without_console_errors_and_screenshots(fixture, fixture_run, tmp_path):
    run_dir = fixture_run(fixture)
    report = render_report(run_dir)
    shot = tmp_path / f"{fixture}.png"
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2000",
         f"--screenshot={shot}", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line]
    assert console == []
    width, height = _png_size(shot)
    assert (width, height) == (1400, 2000)
    assert shot.stat().st_size > 30_000  # a rendered page, not a blank one


def test_a_report_that_fetched_something_would_be_caught(tmp_path):
    """The check above can fail: a page with a network fetch logs a console error."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="http://example.invalid/x.png"><script>console.error("boom")</script></body></html>')
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={tmp_path / 'bad.png'}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert any("CONSOLE" in line for line in done.stderr.splitlines()), done.stderr[-2000:]
