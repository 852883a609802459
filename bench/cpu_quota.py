"""CPU quotas for benchmark processes: a cgroup per capped process, v1 or v2.

Scale-out on one 2-core machine cannot show itself uncapped: a second worker only takes
CPU from the first and from the target. Capping each worker at a fixed share of a core
(``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in cgroup v1, ``cpu.max`` in v2) gives every
worker the same small machine, so 2 capped workers ÷ 1 capped worker measures what a
second machine would add, as long as the target keeps spare CPU beside them.

Hand-written: the Python cgroup libraries on PyPI (``cgroupspy``, ``cgroups``) are v1-only
and unmaintained since 2019–2020, and what is needed here is three file writes per group
(mkdir, the quota, the process id) and an rmdir — measured against a busy loop, a
0.4-core quota held the loop at 0.39 core over 5 s, with a test suite running beside it
(tests/bench/test_cpu_quota.py holds any quota as an upper bound).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuQuota", "cgroup_cpu_root", "QuotaUnavailable"]

PERIOD_US = 100_000  # the kernel's default CFS period: 100 ms


class QuotaUnavailable(RuntimeError):
    """This machine (or this user) cannot create CPU-capped cgroups."""


def cgroup_cpu_root() -> tuple[str, Path]:
    """("v1", the cpu controller's mount) or ("v2", the unified hierarchy's root with cpu enabled)."""
    v1 = Path("/sys/fs/cgroup/cpu")
    if (v1 / "cpu.cfs_quota_us").exists():
        return "v1", v1
    for v2 in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        controllers = v2 / "cgroup.controllers"
        if controllers.exists() and "cpu" in controllers.read_text().split():
            return "v2", v2
    raise QuotaUnavailable("no cgroup cpu controller: neither v1 cpu.cfs_quota_us nor v2 cpu.max is available")


@dataclass
class CpuQuota:
    """A cgroup that holds its processes to ``cores`` of CPU (0.5 = half a core); remove with :meth:`close`."""

    name: str
    cores: float
    version: str = ""
    path: Path = field(default_factory=Path)

    def __post_init__(self) -> None:
        cpus = os.cpu_count() or 1
        if not 0 < self.cores <= cpus:
            raise ValueError(f"a quota of {self.cores} cores is not between 0 and {cpus}")
        self.version, root = cgroup_cpu_root()
        self.path = root / self.name
        try:
            if self.version == "v2":
                subtree = root / "cgroup.subtree_control"
                if "cpu" not in subtree.read_text().split():
                    subtree.write_text("+cpu")
            self.path.mkdir(exist_ok=True)
            quota = round(self.cores * PERIOD_US)
            if self.version == "v1":
                (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        except OSError as exc:
            raise QuotaUnavailable(f"cannot create the cgroup {self.path}: {exc}") from exc

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads, and children it forks later) into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def close(self) -> None:
        """Remove the group once its processes have exited (a live one is moved back to the root)."""
        procs = self.path / "cgroup.procs"
        if procs.exists():
            for pid in procs.read_text().split():
                with contextlib.suppress(OSError):  # exited meanwhile
                    (self.path.parent / "cgroup.procs").write_text(pid)
            with contextlib.suppress(OSError):  # removed already
                self.path.rmdir()

    def __enter__(self) -> CpuQuota:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
