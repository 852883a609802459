"""Samples the resident memory, open files and CPU time of every process of a run — the embedded
mocks, the Locust master and its workers — every few seconds into the run's records
(``<run_dir>/processes.jsonl``, :class:`reports.process_growth.ProcessSample`), so the
report can tell bounded data from a leak (:func:`reports.process_growth.process_growth`).

Readings come from psutil (``memory_info().rss``, ``num_fds()``, ``cpu_times()``), which
Locust already depends on. CPU time is recorded because a soak at a steady request rate
showed every process's CPU share rise by a sixth for minutes at a time (BENCHMARKS.md, "One
hour at 80 %"): memory alone could not say where the machine's time went. A process that
is gone or not yet started is skipped for that tick; a mock restarted by a drill is followed
under its new pid.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from kernel.defaults import PROCESS_SAMPLE_S
from reports.process_growth import PROCESSES_FILE, ProcessSample

__all__ = ["ProcessSampler"]


class ProcessSampler:
    """A daemon thread appending one sample per process every ``interval_s`` until stopped.

    ``processes()`` names the processes to read at each tick (name → pid, or None when the
    process is not running), so processes started after the sampler are picked up.
    """

    def __init__(self, run_dir: Path, processes: Callable[[], dict[str, int | None]],
                 interval_s: float = PROCESS_SAMPLE_S):
        self.path = run_dir / PROCESSES_FILE
        self._processes = processes
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="process-sampler", daemon=True)

    def start(self) -> None:
        """Take the first sample now, then one every interval."""
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop (bounded: the thread only ever waits on its interval)."""
        self._stop.set()
        self._thread.join(5.0)

    def sample(self) -> list[ProcessSample]:
        """One reading of every named process that is running."""
        now = time.time()
        readings = []
        for name, pid in self._processes().items():
            if pid is None:
                continue
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    cpu = proc.cpu_times()
                    readings.append(ProcessSample(at=now, process=name, pid=pid, rss_kb=proc.memory_info().rss // 1024,
                                                  open_fds=proc.num_fds(), cpu_s=round(cpu.user + cpu.system, 3)))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue  # gone between the listing and the reading (a drill's kill, the end of the run)
        return readings

    def _loop(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            while True:
                for reading in self.sample():
                    out.write(reading.model_dump_json() + "\n")
                out.flush()
                if self._stop.wait(self._interval_s):
                    break
