"""What the adapters' shared session and Locust's own session send back after a cookie.

    python tests/scenarios/session_probe.py BASE_URL

Run as a subprocess (importing locust monkey-patches the standard library). Prints one
JSON line: the Cookie header each session sent after the server set one.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import sys
from pathlib import Path

from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scenarios.adapters.http import ServiceSession


def main(base_url: str) -> None:
    ours = ServiceSession(Environment(), "portal", base_url)
    set_ok = ours.call("GET", "/set-cookie", name="GET /set-cookie", province="01").ok
    echoed = ours.call("GET", "/cookie", name="GET /cookie", province="01")
    # Control: Locust's session, built the same way but left with its cookie jar.
    plain = FastHttpSession(base_url, Environment().events.request, user=None)
    plain.get("/set-cookie")
    control = plain.get("/cookie").json()
    print(json.dumps({"set_ok": set_ok, "ours": echoed.data, "ours_ok": echoed.ok, "control": control}))


if __name__ == "__main__":
    main(sys.argv[1])
