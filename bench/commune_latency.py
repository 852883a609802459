"""Benchmark: the per-commune latency sketches (issue #13 item 2) — which sketch, and what
it costs a load worker, each against a baseline measured in the same run.

    .venv/bin/python bench/commune_latency.py                 # ≈ 3 minutes
    .venv/bin/python bench/commune_latency.py --only choice   # the sketch comparison alone
    .venv/bin/pip install ddsketch                            # to include DDSketch (not a dependency)

1. **choice** — the candidates on one stream of latencies (log-normal, median 3 ms, σ 1)
   spread over the 3,321 communes: µs per record (against the bare per-commune dict
   look-up), memory of the whole run held in one process (local runner, master) at 50 –
   3,000 requests per commune, the p95 of every commune against the exact p95 of its
   samples, and the cost of putting one commune's 2-s window on the wire:
   ``kernel.hdr.SparseHistogram`` at 2 digits held sparse, the same folded into compact
   arrays (``scenarios.commune_sketches``, what dientap uses), ``hdrh``'s dense
   HdrHistogram at 2 digits, and ``ddsketch.DDSketch(0.01)`` when installed.
2. **worker** — one Locust process saturating its core against a minimal keep-alive
   server on the other, every request labelled with one of the 3,321 communes, its
   recorder drained every 2 s as a worker's is (``take_delta``, wire form, msgpack).
   Phases alternate with and without the per-commune sketches (the recorder's
   ``commune_latency`` swapped for a no-op); the cost is the difference in CPU per request
   (medians over the rounds), as a share of the worker's CPU. Goal ≤ 3 %. The no-op keeps
   one method call per request in the baseline (≈ 0.05 µs), which the figure leaves out.
   The window a worker holds between two drains is measured at the phase's request rate.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import argparse
import gc
import math
import os
import random
import statistics
import subprocess  # our own target server  # nosec B404
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import msgpack
from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, constant, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metrics_overhead import TARGET, _affinity, _cores  # noqa: E402
from kernel.commune_latency import SIGNIFICANT_FIGURES, new_commune_sketch  # noqa: E402
from kernel.roster import load_roster  # noqa: E402
from scenarios.commune_sketches import CommuneSketches  # noqa: E402
from scenarios.latency import LatencyRecorder, request_context  # noqa: E402

GOAL_CPU = 0.03
GOAL_MB = 50.0
COMMUNES = [c.code for c in load_roster().communes]
PROVINCE_OF = {c.code: c.province_code for c in load_roster().communes}


def _latencies(rng: random.Random, n: int) -> list[int]:
    return [max(1, int(rng.lognormvariate(math.log(3000), 1.0))) for _ in range(n)]


def _exact_rank(values: list[int], percentile: float) -> int:
    """HdrHistogram's rank rule (kernel.commune_latency): the sample at max(int(p/100·n + 0.5), 1)."""
    ordered = sorted(values)
    return ordered[max(int(percentile * len(ordered) / 100 + 0.5), 1) - 1]


def _dd_rank(values: list[int], quantile: float) -> int:
    """DDSketch's rank rule: the sample at floor(q·(n − 1)) (0-based)."""
    ordered = sorted(values)
    return ordered[int(quantile * (len(ordered) - 1))]


class _Candidate:
    """A sketch family: how to make one, record into it, read its p95, size a 2-s window's wire form."""

    def __init__(self, name: str, make: Callable[[], Any], record: Callable[[Any, int], None],
                 p95: Callable[[Any], float], exact: Callable[[list[int]], int]) -> None:
        self.name, self.make, self.record, self.p95, self.exact = name, make, record, p95, exact


def _candidates() -> list[_Candidate]:
    found = [
        _Candidate("HDR 2 digits, sparse (kernel.hdr)", new_commune_sketch, lambda s, v: s.record(v),
                   lambda s: s.value_at_percentile(95.0), lambda xs: _exact_rank(xs, 95.0)),
        _Candidate("HDR 2 digits, dense (hdrh)", lambda: HdrHistogram(1, 3_600_000_000, SIGNIFICANT_FIGURES),
                   lambda s, v: s.record_value(v), lambda s: s.get_value_at_percentile(95.0),
                   lambda xs: _exact_rank(xs, 95.0)),
    ]
    try:
        from ddsketch import DDSketch
    except ImportError:
        print("ddsketch is not installed (not a dependency): `.venv/bin/pip install ddsketch` to compare it")
    else:
        found.append(_Candidate("DDSketch 1 % (ddsketch)", lambda: DDSketch(0.01), lambda s, v: s.add(v),
                                lambda s: s.get_quantile_value(0.95), lambda xs: _dd_rank(xs, 0.95)))
    return found


