"""A mock's answered requests are freed when they end, not left to the garbage collector.

A soak found the mocks' memory climbing by hundreds of MB (BENCHMARKS.md "Soak"): every
answered request's uvicorn cycle, with its transport's objects, sat in a reference cycle
(the server's ``send``, a bound method of the cycle, kept in the cycle's own scope) that
only a rare full collection frees. This serves a mock app with uvicorn exactly as
``python -m mocks serve`` does (uvloop, the mocks' httptools protocol) on a loopback socket
in this process, so the collector can be asked what it finds unreachable afterwards.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from mocks.core.app import build_service_app
from mocks.core.protocol import MockHttpProtocol
from mocks.core.settings import ServiceSettings

ADMIN = "t0ken"  # nosec B105 - test fixture value
REQUESTS = 60


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    app = build_service_app("probe", ServiceSettings(data_dir=tmp_path, admin_token=ADMIN), [], lambda: {"counts": {}})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, loop="uvloop", http=MockHttpProtocol, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _unreachable_after(requests: int, url: str) -> Counter[str]:
    gc.collect()
    # A connection per request for half of them (as the load's officers mostly open one),
    # keep-alive for the rest; JSON answers and refusals alike.
    for i in range(requests // 2):
        httpx.get(f"{url}/health")
        httpx.get(f"{url}/admin/faults", headers={"Authorization": "Bearer wrong" if i % 2 else f"Bearer {ADMIN}"})
    with httpx.Client(base_url=url) as client:
        for _ in range(requests // 2):
            client.get("/health")
    time.sleep(0.2)  # the server's side of the closed connections
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


def test_answered_requests_leave_nothing_for_the_garbage_collector(served: str) -> None:
    found = _unreachable_after(REQUESTS, served)
    server_side = {kind: n for kind, n in found.items()
                   if kind in ("RequestResponseCycle", "FlowControl", "TCPTransport", "MockHttpProtocol")}
    assert server_side == {}, found.most_common(15)
