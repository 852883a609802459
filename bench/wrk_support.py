"""Run wrk pinned to a core and read its figures (shared by the bench scripts)."""

from __future__ import annotations

import re
import shutil
import subprocess  # benchmarks run wrk with fixed arguments  # nosec B404
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "run_wrk", "have_wrk"]

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    """Requests per second and latency percentiles (ms) of one wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    requests: int

    @property
    def ok_rps(self) -> float:
        """Requests per second that got a 2xx/3xx answer (the figure benchmarks compare)."""
        if not self.requests:
            return 0.0
        return self.rps * max(0, self.requests - self.non_2xx) / self.requests


def have_wrk() -> bool:
    """Whether wrk is on PATH (``apt-get install wrk``)."""
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, *, script: Path | None = None, seconds: int = 10, connections: int = 64, core: int = 1) -> WrkResult:
    """``taskset -c CORE wrk -t1 -cN -dS --latency [-s script] URL``."""
    argv = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout  # nosec B603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, non_2xx=non_2xx, errors=errors, requests=requests)
