"""Benchmark: what the live board costs the load generator while someone watches it.

    .venv/bin/python bench/board.py [--phase-s 9] [--rounds 5] [--users 32] [--prefill 500] [--refresh-s 3]
                                    [--moving-communes 3321]

On a single-process run the board is served by the load generator itself, so its cost is
the generator's. One Locust process (FastHttpUser, ``wait_time = constant(0)``: its core is
saturated, so any cost shows up as CPU per request) hits a minimal keep-alive HTTP server in
another process; each is pinned to its own core when there are two. Every request is one of
the readiness checks' endpoints (``reports.summary_build.CHECK_ENDPOINTS``) in one of the 34
provinces and one of the 3,321 communes, all drawn at random, so between two refreshes
*every* one of the 204 cells and every commune's row moves and must be remade — the board's
worst case. In a real run a commune's actors act every few seconds to minutes and the rows
of the communes that did not act come from the cache: ``--moving-communes 500`` draws the
requests from 500 communes only (≈ a golive run's, 3,321 officers acting every 20 s or so). The recorder is pre-filled at national
cardinality (every check endpoint × 34 provinces × 2 measures, ``--prefill`` latencies each,
spread over all 3,321 communes' sketches) so each cell merges histograms of hundreds of HDR
slots, as after a long run; the per-commune window is folded every 2 s, as a local runner does.

Phases of ``--phase-s`` seconds, alternating ``--rounds`` times to cancel drift:

* ``idle``    — board serving, no page open (costs nothing by design: computed on request);
* ``watched`` — a client in another process (on the other core) fetches ``board.json``
  every ``--refresh-s`` seconds, as an open page does.

Prints per phase the generator's CPU per request (saturated capacity is inversely
proportional to it), the board's own CPU share measured in-process, the time one refresh
takes, and the longest the board held the event loop between two yields (what the
generator's greenlets wait at worst). The machine is shared: trust the ratios.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import argparse
import gc
import os
import random
import statistics
import subprocess  # our own target server and page client  # nosec B404
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metrics_overhead import TARGET, Phase, _affinity, _cores, _measure, _show  # noqa: E402
from dientap.orchestration.process import listening_socket  # noqa: E402
from kernel.defaults import BOARD_REFRESH_S  # noqa: E402
from kernel.roster import load_roster  # noqa: E402
from metrics.board import BoardFeed, LiveBoard, write_feed  # noqa: E402
from metrics.board.figures import LiveReadiness  # noqa: E402
from metrics.board.server import WORK_SHARE  # noqa: E402
from reports.summary import CommunesSummary  # noqa: E402
from reports.summary_build import CHECK_ENDPOINTS  # noqa: E402
from scenarios.latency import LatencyRecorder, request_context  # noqa: E402
from scenarios.load_figures import LoadFigures  # noqa: E402

ROSTER = load_roster()
PROVINCES = tuple(p.code for p in ROSTER.provinces)
ENDPOINTS = tuple(pair for pairs in CHECK_ENDPOINTS.values() for pair in pairs)
COMMUNES = tuple(c.code for c in ROSTER.communes)
MOVING = COMMUNES  # the communes the load's requests come from (--moving-communes)

# An open page, in its own process: fetch board.json every REFRESH seconds until killed.
PAGE = r'''
import sys, time, urllib.request
url, every = sys.argv[1], float(sys.argv[2])
while True:
    began = time.monotonic()
    urllib.request.urlopen(url, timeout=30).read()
    time.sleep(max(0.0, every - (time.monotonic() - began)))
'''


def _prefill(recorder: LatencyRecorder, per_key: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for service, endpoint in ENDPOINTS:
        for province in PROVINCES:
            for _ in range(per_key):
                sent = int(rng.lognormvariate(9.5, 1.0))
                recorder.record(service, endpoint, province, rng.choice(COMMUNES), sent,
                                sent + int(rng.expovariate(1 / 2000)), rng.random() < 0.01, at=1.0)


class BoardUser(FastHttpUser):
    """Saturating client: every request one readiness check's endpoint in one province."""

    wait_time = constant(0)
    host = "http://127.0.0.1:0"  # replaced in main()

    @task
    def call(self) -> None:
        rng = random.random
        service, endpoint = ENDPOINTS[int(rng() * len(ENDPOINTS))]
        province = PROVINCES[int(rng() * len(PROVINCES))]
        commune = MOVING[int(rng() * len(MOVING))]
        self.client.get("/ok", name=endpoint, context=request_context(service, province, commune=commune))


