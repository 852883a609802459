"""The CPU quota the scale-out benchmark gives each worker holds a real busy process to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cpu_quota import CpuQuota, QuotaUnavailable

BUSY = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_quota_holds_a_busy_process_to_its_share_of_a_core_and_is_removed_after() -> None:
    try:
        quota = CpuQuota(f"dientap-test-{os.getpid()}", 0.25)
    except QuotaUnavailable as exc:
        pytest.skip(f"no writable cgroup cpu controller here: {exc}")
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        with quota:
            quota.add(busy.pid)
            assert quota.path.name in Path(f"/proc/{busy.pid}/cgroup").read_text()
            time.sleep(0.3)  # past the first period, which may have run before the move
            cpu0, wall0 = _cpu_seconds(busy.pid), time.monotonic()
            time.sleep(2.0)
            used = (_cpu_seconds(busy.pid) - cpu0) / (time.monotonic() - wall0)
            # The cap is an upper bound the scheduler enforces every 100 ms period, however
            # busy the machine is; a loaded machine can only give the loop less.
            assert used <= 0.25 * 1.15, used
            assert used > 0, "the capped loop never ran"
    finally:
        busy.kill()
        busy.wait()
    quota.close()
    assert not quota.path.exists()


def test_a_quota_outside_the_machine_s_cores_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and"):
        CpuQuota("dientap-test-bad", (os.cpu_count() or 1) + 1)
    with pytest.raises(ValueError, match="between 0 and"):
        CpuQuota("dientap-test-bad", 0)
