"""Fixtures for the fault proxy tests: a threaded echo upstream, a running fault proxy, helpers.

Everything runs on 127.0.0.1 with ports picked by the OS. Helpers live here (as the ``wire``
fixture) because test folders are not packages under ``--import-mode=importlib``.
"""

from __future__ import annotations

import os
import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from drills.faultproxy import FaultProxyServer
from drills.toxiproxy_client import ProxyInfo, ToxiproxyClient


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            return  # the proxy reset or closed us: nothing to echo any more
        sock.close()


class EchoServer(socketserver.ThreadingTCPServer):
    """Echoes every byte back; closes its side after the client's EOF."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class Wire:
    """Socket helpers: exchange payloads, read until EOF, measure round trips."""

    @staticmethod
    def exchange(sock: socket.socket, payload: bytes) -> bytes:
        """Send ``payload`` (in a thread) while reading the same number of bytes back."""
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        received = bytearray()
        while len(received) < len(payload):
            data = sock.recv(65536)
            if not data:
                break
            received += data
        sender.join(5)
        return bytes(received)

    @staticmethod
    def read_until_eof(sock: socket.socket) -> tuple[bytes, list[int]]:
        """All bytes until the peer closes, and the size of each read."""
        received = bytearray()
        sizes = []
        while True:
            data = sock.recv(65536)
            if not data:
                return bytes(received), sizes
            sizes.append(len(data))
            received += data

    @staticmethod
    def rtt(sock: socket.socket, size: int = 16) -> float:
        """Seconds for ``size`` bytes to go through the echo and back."""
        payload = os.urandom(size)
        start = time.perf_counter()
        assert Wire.exchange(sock, payload) == payload
        return time.perf_counter() - start

    @staticmethod
    def median_rtt(sock: socket.socket, samples: int = 5) -> float:
        """Median of several round trips (robust to a scheduling hiccup on a busy machine)."""
        return statistics.median(Wire.rtt(sock) for _ in range(samples))


@pytest.fixture(scope="session")
def echo_upstream() -> Iterator[EchoServer]:
    """A threaded echo server on a free loopback port."""
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultProxyServer]:
    """One fault proxy (API on a free port, own event-loop thread) for the whole session."""
    server = FaultProxyServer("127.0.0.1", 0, max_hold_s=5.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(fault_server: FaultProxyServer) -> Iterator[ToxiproxyClient]:
    """A client of the shared fault proxy; every proxy is reset and deleted after the test."""
    with ToxiproxyClient(fault_server.api_url) as toxiproxy:
        yield toxiproxy
        toxiproxy.reset()
        for name in toxiproxy.proxies():
            toxiproxy.delete_proxy(name)


@pytest.fixture
def echo_proxy(client: ToxiproxyClient, echo_upstream: EchoServer) -> ProxyInfo:
    """A proxy named ``echo`` in front of the echo upstream, on a free port."""
    return client.create_proxy("echo", listen="127.0.0.1:0", upstream=f"127.0.0.1:{echo_upstream.port}")


@pytest.fixture
def connect() -> Iterator[Callable[..., socket.socket]]:
    """Factory: ``connect(proxy_or_port, timeout=5)`` → a connected socket, closed at teardown."""
    opened: list[socket.socket] = []

    def open_socket(target: ProxyInfo | int, timeout: float = 5.0) -> socket.socket:
        port = target if isinstance(target, int) else target.listen_port
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()


@pytest.fixture
def wire() -> type[Wire]:
    """The :class:`Wire` helpers."""
    return Wire
