"""A real dry run against a target that throttles: the embedded portal answers 429 with
Retry-After to 30 % of sign-ins (an injected fault, through a one-step drill), and the run's
console, records and report count the throttled apart from failures. A real ``dientap drill``
subprocess: real mocks, real Locust, real sockets on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess  # nosec B404 - the test runs our own CLI
import sys
from pathlib import Path

import pytest

from reports.readiness import readiness_matrix
from reports.run_files import load_summary

pytestmark = pytest.mark.e2e

DRILL = """\
title: Sign-in throttled by the portal
profile: smoke
duration_s: 20
steady_state_hypothesis:
  probes:
    - {name: portal healthy, kind: healthy, service: portal, during: true}
method:
  - name: sign-in throttled
    backend: http
    target: portal
    at_s: 0
    duration_s: 20
    http: {kind: error, route: /auth/token, method: POST, status: 429, rate: 0.3}
"""


@pytest.fixture(scope="module")
def throttled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    base = tmp_path_factory.mktemp("throttled")
    drill = base / "sign-in-throttled.yaml"
    drill.write_text(DRILL, encoding="utf-8")
    out = base / "runs"
    proc = subprocess.Popen(  # nosec B603 - fixed argv of our own CLI
        [sys.executable, "-m", "dientap.cli", "drill", str(drill), "--population-size", "3000", "--out", str(out),
         "--settle", "2", "--no-board"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: the CLI and the Locust it started
        proc.wait(10)
    assert proc.returncode == 0, stdout[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    return stdout, run_dir


def test_the_records_count_throttled_sign_ins_apart_from_failures(throttled_run):
    _, run_dir = throttled_run
    summary = load_summary(run_dir)
    sign_in = next(e for e in summary.endpoints if (e.service, e.name) == ("portal", "POST /auth/token"))
    assert summary.requests.failed == 0 and sign_in.failures == 0
    assert summary.requests.throttled == sign_in.throttled > 0
    assert sum(e.throttled for e in summary.endpoints) == summary.requests.throttled
    assert sum(p.throttled for p in summary.provinces) == summary.requests.throttled


def test_locust_counts_the_same_requests_as_failures_under_their_own_message(throttled_run):
    _, run_dir = throttled_run
    log = (run_dir / "logs" / "locust-stats.log").read_text(encoding="utf-8")
    counts = [int(n) for n in re.findall(r"^\s*(\d+)\s+portal POST /auth/token: throttled by target "
                                         r"\(429 injected_fault, Retry-After 1\)", log, flags=re.MULTILINE)]
    assert counts and max(counts) == load_summary(run_dir).requests.throttled  # the last table holds the run's total


def test_every_throttled_province_says_so_and_none_is_ready(throttled_run):
    _, run_dir = throttled_run
    matrix = readiness_matrix(load_summary(run_dir))
    assert matrix.throttled and all(r.status in ("throttled", "not ready") for r in matrix.throttled)
    assert all(r.throttled == 0 for r in matrix.rows if r.ready)


def test_the_console_shows_them_apart_live_and_in_the_headline(throttled_run):
    stdout, run_dir = throttled_run
    throttled = load_summary(run_dir).requests.throttled
    progress = [line for line in stdout.splitlines() if line.startswith("[")]
    assert any("| errors   0.0% |" in line and "| throttled by target" in line for line in progress), progress
    assert f"(0 failed, {throttled:,} throttled by the target," in stdout