def _record_cost(candidate: _Candidate, stream: list[tuple[str, int]]) -> float:
    """Best of 3: µs of CPU per record, the per-commune look-up included."""
    best = math.inf
    for _ in range(3):
        sketches: dict[str, Any] = {}
        make, record = candidate.make, candidate.record
        began = time.process_time()
        for commune, value in stream:
            sketch = sketches.get(commune)
            if sketch is None:
                sketch = sketches[commune] = make()
            record(sketch, value)
        best = min(best, time.process_time() - began)
    return best / len(stream) * 1e6


def _lookup_cost(stream: list[tuple[str, int]]) -> float:
    best = math.inf
    for _ in range(3):
        sketches: dict[str, list[int]] = {}
        began = time.process_time()
        for commune, _value in stream:
            sketch = sketches.get(commune)
            if sketch is None:
                sketch = sketches[commune] = [0]
        best = min(best, time.process_time() - began)
    return best / len(stream) * 1e6


def _compact_record_cost(stream: list[tuple[str, int]]) -> float:
    """µs per record through CommuneSketches, folding every 2 s' worth as a local runner does."""
    best = math.inf
    per_fold = 16_000  # ≈ 2 s of a saturated worker
    for _ in range(3):
        sketches = CommuneSketches()
        began = time.process_time()
        for number, (commune, value) in enumerate(stream):
            sketches.record(commune, value)
            if number % per_fold == per_fold - 1:
                sketches.fold()
        sketches.fold()
        best = min(best, time.process_time() - began)
    return best / len(stream) * 1e6


