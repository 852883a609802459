"""The run's process sampler reads real processes (psutil) into the run's records: a child
holding extra open files and memory is seen doing so, a child spinning on the CPU is seen
using more CPU time than one asleep, a gone or unstarted process is skipped, and stopping
takes a last sample and ends the thread."""

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


_SPINNER = "import time\nend = time.monotonic() + 60\nprint('ready', flush=True)\nwhile time.monotonic() < end:\n    pass\n"


def test_a_spinning_child_s_cpu_time_grows_and_a_sleeping_one_s_does_not_as_much(tmp_path: Path) -> None:
    children = {name: subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)  # nosec B603
                for name, code in (("spinner", _SPINNER), ("sleeper", _HOLDER))}
    try:
        for child in children.values():
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        sampler = ProcessSampler(tmp_path, lambda: {name: c.pid for name, c in children.items()}, interval_s=0.05)
        sampler.start()

        def used(name: str) -> float:  # CPU seconds between the first and the last sample
            cpu = [s.cpu_s for s in load_process_samples(tmp_path) if s.process == name]
            assert all(c is not None for c in cpu)
            return (cpu[-1] or 0.0) - (cpu[0] or 0.0) if cpu else 0.0

        deadline = time.monotonic() + 10  # 0.2 s of CPU for the spinner, however busy the machine
        while used("spinner") < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        sampler.stop()
        assert used("spinner") >= 0.2
        assert used("sleeper") < used("spinner") / 4
    finally:
        for child in children.values():
            child.kill()
            child.wait()
