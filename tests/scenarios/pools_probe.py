"""Which source address and connection each of the adapters' requests leaves on.

    python tests/scenarios/pools_probe.py BASE_URL

Run as a subprocess (importing locust monkey-patches the standard library). Prints one
JSON line: the (address, port) the server saw for each request, in order.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import sys
from pathlib import Path

import gevent
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kernel.source_addresses import source_for
from scenarios.adapters import http

IDLE_S = 0.3  # stands in for IDLE_REUSE_S, so the probe waits a fraction of a second


def main(base_url: str) -> None:
    http.IDLE_REUSE_S = IDLE_S
    bound = http.ServiceSession(Environment(), "portal", base_url, source_of=source_for)
    shared = http.ServiceSession(Environment(), "portal", base_url)

    def peer(session: http.ServiceSession, commune: str | None) -> list:
        return session.call("GET", "/peer", name="GET /peer", province="01", commune=commune).data["peer"]

    seen = {
        "a1": peer(bound, "00004"), "a2": peer(bound, "00004"), "b": peer(bound, "00070"),
        "province": peer(bound, None), "shared": peer(shared, "00004"),
    }
    gevent.sleep(IDLE_S * 2)
    seen["a_after_idle"] = peer(bound, "00004")
    seen["a_again"] = peer(bound, "00004")
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