def _whole_run_mb(build: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    tracemalloc.start()
    held = build()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current / 1e6, held


def choice(requests: int) -> None:
    rng = random.Random(13)
    stream = list(zip((rng.choice(COMMUNES) for _ in range(requests)), _latencies(rng, requests), strict=True))
    lookup = _lookup_cost(stream)
    print(f"\n1. choice: {requests:,} requests over {len(COMMUNES):,} communes; bare per-commune look-up {lookup:.2f} µs")
    candidates = _candidates()
    print(f"{'sketch':<38}{'µs/record':>10}{'÷ look-up':>10}")
    for c in candidates:
        cost = _record_cost(c, stream)
        print(f"{c.name:<38}{cost:>10.2f}{cost / lookup:>10.1f}")
    compact = _compact_record_cost(stream)
    print(f"{'HDR 2 digits, window + compact (ours)':<38}{compact:>10.2f}{compact / lookup:>10.1f}")

    print(f"\nmemory of the whole run in one process, {len(COMMUNES):,} communes (MB; goal ≤ {GOAL_MB:.0f}):")
    sizes = (50, 300, 1_000, 3_000)
    print(f"{'sketch':<38}" + "".join(f"{f'{n:,}/commune':>14}" for n in sizes))
    values = {n: _latencies(random.Random(n), n) for n in sizes}
    for c in candidates:
        if "dense" in c.name:  # the same size whatever it holds
            mb, _ = _whole_run_mb(lambda c=c: [c.make() for _ in COMMUNES])
            print(f"{c.name:<38}" + "".join(f"{mb:>14.1f}" for _ in sizes))
            continue
        row = []
        for n in sizes:
            def build(c: _Candidate = c, n: int = n) -> dict[str, Any]:
                held = {commune: c.make() for commune in COMMUNES}
                for sketch in held.values():
                    for value in values[n]:
                        c.record(sketch, value)
                return held
            mb, held = _whole_run_mb(build)
            row.append(mb)
            del held
        print(f"{c.name:<38}" + "".join(f"{mb:>14.1f}" for mb in row))
    row = []
    for n in sizes:
        def build_compact(n: int = n) -> CommuneSketches:
            sketches = CommuneSketches()
            for start in range(0, n, 100):  # a local runner folds every 2 s: here every 100 per commune
                for commune in COMMUNES:
                    for value in values[n][start:start + 100]:
                        sketches.record(commune, value)
                sketches.fold()
            return sketches
        mb, held = _whole_run_mb(build_compact)
        row.append(mb)
        del held
    print(f"{'HDR 2 digits, compact arrays (ours)':<38}" + "".join(f"{mb:>14.1f}" for mb in row))

    print("\naccuracy: every commune's p95 against the exact p95 of its own samples (each sketch's rank rule)")
    by_commune: dict[str, list[int]] = {}
    for commune, value in stream:
        by_commune.setdefault(commune, []).append(value)
    for c in candidates:
        worst = mean = 0.0
        for samples in by_commune.values():
            sketch = c.make()
            for value in samples:
                c.record(sketch, value)
            exact = c.exact(samples)
            error = abs(c.p95(sketch) - exact) / exact
            worst, mean = max(worst, error), mean + error
        print(f"{c.name:<38} worst {worst:.3%}, mean {mean / len(by_commune):.3%} over {len(by_commune):,} communes "
              f"({statistics.median(len(s) for s in by_commune.values()):.0f} samples each, median)")

    window = new_commune_sketch()
    for value in _latencies(random.Random(5), 5):  # a commune's 2-s window at a saturated worker: ≈ 5 requests
        window.record(value)
    encode = min(_timed(lambda: msgpack.packb({"00004": window.encode()}), 2_000))
    plain = min(_timed(lambda: msgpack.packb({"00004": window.counts}), 2_000))
    print(f"\nwire: one commune's 2-s window (5 requests) packed as an HdrHistogram V2 encoding {encode:.2f} µs, as "
          f"{{slot: count}} {plain:.2f} µs ({encode / plain:.0f}×); × {len(COMMUNES):,} communes every 2 s = "
          f"{encode * len(COMMUNES) / 2e6:.2%} vs {plain * len(COMMUNES) / 2e6:.3%} of a core")


def _timed(call: Callable[[], object], number: int) -> list[float]:
    runs = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(number):
            call()
        runs.append((time.perf_counter() - began) / number * 1e6)
    return runs


class _NoCommuneSketches(CommuneSketches):
    """The baseline phase: the recorder as it was before per-commune sketches."""

    def record(self, commune: str, value_us: int) -> None:
        return None


class CommuneUser(FastHttpUser):
    """Saturating client: every request from one of the 3,321 communes."""

    wait_time = constant(0)
    host = "http://127.0.0.1:0"  # replaced in worker()

    @task
    def call(self) -> None:
        commune = COMMUNES[int(random.random() * len(COMMUNES))]
        self.client.get("/ok", name="GET /dossiers", context=request_context("portal", PROVINCE_OF[commune], commune=commune))


def _drain_loop(recorder: LatencyRecorder, window_sizes: list[int]) -> None:
    """Every 2 s, what a worker does (scenarios.distributed) short of the socket."""
    while True:
        gevent.sleep(2.0)
        if recorder.commune_latency.window:
            window_sizes.append(len(recorder.commune_latency.window))
        delta = recorder.take_delta(pause=lambda: gevent.sleep(0))
        msgpack.packb(delta.to_wire())


def worker(phase_s: float, rounds: int, users: int) -> None:
    gen_core, other_core = _cores()
    with _affinity(other_core):
        target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE, text=True)  # nosec B603
    os.sched_setaffinity(0, gen_core)
    try:
        CommuneUser.host = f"http://127.0.0.1:{int(target.stdout.readline())}"
        recorder = LatencyRecorder(bucket_horizon_s=30)
        env = Environment(user_classes=[CommuneUser])
        env.events.request.add_listener(recorder.on_request)
        runner = env.create_local_runner()
        window_sizes: list[int] = []
        runner.start(users, spawn_rate=users)
        gevent.spawn(_drain_loop, recorder, window_sizes)
        gevent.sleep(3)
        gc.collect()
        gc.freeze()
        with_sketch, without = CommuneSketches(), _NoCommuneSketches()
        results: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
        print(f"\n2. worker: one Locust process on core {sorted(gen_core)}, target on {sorted(other_core)}, "
              f"{users} users, {rounds} rounds of {phase_s:.0f} s per phase")
        for round_no in range(rounds):
            for name, sketches in (("without", without), ("with", with_sketch)) if round_no % 2 else (
                    ("with", with_sketch), ("without", without)):
                recorder.commune_latency = sketches
                gevent.sleep(0.5)
                # Locust's own count: the recorder's is reset by every drain.
                before, cpu, began = runner.stats.total.num_requests, time.process_time(), time.monotonic()
                gevent.sleep(phase_s)
                done = runner.stats.total.num_requests - before
                results[name].append(((time.process_time() - cpu) / max(done, 1) * 1e6, done / (time.monotonic() - began)))
            (w_cpu, w_rate), (wo_cpu, wo_rate) = results["with"][-1], results["without"][-1]
            print(f"round {round_no + 1}: with {w_cpu:.1f} µs CPU/request ({w_rate:,.0f} req/s), "
                  f"without {wo_cpu:.1f} µs ({wo_rate:,.0f} req/s)", flush=True)
        runner.quit()
    finally:
        target.kill()
        target.wait(5)
    with_cpu = statistics.median(r[0] for r in results["with"])
    rate = statistics.median(r[1] for r in results["with"] + results["without"])
    replay_with, replay_without = _replay_cost(int(rate * 2))
    print(f"replay of the recorder alone (on_request for every request, a drain every 2 s at {rate:,.0f} req/s; best of 5): "
          f"with {replay_with:.2f} µs, without {replay_without:.2f} µs per request → the sketches cost "
          f"{replay_with - replay_without:.2f} µs = {(replay_with - replay_without) / with_cpu:.2%} of the worker's "
          f"{with_cpu:.1f} µs of CPU per request (goal ≤ {GOAL_CPU:.0%}: "
          f"{'met' if (replay_with - replay_without) / with_cpu <= GOAL_CPU else 'NOT met'})")
    without_cpu = statistics.median(r[0] for r in results["without"])
    share = (with_cpu - without_cpu) / with_cpu
    pairs = [(w[0] - wo[0]) / w[0] for w, wo in zip(results["with"], results["without"], strict=True)]
    print(f"whole process, CPU per request: with {with_cpu:.2f} µs, without {without_cpu:.2f} µs (medians) → "
          f"{share:.2%} (rounds {min(pairs):+.2%} … {max(pairs):+.2%}: on a shared machine the rounds swing more than "
          "the cost, so the replay above is the figure to trust)")

    # The window a worker holds between two drains, at this rate: 2 s of requests.
    rng = random.Random(2)
    per_window = int(rate * 2)
    mb, _held = _whole_run_mb(lambda: _window_of(rng, per_window))
    print(f"worker memory: the 2-s window at {rate:,.0f} req/s ({per_window:,} requests, "
          f"{statistics.median(window_sizes[2:] or [0]):,.0f} communes touched per drain) holds {mb:.1f} MB "
          f"(goal ≤ {GOAL_MB:.0f} MB: {'met' if mb <= GOAL_MB else 'NOT met'})")


