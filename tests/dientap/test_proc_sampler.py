"""The run's process sampler reads real processes (psutil) into the run's records: a child
holding extra open files and memory is seen doing so, a gone or unstarted process is
skipped, and stopping takes a last sample and ends the thread."""

from __future__ import annotations

import subprocess  # nosec B404 - a child of our own interpreter
import sys
import time
from pathlib import Path

from dientap.orchestration.proc_sampler import ProcessSampler
from reports.process_growth import load_process_samples

# Holds 20 MB and 50 extra open files, says so, then sleeps.
_HOLDER = ("import os, sys, time\nblob = bytearray(b'x' * (20 * 1024 * 1024))\nfiles = [open(os.devnull) for _ in range(50)]\n"
           "print('ready', flush=True)\ntime.sleep(60)\n")


def test_a_child_s_memory_and_open_files_are_sampled_into_the_run(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True)  # nosec B603
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        gone = subprocess.Popen([sys.executable, "-c", "pass"])  # nosec B603
        gone.wait()
        sampler = ProcessSampler(tmp_path, lambda: {"holder": child.pid, "gone": gone.pid, "not started": None},
                                 interval_s=0.05)
        sampler.start()
        deadline = time.monotonic() + 10  # two samples, however busy the machine
        while len(load_process_samples(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        sampler.stop()
        samples = load_process_samples(tmp_path)
        assert len(samples) >= 2 and {s.process for s in samples} == {"holder"}
        assert all(s.pid == child.pid and s.rss_kb > 20 * 1024 and s.open_fds >= 53 for s in samples)
        count = len(samples)
        time.sleep(0.2)
        assert len(load_process_samples(tmp_path)) == count  # stopped: no more samples
    finally:
        child.kill()
        child.wait()