class TimedReadiness(LiveReadiness):
    """The board's figures, with the worst-communes part timed on its own (wall, yields included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.communes_wall: list[float] = []

    def communes(self, recorder: Any) -> CommunesSummary:
        began = time.perf_counter()
        try:
            return super().communes(recorder)
        finally:
            self.communes_wall.append(time.perf_counter() - began)


class TimedBoard(LiveBoard):
    """The real board, with each refresh timed and each slice of its work between two yields
    measured: on the generator's one saturated core, the slices' sum is the board's share of
    it (process CPU time would also count the load's greenlets that run between slices)."""

    def __init__(self, environment: Environment, feed_path: Path) -> None:
        self.slices: list[float] = []
        self._slice_from = 0.0
        super().__init__(environment, feed_path, pause=self._pause)
        self.refresh_wall: list[float] = []
        self.served_for: list[float] = []
        self.figures = TimedReadiness(self.figures.roster, self.thresholds, self.figures.pause)  # the board's own pause

    def _pause(self) -> None:
        self.slices.append(time.perf_counter() - self._slice_from)
        gevent.sleep(0)
        self._slice_from = time.perf_counter()

    def json_body(self) -> bytes:
        computed = self.computations
        began = self._slice_from = time.perf_counter()
        try:
            return super().json_body()  # snapshot (yielding after each recomputed cell), then the JSON encoding
        finally:
            self.slices.append(time.perf_counter() - self._slice_from)  # the last slice, after the last yield
            if self.computations > computed:
                self.refresh_wall.append(time.perf_counter() - began)
                self.served_for.append(self.fresh_for_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase-s", type=float, default=9.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--prefill", type=int, default=500, help="latencies pre-recorded per histogram")
    parser.add_argument("--moving-communes", type=int, default=len(COMMUNES),
                        help="how many communes the load's requests come from (default all 3,321: every commune's "
                        "row moves between two refreshes; ≈ 500 is a golive run's officers acting every 20 s)")
    parser.add_argument("--refresh-s", type=float, default=BOARD_REFRESH_S.default,
                        help="how often the page client fetches board.json (default: the board's default)")
    args = parser.parse_args()

    global MOVING
    MOVING = COMMUNES[:: max(1, len(COMMUNES) // max(1, args.moving_communes))][: args.moving_communes]
    gen_core, other_core = _cores()
    with _affinity(other_core):
        target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE, text=True)  # nosec B603
    os.sched_setaffinity(0, gen_core)
    work = Path(tempfile.mkdtemp(prefix="dientap-bench-board-"))
    results: dict[str, list[Phase]] = {"idle": [], "watched": []}
    shares: list[float] = []
    page = None
    try:
        BoardUser.host = f"http://127.0.0.1:{int(target.stdout.readline())}"
        recorder = LatencyRecorder(bucket_horizon_s=30)
        _prefill(recorder, args.prefill)
        recorder.commune_latency.fold()
        slots = sum(len(h.counts) for h in recorder.histograms.values())
        print(f"recorder: {len(recorder.histograms)} histograms, {slots:,} HDR slots, {len(recorder.communes):,} communes; "
              f"generator core {sorted(gen_core)}, target + page client core {sorted(other_core)}", flush=True)
        env = Environment(user_classes=[BoardUser])
        env.events.request.add_listener(recorder.on_request)
        env.dientap = LoadFigures(recorder)
        env.dientap.started_at = time.time()
        feed = work / "board-feed.json"
        write_feed(feed, BoardFeed(run_id="bench", profile="bench", command="run", duration_s=3600, refresh_s=args.refresh_s))
        board = TimedBoard(env, feed)
        url = board.serve(listening_socket("127.0.0.1", 0)) + "board.json"
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)

        def fold_loop() -> None:  # what scenarios.distributed does for a local runner, every 2 s
            while True:
                gevent.sleep(2.0)
                recorder.commune_latency.fold()

        folding = gevent.spawn(fold_loop)
        gevent.sleep(3)  # spawned and warm
        gc.collect()
        gc.freeze()  # as the harness does once spawning completes (scenarios.gc_tuning)
        for round_no in range(args.rounds):
            results["idle"].append(_measure(recorder, args.phase_s, target.pid))
            with _affinity(other_core):
                page = subprocess.Popen([sys.executable, "-c", PAGE, url, str(args.refresh_s)])  # nosec B603
            gevent.sleep(1.5)  # the first refresh (every cell) is out of the measured phase
            slices, began, refreshes, fetches = len(board.slices), time.monotonic(), len(board.refresh_wall), board.fetches
            results["watched"].append(_measure(recorder, args.phase_s, target.pid))
            shares.append(sum(board.slices[slices:]) / (time.monotonic() - began))
            page.kill()
            page.wait(5)
            page = None
            gevent.sleep(1.0)
            print(f"round {round_no + 1}: idle {_show(results['idle'][-1])} | watched {_show(results['watched'][-1])}; "
                  f"{board.fetches - fetches} fetches, {len(board.refresh_wall) - refreshes} refreshes, "
                  f"{board.figures.recomputed} cells and "
                  f"{board.figures.communes_remade:,} communes in the last, "
                  f"board {shares[-1]:.1%} of the generator's core; last snapshot {board.last_work_s * 1000:.0f} ms "
                  f"of its own work", flush=True)
        folding.kill()
        runner.quit()
        board.stop()
    finally:
        if page is not None:
            page.kill()
        target.kill()
        target.wait(5)

    idle_cpu = statistics.median(p.cpu_us_per_request for p in results["idle"])
    watched_cpu = statistics.median(p.cpu_us_per_request for p in results["watched"])
    idle_rps = statistics.median(p.rps for p in results["idle"])
    watched_rps = statistics.median(p.rps for p in results["watched"])
    print(f"\n{'phase':<10}{'req/s':>10}{'CPU µs/req':>12}   (medians of {args.rounds} rounds)")
    print(f"{'idle':<10}{idle_rps:>10,.0f}{idle_cpu:>12.1f}")
    print(f"{'watched':<10}{watched_rps:>10,.0f}{watched_cpu:>12.1f}")
    capacity = idle_cpu / watched_cpu
    walls = sorted(board.refresh_wall[1:])  # the first refresh computed every cell from nothing
    print(f"\ncapacity   watched/idle  {capacity:.3f}   (idle CPU per request ÷ watched CPU per request)")
    print(f"board      {statistics.median(shares):.1%} of the generator's core with a page refreshing every "
          f"{args.refresh_s:g} s (its slices of work, measured in-process)")
    communes = sorted(board.figures.communes_wall[1:])
    print(f"refresh    {statistics.median(walls) * 1000:.0f} ms median, {walls[-1] * 1000:.0f} ms max "
          f"({len(walls)} refreshes of 204 cells and every commune's row), of which the worst communes "
          f"{statistics.median(communes) * 1000:.0f} ms median")
    print(f"served     {statistics.median(board.served_for):.1f} s median per snapshot (the refresh, or longer when a "
          f"snapshot cost more than {WORK_SHARE:.0%} of it)")
    print(f"event loop held at most {max(board.slices) * 1000:.1f} ms between two yields "
          f"(median slice {statistics.median(board.slices) * 1000:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
