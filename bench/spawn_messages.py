"""What a Locust worker spends on one spawn message, with and without dientap's cache of
Locust's argument-parser defaults (scenarios/spawn_message_fix.py), and what the generator's
health report spends on the GC figures, counting the frozen objects or not
(scenarios/gc_tuning.py). Each figure against its baseline in the same run.

    python bench/spawn_messages.py [--users 600] [--rate 100] [--objects 2000000]

1. A real Locust master and worker on loopback (one process per side of the comparison,
   each started fresh by this script) spawn ``--users`` idle users at ``--rate`` per second;
   the worker's wall time inside ``WorkerRunner.handle_message`` for each ``spawn`` message
   is summed. The master carries Locust's own options (``parse_options``), as
   ``locust --master`` does; dientap's run adds its own to them, so a real run's messages
   carry more options than here.
2. ``GcMonitor.snapshot()`` with ``--objects`` objects frozen, counted and not (median of 21).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess  # the two sides run in fresh processes of this script  # nosec B404
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def spawn_on_loopback(users: int, rate: float, handled: Callable[[str, float], None]) -> int:
    """Spawn ``users`` idle users at ``rate``/s through a real Locust master and worker on
    loopback, in this process; ``handled(message type, seconds)`` after each message the
    worker handles. The worker's user count at the end."""
    import socket

    import gevent
    from locust import User, argument_parser, constant, task
    from locust.env import Environment
    from locust.runners import WorkerRunner

    class Idle(User):
        wait_time = constant(1)

        @task
        def nothing(self) -> None:
            pass

    handle = WorkerRunner.handle_message

    def timed(self: WorkerRunner, msg: object) -> None:
        started = time.perf_counter()
        handle(self, msg)
        handled(str(getattr(msg, "type", "")), time.perf_counter() - started)

    WorkerRunner.handle_message = timed  # type: ignore[method-assign]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master_env = Environment(user_classes=[Idle])
    master_env.parsed_options = argument_parser.parse_options(args=["--headless"])  # as `locust --master` has
    master = master_env.create_master_runner("127.0.0.1", port)
    worker = Environment(user_classes=[Idle]).create_worker_runner("127.0.0.1", port)
    try:
        with gevent.Timeout(120):
            while not master.clients.ready:
                gevent.sleep(0.05)
            master.start(users, spawn_rate=rate)
            while worker.user_count < users:
                gevent.sleep(0.05)
        return int(worker.user_count)
    finally:
        master.quit()
        worker.quit()
        WorkerRunner.handle_message = handle  # type: ignore[method-assign]


def _spawn_side(cached: bool, users: int, rate: float) -> dict[str, float]:
    from scenarios.spawn_message_fix import install_default_args_cache

    if cached:
        install_default_args_cache()
    spent = []
    spawn_on_loopback(users, rate, lambda kind, seconds: spent.append(seconds) if kind == "spawn" else None)
    return {"messages": len(spent), "total_ms": sum(spent) * 1000, "median_ms": statistics.median(spent) * 1000}


def _gc_side(objects: int) -> dict[str, float]:
    import gc

    from scenarios.gc_tuning import GcMonitor

    held = [[i] for i in range(objects)]
    gc.freeze()
    monitor = GcMonitor()

    def median_ms(count_frozen: bool) -> float:
        times = []
        for _ in range(21):
            started = time.perf_counter()
            monitor.snapshot(count_frozen=count_frozen)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    figures = {"frozen": float(gc.get_freeze_count()), "counted_ms": median_ms(True), "not_counted_ms": median_ms(False)}
    del held
    return figures


def _side(*args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--side", *args], capture_output=True, text=True, check=True,
                          timeout=300)  # nosec B603 - this script, fixed arguments
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--objects", type=int, default=2_000_000)
    parser.add_argument("--side", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        kind, *rest = args.side
        result = _gc_side(int(rest[0])) if kind == "gc" else _spawn_side(kind == "cached", args.users, args.rate)
        print(json.dumps(result))
        return
    plain = _side("plain", "--users", str(args.users), "--rate", str(args.rate))
    cached = _side("cached", "--users", str(args.users), "--rate", str(args.rate))
    print(f"spawn of {args.users} users at {args.rate:g}/s, one master and one worker on loopback:")
    for name, side in (("Locust alone", plain), ("defaults cached", cached)):
        print(f"  {name:16s} {side['messages']:.0f} spawn messages, {side['median_ms']:7.1f} ms each (median), "
              f"{side['total_ms']:7.0f} ms in all")
    print(f"  cached ÷ alone, per message: {cached['median_ms'] / plain['median_ms']:.3f}")
    gc_figures = _side("gc", str(args.objects))
    print(f"GcMonitor.snapshot() with {gc_figures['frozen']:,.0f} objects frozen: counted {gc_figures['counted_ms']:.2f} ms, "
          f"not counted {gc_figures['not_counted_ms']:.3f} ms (median of 21)")


if __name__ == "__main__":
    main()
