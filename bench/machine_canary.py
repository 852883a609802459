"""Is the machine itself getting slower? Run beside a long run (a soak) to tell a slower
machine from a slower target: every ``--every`` seconds, a fixed CPU loop is timed (best of
five, in this thread's CPU time and in wall time) and ``/proc/stat``'s totals are read, one
JSON line per sample; at the end, a table per ``--window`` seconds: the loop's median CPU
and wall time, the machine's busy share and the share the hypervisor stole.

    python bench/machine_canary.py OUT.jsonl --seconds 1600 [--every 10] [--window 300]

A loop that takes the same CPU time all along means the CPU did not slow down (frequency,
a noisy neighbour's caches); a rising steal share means the host took the cores away.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _loop() -> int:
    total = 0
    for i in range(300_000):
        total += i * i % 7
    return total


def _stat() -> list[int]:
    with open("/proc/stat", encoding="ascii") as f:
        return [int(p) for p in f.readline().split()[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=300.0)
    args = parser.parse_args()
    rows = []
    started = time.time()
    with args.out.open("w", encoding="utf-8") as out:
        while time.time() - started < args.seconds:  # bounded by --seconds
            walls, cpus = [], []
            for _ in range(5):
                wall, cpu = time.perf_counter(), time.thread_time()
                _loop()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.thread_time() - cpu)
            row = {"t": round(time.time() - started, 1), "wall_ms": round(min(walls) * 1e3, 2),
                   "cpu_ms": round(min(cpus) * 1e3, 2), "stat": _stat()}
            rows.append(row)
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(args.every)
    print(f"{'from s':>6}  {'loop CPU ms':>11}  {'loop wall ms':>12}  {'busy %':>6}  {'steal %':>7}")
    start = 0.0
    while start < args.seconds:
        window = [r for r in rows if start <= r["t"] < start + args.window]
        if len(window) >= 2:
            delta = [b - a for a, b in zip(window[0]["stat"], window[-1]["stat"], strict=True)]
            total = sum(delta[:8]) or 1  # user nice system idle iowait irq softirq steal
            print(f"{start:>6.0f}  {statistics.median(r['cpu_ms'] for r in window):>11.2f}  "
                  f"{statistics.median(r['wall_ms'] for r in window):>12.2f}  "
                  f"{100 * (total - delta[3] - delta[4]) / total:>6.1f}  {100 * delta[7] / total:>7.2f}")
        start += args.window


if __name__ == "__main__":
    main()
