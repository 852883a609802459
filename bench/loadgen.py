"""Load-generator capacity, each figure against a baseline measured in the same run.

    python bench/loadgen.py [--quick]

1. personas ÷ bare loop: requests/s one Locust process sustains running the full
   personas against the embedded mocks, divided by a bare FastHttpUser ``GET /healthz``
   loop against the same portal (goal ≥ 0.65, #14). The mocks run on core 0 and the
   generator on core 1. While the generator's core is the limit the figure is also the
   ratio of requests per generator-CPU-second; once the mocks' core saturates first it no
   longer is, so that ratio is printed beside it (each side's requests ÷ its own CPU).
2. officers held: officer actors one process holds at one action per 30 s with scheduling
   lag p99 < 1 s, and the memory per actor (goal ≥ 10,000 actors, ≤ 40 KB each).
3. arrivals: citizen arrivals one process sustains at the intended rate (achieved ÷
   intended ≥ 0.98).
4. scale-out: 2 Locust workers ÷ 1 worker on the bare loop (goal ≥ 1.8×), each worker capped
   at ``--worker-cpu`` of a core by a cgroup CPU quota (bench/cpu_quota.py, v1 or v2) so that
   two workers and the master fit beside the target on 2 cores — uncapped, a second worker
   only takes CPU from the first and from the target. Also: what the master costs per
   worker (its CPU ÷ the run's length ÷ workers).
5. gc: the effect of ``gc.freeze()`` after spawning — worst steady-state GC pause and
   scheduling lag with ~10,000 officer actors, with and without the freeze.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import subprocess  # benchmarks start Locust with fixed arguments  # nosec B404
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu_quota import CpuQuota
from bench.procfs import cpu_seconds, rss_kb
from dientap.orchestration.dryrun import DryRun, DryRunOptions
from dientap.orchestration.process import listening_socket
from reports.run_files import load_summary

HERE = Path(__file__).resolve().parent


def _pin(pid: int, cores: set[int]) -> None:
    os.sched_setaffinity(pid, cores)


def _aggregated_rps(csv_prefix: Path) -> float:
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"])
    return 0.0


@dataclass
class LoopResult:
    """What a bare loop run measured: requests/s and the master's CPU (0 without a master)."""

    rps: float
    master_cpu_s: float = 0.0
    seconds: float = 0.0
    cpu_share: float = 0.0  # a local process's CPU, in cores, from 3 s in to its end (0 with workers)


