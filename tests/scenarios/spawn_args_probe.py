"""A real Locust master and worker (one process, loopback) spawn users in several spawn
messages; counts how often the worker builds Locust's default argument parser.

    python tests/scenarios/spawn_args_probe.py fix|nofix USERS SPAWN_RATE

Prints one JSON line: {"spawn_messages": int, "parser_builds": int, "users": int,
"defaults_equal": bool, "read_only": bool}. A subprocess: importing Locust patches the
interpreter (gevent), and the fix patches Locust.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import gevent
from locust import User, argument_parser, constant, task
from locust.env import Environment
from locust.runners import WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scenarios.spawn_message_fix import install_default_args_cache


class Idle(User):
    wait_time = constant(1)

    @task
    def nothing(self) -> None:
        pass


def main() -> None:
    mode, users, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    original = dict(argument_parser.default_args_dict())
    if mode == "fix":
        install_default_args_cache()
    builds = spawns = 0
    build = argument_parser.get_empty_argument_parser

    def counted_build(*args: object, **kwargs: object) -> object:
        nonlocal builds
        builds += 1
        return build(*args, **kwargs)

    argument_parser.get_empty_argument_parser = counted_build
    handle = WorkerRunner.handle_message

    def counted_handle(self: WorkerRunner, msg: object) -> None:
        nonlocal spawns
        spawns += getattr(msg, "type", None) == "spawn"
        handle(self, msg)

    WorkerRunner.handle_message = counted_handle  # type: ignore[method-assign]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master_env = Environment(user_classes=[Idle])
    master_env.parsed_options = argument_parser.parse_options(args=["--headless"])  # as `locust --master` has
    master = master_env.create_master_runner("127.0.0.1", port)
    worker = Environment(user_classes=[Idle]).create_worker_runner("127.0.0.1", port)
    try:
        with gevent.Timeout(30):
            while not master.clients.ready:
                gevent.sleep(0.05)
            builds = 0  # the spawn's builds only (the master's options above built one)
            master.start(users, spawn_rate=rate)
            while worker.user_count < users:
                gevent.sleep(0.05)
        cached = argument_parser.default_args_dict()
        defaults_equal = dict(cached) == original
        try:
            cached["x"] = 1  # type: ignore[index]
            read_only = False
        except TypeError:
            read_only = True
        print(json.dumps({"spawn_messages": spawns, "parser_builds": builds, "users": worker.user_count,
                          "defaults_equal": defaults_equal, "read_only": read_only}))
    finally:
        master.quit()
        worker.quit()


if __name__ == "__main__":
    main()
