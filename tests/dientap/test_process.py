"""Waiting for a supervised process to become ready: every way it can fail is reported."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from dientap.orchestration.process import wait_until_ready
from kernel.errors import ServiceStartError


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/healthz"


def test_a_process_that_exits_while_starting_is_reported_with_its_code_and_log():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(ServiceStartError, match=r"portal exited with code 3 while starting; see /tmp/portal.log"):
        wait_until_ready("portal", _dead_url(), proc, 5, log_hint="see /tmp/portal.log")


def test_no_answer_within_the_time_limit_names_the_last_error():
    with pytest.raises(ServiceStartError, match=r"axis not ready at http://127\.0\.0\.1:\d+/healthz after 0 s \(ConnectError\)"):
        wait_until_ready("axis", _dead_url(), None, 0.3, interval_s=0.05)