def _replay_cost(per_drain: int, requests: int = 200_000) -> tuple[float, float]:
    """µs of CPU per request through the recorder, with and without per-commune sketches:
    the events a Locust worker's listener receives, and the worker's drain every
    ``per_drain`` requests (take_delta, wire form, msgpack)."""
    rng = random.Random(7)
    events = []
    for value in _latencies(rng, requests):
        commune = COMMUNES[int(rng.random() * len(COMMUNES))]
        events.append({"request_type": "portal", "name": "GET /dossiers", "response_time": value / 1000,
                       "response_length": 2, "exception": None, "start_time": 1_700_000_000.0,
                       "context": request_context("portal", PROVINCE_OF[commune], commune=commune)})
    best = {"with": math.inf, "without": math.inf}
    for _ in range(5):
        for name, sketches in (("with", CommuneSketches()), ("without", _NoCommuneSketches())):
            recorder = LatencyRecorder(bucket_horizon_s=30)
            recorder.commune_latency = sketches
            gc.collect()
            began = time.process_time()
            for number, event in enumerate(events):
                recorder.on_request(**event)
                if number % per_drain == per_drain - 1:
                    msgpack.packb(recorder.take_delta().to_wire())
            msgpack.packb(recorder.take_delta().to_wire())
            best[name] = min(best[name], time.process_time() - began)
    return best["with"] / requests * 1e6, best["without"] / requests * 1e6


def _window_of(rng: random.Random, requests: int) -> CommuneSketches:
    sketches = CommuneSketches()
    for value in _latencies(rng, requests):
        sketches.record(COMMUNES[int(rng.random() * len(COMMUNES))], value)
    return sketches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("choice", "worker"))
    parser.add_argument("--requests", type=int, default=300_000, help="requests in the choice stream")
    parser.add_argument("--phase-s", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    if args.only in (None, "choice"):
        choice(args.requests)
    if args.only in (None, "worker"):
        worker(args.phase_s, args.rounds, args.users)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
