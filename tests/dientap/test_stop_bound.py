"""Ctrl-C stops every long-running command within the documented bound, on a saturated machine.

Each case starts a command under ``tests/stop_probe.py`` (a child subreaper: whatever the
command leaves behind is re-parented to it and found by walking the process tree) while a
bounded CPU hog keeps both cores busy, waits for a phase of the command's output, sends
SIGINT to the command's process group as a terminal's Ctrl-C does, and checks: the exit
came within the bound, with the documented code, nothing survived, and an interrupted run
directory says so in its journal.

The phase offsets, and whether the command starts with SIGINT inherited *ignored* (as a
background job of a non-interactive shell does: the cause of the hang this test guards
against), are drawn from a seeded ``random.Random``; the seed is in each case's id.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.stopping import ESCALATED_EXIT_S, STOP_BOUND_S

# "saturating": `make test` runs these on their own after the rest of the suite, so the CPU
# hog saturates the machine for dientap's stop alone and not for the other tests' timings.
pytestmark = [pytest.mark.e2e, pytest.mark.saturating]

PROBE = Path(__file__).parents[1] / "stop_probe.py"
SEED = 20261204
# Above the bound: the process's own exit, and the probe noticing it, also need the CPU the
# hog is taking. The bound itself is enforced by dientap's watchdog, not by luck.
SCHEDULING_MARGIN_S = 5.0
PHASE_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    marker: str | None  # the output line that starts the phase (None: as soon as it starts)
    max_offset_s: float  # SIGINT lands a random 0..max_offset_s after the marker
    exit_code: int
    run_dir: bool  # an interrupted run directory must exist and say so


def _cases() -> list[Case]:
    small = ("--population-size", "3000", "--seed", "7")
    return [
        Case("mocks-starting", ("mocks", "--ports", "0,0,0", *small), "starting the embedded", 1.0, 130, False),
        Case("mocks-serving", ("mocks", "--ports", "0,0,0", *small), "Ctrl-C to stop", 1.0, 0, False),
        Case("run-starting", ("run", "smoke", "--duration", "30", *small), "starting the embedded", 1.0, 130, True),
        Case("run-spawning", ("run", "smoke", "--duration", "30", *small), "run 2", 2.0, 130, True),
        Case("run-workers", ("run", "smoke", "--duration", "30", "--workers", "2", *small), "run 2", 3.0, 130, True),
        Case("run-report", ("run", "smoke", "--duration", "4", *small), "requests (", 0.3, 130, True),
        Case("drill-step", ("drill", "population-outage", "--duration", "30", *small), "  inject", 1.0, 130, True),
        Case("security-checks", ("security", *small), "security run", 1.0, 130, True),
    ]


@dataclass
class Probe:
    proc: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    pid: int
    seen: list[str]

    def wait_for(self, marker: str | None, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while marker is not None:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the command ended before {marker!r}:\n{''.join(self.seen[-30:])}"
            self.seen.append(line)
            if marker in line:
                return

    def result(self, timeout_s: float) -> tuple[dict, float]:
        """The probe's exit report and when it arrived (monotonic)."""
        deadline = time.monotonic() + timeout_s
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the probe ended without a report:\n{''.join(self.seen[-30:])}"
            self.seen.append(line)
            if line.startswith('{"exit"'):
                return json.loads(line), time.monotonic()


