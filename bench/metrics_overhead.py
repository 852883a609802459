"""Benchmark: the load generator's requests/s with and without the Prometheus exporter.

    .venv/bin/python bench/metrics_overhead.py [--phase-s 10] [--rounds 3] [--users 32]

One Locust process (FastHttpUser, ``wait_time = constant(0)``, so its core is saturated
and any exporter cost shows up as fewer requests/s) hits a minimal keep-alive HTTP server
in another process; each process is pinned to its own core when there are two. Every
request carries a (service, endpoint, province) context and an intended start, so the
recorder holds national cardinality: 3 services × 15 endpoints × 34 provinces × 2
measures = 1,020 histograms, pre-filled with 500 log-normal latencies each (≈ a long run:
hundreds of HDR slots per histogram). Phases of ``--phase-s`` seconds, same run:

* ``none``    — no exporter at all (first phase);
* ``idle``    — exporter serving, nobody scraping (costs nothing by design: no per-request work);
* ``scraped`` — a real Prometheus scraping it every 1 s (started for the phase, pinned to the
  other core, stopped after).

``idle`` and ``scraped`` alternate ``--rounds`` times to cancel drift. Prints req/s per
phase and the ratio scraped/idle (goal: overhead ≤ 5 %, issue #4). The machine is
shared: compare the ratio, not the absolute req/s.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import argparse
import gc
import json
import os
import random
import statistics
import subprocess  # our own target server  # nosec B404
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procfs import cpu_seconds  # noqa: E402
from dientap.orchestration.process import listening_socket  # noqa: E402
from dientap.orchestration.prometheus import PrometheusServer  # noqa: E402
from metrics.exporter import MetricsExporter  # noqa: E402
from scenarios.latency import LatencyRecorder, request_context  # noqa: E402
from scenarios.load_figures import LoadFigures  # noqa: E402

GOAL_OVERHEAD = 0.05
SERVICES = ("portal", "population", "axis")
ENDPOINTS = tuple(f"GET /bench/{n}" for n in range(5))
PROVINCES = tuple(f"{n:02d}" for n in range(1, 35))
PERSONA_FIELDS = {f"field_{n}": "giá trị " * 4 for n in range(24)}

TARGET = r'''
import asyncio, os, sys
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(RESPONSE * n)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
'''


def _cores() -> tuple[set[int], set[int]]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    return {cpus[0]}, {cpus[1]}


@contextmanager
def _affinity(cpus: set[int]):
    """Children forked inside inherit ``cpus`` (affinity is per thread; we fork from this one)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _prefill(recorder: LatencyRecorder, per_key: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for service in SERVICES:
        for endpoint in ENDPOINTS:
            for province in PROVINCES:
                for _ in range(per_key):
                    sent = int(rng.lognormvariate(9.5, 1.0))
                    recorder.record(service, endpoint, province, None, sent, sent + int(rng.expovariate(1 / 2000)),
                                    rng.random() < 0.01, at=1.0)


class BenchUser(FastHttpUser):
    """Saturating client: every request labelled like a dry-run request."""

    wait_time = constant(0)
    host = "http://127.0.0.1:0"  # replaced in main()

    @task
    def call(self) -> None:
        rng = random.random
        service = SERVICES[int(rng() * len(SERVICES))]
        endpoint = ENDPOINTS[int(rng() * len(ENDPOINTS))]
        province = PROVINCES[int(rng() * len(PROVINCES))]
        # A persona builds a request body (≈ 1 KB of JSON) for most calls; this also keeps the
        # generator, not the one-core target, the bottleneck.
        json.dumps({"province": province, "endpoint": endpoint, "fields": PERSONA_FIELDS})
        self.client.get("/ok", name=endpoint, context=request_context(service, province, intended_start=time.time()))


def _scrape_health(prom_url: str, window_s: float) -> str:
    """Prometheus's own view of the phase's scrapes: share up, slowest scrape."""
    import httpx

    def one(q: str) -> str:
        result = httpx.get(f"{prom_url}/api/v1/query", params={"query": q}, timeout=5).json()["data"]["result"]
        return f"{float(result[0]['value'][1]):.3g}" if result else "n/a"

    window = f"{int(window_s)}s"
    return (f"up {one(f'avg_over_time(up[{window}])')}, slowest scrape "
            f"{one(f'max_over_time(scrape_duration_seconds[{window}])')} s, samples {one(f'count_over_time(up[{window}])')}")


def _show(phase: Phase) -> str:
    return f"{phase.rps:,.0f} req/s, {phase.cpu_us_per_request:.1f} µs CPU/req, target CPU {phase.target_cpu:.0%}"


@dataclass
class Phase:
    """One measured phase."""

    rps: float
    cpu_us_per_request: float  # this (generator) process's CPU time per request
    target_cpu: float  # the target's CPU share: far below 100 % means it was not the bottleneck


def _measure(recorder: LatencyRecorder, seconds: float, target_pid: int) -> Phase:
    before, began, cpu, target_cpu = recorder.requests, time.monotonic(), time.process_time(), cpu_seconds(target_pid)
    gevent.sleep(seconds)
    elapsed, done = time.monotonic() - began, recorder.requests - before
    return Phase(done / elapsed, (time.process_time() - cpu) / max(done, 1) * 1e6,
                 (cpu_seconds(target_pid) - target_cpu) / elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase-s", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--prefill", type=int, default=500, help="latencies pre-recorded per histogram")
    args = parser.parse_args()

    gen_core, other_core = _cores()
    with _affinity(other_core):
        target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE, text=True)  # nosec B603
    os.sched_setaffinity(0, gen_core)
    work = Path(tempfile.mkdtemp(prefix="dientap-bench-metrics-"))
    results: dict[str, list[Phase]] = {"none": [], "idle": [], "scraped": []}
    renders: list[float] = []
    shares: list[float] = []  # share of the generator's CPU spent rendering scrapes
    try:
        port = int(target.stdout.readline())
        BenchUser.host = f"http://127.0.0.1:{port}"
        recorder = LatencyRecorder(bucket_horizon_s=30)
        _prefill(recorder, args.prefill)
        print(f"recorder: {len(recorder.histograms)} histograms, "
              f"{sum(len(h.counts) for h in recorder.histograms.values()):,} HDR slots; "
              f"generator core {sorted(gen_core)}, target + Prometheus core {sorted(other_core)}", flush=True)
        env = Environment(user_classes=[BenchUser])
        env.events.request.add_listener(recorder.on_request)
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        gevent.sleep(3)  # spawned and warm
        gc.collect()
        gc.freeze()  # as the harness does once spawning completes (scenarios.gc_tuning)
        results["none"].append(_measure(recorder, args.phase_s, target.pid))
        print(f"no exporter: {_show(results['none'][-1])}", flush=True)

        env.dientap = LoadFigures(recorder)
        env.dientap.started_at = time.time()
        exporter = MetricsExporter(env)
        sock = listening_socket("127.0.0.1", 0)
        exporter_port = sock.getsockname()[1]
        sock.close()
        url = exporter.serve(exporter_port)
        # One Prometheus for the whole run (pinned to the other core); scraping is switched
        # on and off by reloading its config, so its own start-up and series creation
        # (26,000 new series on the first scrape) stay out of the measured phases.
        prom = PrometheusServer(work / "prom", {"harness": url}, rules=None)
        with _affinity(other_core):
            prom.start()
        try:
            gevent.sleep(5)  # first scrapes: every histogram walked, every series created
            for round_no in range(args.rounds):
                prom.reload({})
                gevent.sleep(1.5)
                results["idle"].append(_measure(recorder, args.phase_s, target.pid))
                prom.reload({"harness": url})
                gevent.sleep(1.5)
                scrapes = exporter.scrapes
                render_cpu, cpu = exporter.run_state.render_cpu_s, time.process_time()
                results["scraped"].append(_measure(recorder, args.phase_s, target.pid))
                shares.append((exporter.run_state.render_cpu_s - render_cpu) / (time.process_time() - cpu))
                renders.append(exporter.run_state.last_render_s)
                health = _scrape_health(prom.url, args.phase_s)
                print(f"round {round_no + 1}: idle {_show(results['idle'][-1])} | scraped {_show(results['scraped'][-1])}; "
                      f"{exporter.scrapes - scrapes} scrapes, last render {renders[-1] * 1000:.0f} ms, "
                      f"render CPU {shares[-1]:.1%} of the generator's; {health}", flush=True)
        finally:
            prom.stop()
        runner.quit()
        exporter.stop()
    finally:
        target.kill()
        target.wait(5)

    none = results["none"][0]
    idle_rps = statistics.median(p.rps for p in results["idle"])
    scraped_rps = statistics.median(p.rps for p in results["scraped"])
    idle_cpu = statistics.median(p.cpu_us_per_request for p in results["idle"])
    scraped_cpu = statistics.median(p.cpu_us_per_request for p in results["scraped"])
    print(f"\n{'phase':<10}{'req/s':>10}{'CPU µs/req':>12}   (medians of {args.rounds} rounds)")
    print(f"{'none':<10}{none.rps:>10,.0f}{none.cpu_us_per_request:>12.1f}")
    print(f"{'idle':<10}{idle_rps:>10,.0f}{idle_cpu:>12.1f}")
    print(f"{'scraped':<10}{scraped_rps:>10,.0f}{scraped_cpu:>12.1f}")
    # Saturated capacity is inversely proportional to CPU per request; that ratio is far
    # less sensitive to other processes on a shared machine than raw req/s.
    capacity = idle_cpu / scraped_cpu
    print(f"\nreq/s      scraped/idle  {scraped_rps / idle_rps:.3f}   idle/none {idle_rps / none.rps:.3f}")
    print(f"capacity   scraped/idle  {capacity:.3f}   (idle CPU per request ÷ scraped CPU per request)")
    share = statistics.median(shares)
    print(f"render CPU {share:.1%} of the generator's CPU while scraped every 1 s (measured in-process: "
          f"the least noisy figure on a shared machine; goal ≤ {GOAL_OVERHEAD:.0%}: "
          f"{'met' if share <= GOAL_OVERHEAD else 'NOT met'})")
    print(f"overhead   {1 - capacity:.1%} of the generator's capacity with a 1-s Prometheus scrape "
          f"(goal ≤ {GOAL_OVERHEAD:.0%}: {'met' if 1 - capacity <= GOAL_OVERHEAD else 'NOT met'}); "
          f"render {statistics.median(renders) * 1000:.0f} ms per scrape (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
