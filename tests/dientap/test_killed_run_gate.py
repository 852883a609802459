"""A run whose orchestrator is killed (SIGKILL: nothing can catch it) while the load runs:
Locust, left alone, still writes the records of what it did — and those figures must not
pass the gate as a completed rehearsal. Real processes: `dientap run`, its mocks and Locust,
then `dientap gate` on what is left."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]


def _wait_for(predicate, bound_s: float, what: str) -> None:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {bound_s:g} s")


def test_the_figures_of_a_killed_run_break_the_gate(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "dientap.cli", "run", "smoke", "--duration", "20", "--population-size", "3000",
               "--seed", "7", "--out", str(out), "--no-board"]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # nosec B603
                           start_new_session=True)
    try:
        _wait_for(lambda: any(out.glob("*/load-start.json")), 120, "the load did not start")
        time.sleep(3)  # into the load, well before its 20 s
        run.send_signal(signal.SIGKILL)  # the orchestrator alone: Locust and the mocks are left
        run.wait()
        _wait_for(lambda: any(out.glob("*/summary.json")), 60, "Locust wrote no records after its orchestrator died")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # whatever of the session is left
    run_dir = next(out.glob("*/summary.json")).parent
    abort = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["abort"]
    assert abort["aborted"] and "did not complete" in abort["reason"], abort
    gate = subprocess.run([sys.executable, "-m", "dientap.cli", "gate", str(run_dir)], cwd=ROOT,  # nosec B603
                          capture_output=True, text=True, timeout=120, check=False)
    assert gate.returncode == 1, gate.stdout[-2000:] + gate.stderr[-2000:]
    assert "did not complete" in gate.stdout and "BUDGET BROKEN" in gate.stdout, gate.stdout[-2000:]
