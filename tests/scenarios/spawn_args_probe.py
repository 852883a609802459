"""A real Locust master and worker (one process, loopback) spawn users in several spawn
messages; counts how often the worker builds Locust's default argument parser.

    python tests/scenarios/spawn_args_probe.py fix|nofix USERS SPAWN_RATE

Prints one JSON line: {"spawn_messages": int, "parser_builds": int, "users": int,
"defaults_equal": bool, "read_only": bool}. A subprocess: importing Locust patches the
interpreter (gevent), and the fix patches Locust.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from locust import argument_parser
from locust.runners import WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.spawn_messages import spawn_on_loopback
from scenarios.spawn_message_fix import install_default_args_cache


def main() -> None:
    mode, users, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    original = dict(argument_parser.default_args_dict())
    if mode == "fix":
        install_default_args_cache()
    builds = 0
    handling = False  # builds are counted while the worker handles a message, not the master's
    build = argument_parser.get_empty_argument_parser
    handle = WorkerRunner.handle_message

    def counted_build(*args: object, **kwargs: object) -> object:
        nonlocal builds
        builds += handling
        return build(*args, **kwargs)

    def handling_message(self: WorkerRunner, msg: object) -> None:
        nonlocal handling
        handling = True
        try:
            handle(self, msg)
        finally:
            handling = False

    kinds: list[str] = []
    argument_parser.get_empty_argument_parser = counted_build
    WorkerRunner.handle_message = handling_message  # type: ignore[method-assign]
    spawned = spawn_on_loopback(users, rate, lambda kind, _seconds: kinds.append(kind))
    cached = argument_parser.default_args_dict()
    defaults_equal = dict(cached) == original
    try:
        cached["x"] = 1  # type: ignore[index]
        read_only = False
    except TypeError:
        read_only = True
    print(json.dumps({"spawn_messages": kinds.count("spawn"), "parser_builds": builds, "users": spawned,
                      "defaults_equal": defaults_equal, "read_only": read_only}))


if __name__ == "__main__":
    main()