def bare_loop(url: str, seconds: int, workers: int, work: Path, cores: set[int] | None = None,
              worker_cpu: float | None = None) -> LoopResult:
    """The bare healthz loop (0 workers = one local process); ``worker_cpu`` caps each worker
    at that share of a core (a cgroup each)."""
    prefix = work / f"bare-{workers}-{time.monotonic_ns()}"
    base = [sys.executable, "-m", "locust", "-f", str(HERE / "locust_healthz.py"), "--headless", "--only-summary",
            "--host", url, "--loglevel", "ERROR"]
    procs = []
    quotas: list[CpuQuota] = []
    master_cpu = 0.0
    try:
        if workers == 0:
            procs.append(subprocess.Popen([*base, "-u", "64", "-r", "64", "-t", f"{seconds}s", "--csv", str(prefix)],  # nosec B603
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        else:
            sock = listening_socket()
            port = sock.getsockname()[1]
            sock.close()
            procs.append(subprocess.Popen([*base, "--master", "--master-bind-port", str(port), "--expect-workers",  # nosec B603
                                           str(workers), "-u", str(64 * workers), "-r", "500", "-t", f"{seconds}s",
                                           "--csv", str(prefix)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for index in range(workers):
                worker = subprocess.Popen([*base, "--worker", "--master-port", str(port)],  # nosec B603
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(worker)
                if worker_cpu is not None:
                    quota = CpuQuota(f"dientap-bench-{os.getpid()}-{workers}-{index}", worker_cpu)
                    quotas.append(quota)
                    quota.add(worker.pid)
        if cores is not None:
            for proc in procs:
                _pin(proc.pid, cores)
        master = procs[0]
        began = time.monotonic()
        samples: list[tuple[float, float]] = []
        while master.poll() is None:  # its CPU, read while it lives
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                master_cpu = cpu_seconds(master.pid)
                samples.append((time.monotonic() - began, master_cpu))
            time.sleep(0.5)
        master.wait(seconds + 60)
        for proc in procs[1:]:
            proc.wait(30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for quota in quotas:
            quota.close()
    steady = [sample for sample in samples if sample[0] >= 3.0]  # past Locust's start-up
    share = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) > 1 else 0.0
    return LoopResult(_aggregated_rps(prefix), master_cpu if workers else 0.0, float(seconds),
                      0.0 if workers else share)


def _profile(work: Path, name: str, text: str) -> str:
    path = work / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def _dry_run(profile: str, work: Path, population: int = 20_000, sample_pid_rss: bool = False) -> tuple[DryRun, dict]:
    """Run a profile with the mocks on core 0 and the generator on core 1."""
    extra: dict = {}
    options = DryRunOptions(profile=profile, population_size=population, out=work / "runs",
                            mock_settings={"population": {"rate_limit_per_s": 1e9, "rate_limit_burst": 10**9}})
    own = os.sched_getaffinity(0)
    with DryRun(options) as run:
        run.start_target()
        for service in run.cluster.services.values():
            _pin(service.proc.pid, {0})
        os.sched_setaffinity(0, {1})  # the Locust process inherits core 1
        try:
            run.start_load()
        finally:
            os.sched_setaffinity(0, own)
        locust_pid = None
        samples = []
        deadline = time.time() + run.profile.duration_s + 120
        while not run.wait(timeout_s=1.0) and time.time() < deadline:
            if locust_pid is None:
                locust_pid = _find_locust_pid()
            elapsed = run.elapsed()  # None until the load's doors open (load-start.json)
            if locust_pid is not None and sample_pid_rss and elapsed is not None:
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    samples.append((elapsed, rss_kb(locust_pid), cpu_seconds(locust_pid)))
        extra["samples"] = samples
    return run, extra


def _find_locust_pid() -> int | None:
    """Our own Locust child (other Locust processes on the machine are not ours)."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and any(part.endswith(b"locust_entry.py") for part in cmd):
            return int(proc.name)
    return None


def personas_vs_bare(work: Path, seconds: int) -> dict:
    busy = _profile(work, "busy", f"""\
        name: busy
        duration_s: {seconds}
        spawn_rate: 100
        communes: {{select: per_province, per_province: 2}}
        officers: {{per_commune: 1, login_window_s: 1, think_time_s: [0, 0.01], worklist_batch: 5}}
        agencies: {{enabled: true, think_time_s: [0, 0.01], fanout: 2, receipt_deadline_s: 5}}
        citizens: {{arrivals_per_s: 20, max_in_flight: 500}}
        abort: {{enabled: false}}
    """)
    run, extra = _dry_run(busy, work, sample_pid_rss=True)
    summary = load_summary(run.run_dir)
    samples = extra["samples"]
    cpu = (samples[-1][2] - samples[0][2]) / max(1e-9, samples[-1][0] - samples[0][0]) if len(samples) > 1 else 0.0
    with DryRun(DryRunOptions(profile="smoke", population_size=1000, out=work / "bare")) as bare_target:
        bare_target.start_target()
        for service in bare_target.cluster.services.values():
            _pin(service.proc.pid, {0})
        bare = bare_loop(bare_target.urls["portal"], seconds, 0, work, cores={1})
    return {"personas_rps": summary.requests.rps, "generator_cpu": cpu, "bare_rps": bare.rps, "bare_cpu": bare.cpu_share,
            "trustworthy": summary.generator.trustworthy, "failed": summary.requests.failed, "total": summary.requests.total}


def officers_held(work: Path, per_commune: int, seconds: int) -> dict:
    many = _profile(work, "many-officers", f"""\
        name: many-officers
        duration_s: {seconds}
        spawn_rate: 500
        communes: {{select: all}}
        officers: {{per_commune: {per_commune}, login_window_s: 30, think_time_s: [25, 35], worklist_batch: 5}}
        agencies: {{enabled: false}}
        citizens: {{arrivals_per_s: 0.01}}
        abort: {{enabled: false}}
    """)
    few = _profile(work, "few-officers", """\
        name: few-officers
        duration_s: 30
        spawn_rate: 500
        communes: {select: per_province, per_province: 1}
        officers: {per_commune: 1, login_window_s: 5, think_time_s: [25, 35], worklist_batch: 5}
        agencies: {enabled: false}
        citizens: {arrivals_per_s: 0.01}
        abort: {enabled: false}
    """)
    _small, small_extra = _dry_run(few, work, sample_pid_rss=True)
    large, large_extra = _dry_run(many, work, sample_pid_rss=True)
    summary = load_summary(large.run_dir)
    actors = 3321 * per_commune
    rss_small = max((s[1] for s in small_extra["samples"]), default=0)
    rss_large = max((s[1] for s in large_extra["samples"]), default=0)
    return {
        "actors": actors,
        "lag_p99_ms": summary.generator.schedule_lag_p99_ms,
        "lag_max_ms": summary.generator.max_schedule_lag_ms,
        "gc_max_pause_ms": summary.generator.gc_max_pause_ms,
        "rss_mb": rss_large / 1024,
        "kb_per_actor": (rss_large - rss_small) / max(1, actors - 34),
        "communes_active": summary.communes.active,
        "trustworthy": summary.generator.trustworthy,
    }


def gc_effect(work: Path, per_commune: int, seconds: int) -> dict:
    """The same officer load with the freeze on and off (DIENTAP_GC_FREEZE)."""
    profile = _profile(work, "gc-officers", f"""\
        name: gc-officers
        duration_s: {seconds}
        spawn_rate: 500
        communes: {{select: all}}
        officers: {{per_commune: {per_commune}, login_window_s: 20, think_time_s: [25, 35], worklist_batch: 5}}
        agencies: {{enabled: false}}
        citizens: {{arrivals_per_s: 2}}
        abort: {{enabled: false}}
    """)
    figures = {}
    for label, flag in (("freeze", "1"), ("no freeze", "0")):
        os.environ["DIENTAP_GC_FREEZE"] = flag
        try:
            run, _ = _dry_run(profile, work)
        finally:
            os.environ.pop("DIENTAP_GC_FREEZE", None)
        generator = load_summary(run.run_dir).generator
        figures[label] = (generator.gc_steady_max_pause_ms or 0.0, generator.schedule_lag_p99_ms or 0.0,
                          generator.max_schedule_lag_ms or 0.0)
    return {"actors": 3321 * per_commune, **figures}


def arrivals(work: Path, rate: float, seconds: int) -> dict:
    profile = _profile(work, "arrivals", f"""\
        name: arrivals
        duration_s: {seconds}
        communes: {{select: per_province, per_province: 3}}
        officers: {{per_commune: 1, login_window_s: 5, think_time_s: [20, 40]}}
        agencies: {{enabled: false}}
        citizens: {{arrivals_per_s: {rate}, max_in_flight: 5000, journey: {{status_polls: 1, poll_interval_s: 2}}}}
        abort: {{enabled: false}}
    """)
    run, _ = _dry_run(profile, work)
    summary = load_summary(run.run_dir)
    due, started = summary.generator.arrivals_due or 0, summary.generator.arrivals_started or 0
    return {"rate": rate, "due": due, "started": started, "late": summary.generator.arrivals_late,
            "achieved": started / due if due else 0.0}


def scale_out(work: Path, seconds: int, worker_cpu: float) -> dict:
    """2 capped workers ÷ 1 capped worker on the bare loop, in the same run, same target."""
    with DryRun(DryRunOptions(profile="smoke", population_size=1000, out=work / "scale")) as target:
        target.start_target()
        url = target.urls["portal"]
        one = bare_loop(url, seconds, 1, work, worker_cpu=worker_cpu)
        two = bare_loop(url, seconds, 2, work, worker_cpu=worker_cpu)
        uncapped_one = bare_loop(url, seconds, 1, work)
        uncapped_two = bare_loop(url, seconds, 2, work)
    per_worker = [r.master_cpu_s / r.seconds / n for r, n in ((one, 1), (two, 2)) if r.seconds]
    return {"one": one.rps, "two": two.rps, "ratio": two.rps / one.rps if one.rps else 0.0,
            "uncapped_ratio": uncapped_two.rps / uncapped_one.rps if uncapped_one.rps else 0.0,
            "uncapped_one": uncapped_one.rps, "uncapped_two": uncapped_two.rps,
            "master_core_per_worker": per_worker, "worker_cpu": worker_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs, 1 officer per commune")
    parser.add_argument("--only", choices=("personas", "officers", "arrivals", "scale", "gc"), default=None)
    parser.add_argument("--worker-cpu", type=float, default=0.4,
                        help="scale-out: each worker's CPU quota, in cores (default 0.4: two workers and the "
                        "master leave the target more than a core of the two)")
    args = parser.parse_args()
    seconds = 15 if args.quick else 30
    with tempfile.TemporaryDirectory(prefix="dientap-loadgen-") as tmp:
        work = Path(tmp)
        if args.only in (None, "personas"):
            r = personas_vs_bare(work, seconds)
            per_cpu = ((r["personas_rps"] / r["generator_cpu"]) / (r["bare_rps"] / r["bare_cpu"])
                       if r["generator_cpu"] and r["bare_cpu"] else 0.0)
            print(f"personas: {r['personas_rps']:.0f} req/s ({r['failed']} failed of {r['total']}, "
                  f"generator {r['generator_cpu'] * 100:.0f}% of a core)"
                  f" vs bare healthz loop {r['bare_rps']:.0f} req/s ({r['bare_cpu'] * 100:.0f}% of a core) → ratio "
                  f"{r['personas_rps'] / r['bare_rps']:.2f} (goal ≥ 0.65); per generator CPU-second {per_cpu:.2f}")
        if args.only in (None, "officers"):
            r = officers_held(work, 1 if args.quick else 3, 60 if args.quick else 120)
            print(f"officers: {r['actors']:,} actors at one action / 30 s: lag p99 {r['lag_p99_ms']:.0f} ms "
                  f"(max {r['lag_max_ms']:.0f}), "
                  f"GC max {r['gc_max_pause_ms'] or 0:.0f} ms, RSS {r['rss_mb']:.0f} MB, {r['kb_per_actor']:.1f} KB/actor, "
                  f"{r['communes_active']:,} communes active, trustworthy={r['trustworthy']} "
                  "(goal ≥ 10,000 actors, lag p99 < 1 s, ≤ 40 KB)")
        if args.only in (None, "arrivals"):
            r = arrivals(work, 30.0, seconds * 2)
            print(f"arrivals: {r['started']}/{r['due']} started at {r['rate']:g}/s intended → "
                  f"achieved ÷ intended {r['achieved']:.3f} "
                  f"({r['late']} late) (goal ≥ 0.98)")
        if args.only in (None, "gc"):
            r = gc_effect(work, 1 if args.quick else 3, 60 if args.quick else 90)
            for label in ("freeze", "no freeze"):
                pause, lag_p99, lag_max = r[label]
                print(f"gc ({label:>9}): {r['actors']:,} actors, worst GC pause after spawning {pause:.0f} ms, "
                      f"scheduling lag p99 {lag_p99:.0f} ms, max {lag_max:.0f} ms")
        if args.only in (None, "scale"):
            r = scale_out(work, seconds, args.worker_cpu)
            master = ", ".join(f"{share * 100:.1f} %" for share in r["master_core_per_worker"])
            print(f"scale-out (each worker capped at {r['worker_cpu']:g} core): 1 worker {r['one']:.0f} req/s, "
                  f"2 workers {r['two']:.0f} req/s → {r['ratio']:.2f}× (goal ≥ 1.8×); master {master} of a core per "
                  f"worker (1, 2 workers); uncapped, for comparison: {r['uncapped_one']:.0f} → {r['uncapped_two']:.0f} "
                  f"req/s = {r['uncapped_ratio']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
