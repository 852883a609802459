"""The national profile on one machine, embedded mocks included (#14 item 2).

    python bench/national.py [--scale X ...] [--duration S] [--workers N]

Runs ``dientap run national`` (through the same DryRun the command uses) once per
``--scale`` given, largest first, and prints for each: requests, failures, communes and
provinces active, the generator's own verdict (scheduling lag p99 and max, arrivals
achieved ÷ intended, worst GC pause after spawning, CPU per worker) and memory per actor
(the load processes' resident memory at the end of the spawn minus before it, over the
actors spawned). The first scale the generator trusts with 0 failures is the largest that
works; the run's length is ``--duration`` (600 s for the benchmark row).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procfs import rss_kb
from dientap.orchestration.dryrun import DryRun, DryRunOptions
from reports.run_files import load_summary


def _load_pids() -> list[int]:
    """Our Locust processes (the master's or local process's and the workers')."""
    me, found = os.getpid(), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and b"locust_entry.py" in cmd:
            found.append(int(proc.name))
    return found


def national(scale: float, duration_s: float, workers: int, out: Path) -> dict:
    """One national run at ``scale``; its figures."""
    options = DryRunOptions(profile="national", scale=scale, duration_s=duration_s, workers=workers, out=out,
                            say=lambda _line: None)
    with DryRun(options) as run:
        officers, agencies = run.users
        run.start_target()
        run.start_load()
        base_kb: int | None = None
        peak_kb = 0
        spawned_at_kb = 0
        deadline = time.time() + duration_s + 300
        while not run.wait(timeout_s=2.0) and time.time() < deadline:
            pids = _load_pids()
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                rss = sum(rss_kb(pid) for pid in pids)
                if base_kb is None and pids and run.started_at is None:
                    base_kb = rss  # the processes up, no user yet
                elif run.started_at is not None:
                    peak_kb = max(peak_kb, rss)
                    elapsed = run.elapsed() or 0
                    if elapsed < (officers + agencies) / run.profile.spawn_rate + 10:
                        spawned_at_kb = rss
    summary = load_summary(run.run_dir)
    generator = summary.generator
    due, started = generator.arrivals_due or 0, generator.arrivals_started or 0
    actors = officers + agencies
    return {
        "scale": scale, "officers": officers, "agencies": agencies, "citizens_per_s": run.profile.citizen_base_rate,
        "requests": summary.requests.total, "failed": summary.requests.failed, "rps": summary.requests.rps,
        "communes": summary.communes.active, "provinces": sum(1 for p in summary.provinces if p.communes_active),
        "trustworthy": generator.trustworthy, "reasons": generator.reasons,
        "lag_p99_ms": generator.schedule_lag_p99_ms, "lag_max_ms": generator.max_schedule_lag_ms,
        "gc_steady_ms": generator.gc_steady_max_pause_ms, "cpu": generator.cpu_percent,
        "achieved": started / due if due else 0.0, "due": due,
        "kb_per_actor": (spawned_at_kb - (base_kb or 0)) / actors if actors and spawned_at_kb else None,
        "rss_mb": peak_kb / 1024, "run_dir": str(run.run_dir),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, action="append", default=None,
                        help="fraction of the national size (repeatable; default 1)")
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-national"))
    args = parser.parse_args()
    for scale in sorted(args.scale or [1.0], reverse=True):
        r = national(scale, args.duration, args.workers, args.out)
        print(f"national ×{r['scale']:g} for {args.duration:g} s, {args.workers} workers: {r['officers']:,} officers + "
              f"{r['agencies']} agencies, citizens {r['citizens_per_s']:g}/s — {r['requests']:,} requests "
              f"({r['failed']:,} failed, {r['rps']:.0f}/s), {r['communes']:,}/3,321 communes, {r['provinces']}/34 "
              f"provinces; generator trustworthy={r['trustworthy']} (lag p99 {r['lag_p99_ms'] or 0:.0f} ms, max "
              f"{r['lag_max_ms'] or 0:.0f} ms; arrivals {r['achieved']:.3f} of {r['due']:,} due; GC after spawn "
              f"{r['gc_steady_ms'] or 0:.0f} ms; CPU {r['cpu']}); memory {r['rss_mb']:.0f} MB, "
              f"{r['kb_per_actor'] or 0:.1f} KB per actor; {r['run_dir']}", flush=True)
        for reason in r["reasons"]:
            print(f"    {reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