def _start(args: tuple[str, ...], out: Path, ignore_sigint: bool) -> Probe:
    flags = ["--inherit-sigint-ignored"] if ignore_sigint else []
    command = [sys.executable, "-m", "dientap.cli", *args]
    if args[0] == "mocks":
        command += ["--data-dir", str(out / "data")]
    else:
        command += ["--out", str(out)]
    proc = subprocess.Popen([sys.executable, str(PROBE), *flags, "--", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=out)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    first = lines.get(timeout=60)
    assert first is not None and first.startswith('{"pid"'), first
    return Probe(proc, lines, json.loads(first)["pid"], [])


def _clean_up(probe: Probe) -> None:
    """A failed wait leaves the command running: kill its group; the probe then reaps what is left."""
    if probe.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(probe.pid, signal.SIGKILL)
        try:
            probe.proc.wait(30)
        except subprocess.TimeoutExpired:
            probe.proc.kill()
            probe.proc.wait()


@pytest.fixture(scope="module")
def cpu_hog():
    """Both cores busy for the whole module (each hog ends by itself after 15 minutes)."""
    hogs = [subprocess.Popen(["timeout", "900", "sh", "-c", "while :; do :; done"], start_new_session=True)
            for _ in range(os.cpu_count() or 2)]
    yield
    for hog in hogs:  # the group: SIGKILL to `timeout` alone would orphan its busy child
        os.killpg(hog.pid, signal.SIGKILL)
        hog.wait()


def _interrupted_journal(out: Path) -> dict:
    run_dirs = [p for p in out.iterdir() if p.is_dir() and p.name[:8].isdigit()]
    assert len(run_dirs) == 1, f"expected one run directory in {out}: {sorted(p.name for p in out.iterdir())}"
    journal_path = run_dirs[0] / "journal.json"
    assert journal_path.exists(), f"interrupted run left no journal: {sorted(p.name for p in run_dirs[0].iterdir())}"
    return json.loads(journal_path.read_text(encoding="utf-8"))


DRAW = random.Random(SEED)
PLANNED = [(case, round(DRAW.uniform(0.0, case.max_offset_s), 2), DRAW.random() < 0.5) for case in _cases()]


@pytest.mark.parametrize(("case", "offset_s", "ignore_sigint"), PLANNED,
                         ids=[f"{c.name}+{o}s{'-sigint-ignored' if i else ''}" for c, o, i in PLANNED])
def test_ctrl_c_stops_within_the_bound_and_leaves_nothing_behind(case, offset_s, ignore_sigint, cpu_hog, tmp_path):
    probe = _start(case.args, tmp_path, ignore_sigint)
    try:
        probe.wait_for(case.marker, PHASE_TIMEOUT_S)
        time.sleep(offset_s)
        sent = time.monotonic()
        os.killpg(probe.pid, signal.SIGINT)
        report, arrived = probe.result(STOP_BOUND_S + 60)
    finally:
        _clean_up(probe)
    took = arrived - sent
    output = "".join(probe.seen[-25:])
    assert took <= STOP_BOUND_S + SCHEDULING_MARGIN_S, f"{case.name}: exited {took:.1f} s after SIGINT\n{output}"
    assert report["exit"] == case.exit_code, f"{case.name}: exit {report['exit']}\n{output}"
    assert report["survivors"] == [], f"{case.name}: left behind {report['survivors']}"
    if case.run_dir:
        journal = _interrupted_journal(tmp_path)
        kinds = [event["kind"] for event in journal["events"]]
        assert "interrupted" in kinds, f"{case.name}: journal events {kinds}"


def test_a_second_ctrl_c_kills_everything_at_once(cpu_hog, tmp_path):
    """Mid-load, the second Ctrl-C does not wait for Locust to drain: exit within the escalated bound."""
    probe = _start(("run", "smoke", "--duration", "60", "--workers", "2", "--population-size", "3000"), tmp_path, False)
    try:
        probe.wait_for("run 2", PHASE_TIMEOUT_S)
        time.sleep(2.0)
        os.killpg(probe.pid, signal.SIGINT)
        probe.wait_for("stopping (at most", 30)
        sent = time.monotonic()
        os.killpg(probe.pid, signal.SIGINT)
        report, arrived = probe.result(STOP_BOUND_S + 60)
    finally:
        _clean_up(probe)
    output = "".join(probe.seen[-25:])
    assert arrived - sent <= ESCALATED_EXIT_S + SCHEDULING_MARGIN_S, output
    assert report["exit"] == 130, output
    assert report["survivors"] == [], report["survivors"]
