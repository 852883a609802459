"""With no toxic, the fault proxy is a transparent pipe: same bytes, both directions."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx

from drills.toxiproxy_client import ToxiproxyClient
from tests.support import loopback_http_server


def test_large_random_payload_round_trips_byte_for_byte(echo_proxy, connect, wire):
    payload = os.urandom(4 * 1024 * 1024)
    sock = connect(echo_proxy)
    assert wire.exchange(sock, payload) == payload


def test_many_small_messages_keep_order(echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    for i in range(200):
        message = f"message {i:03d};".encode() + os.urandom(i)
        assert wire.exchange(sock, message) == message


def test_concurrent_connections_do_not_mix_bytes(echo_proxy, connect, wire):
    payloads = [os.urandom(512 * 1024 + i) for i in range(4)]
    sockets = [connect(echo_proxy) for _ in payloads]
    with ThreadPoolExecutor(len(payloads)) as pool:
        results = list(pool.map(wire.exchange, sockets, payloads))
    assert [hashlib.sha256(r).hexdigest() for r in results] == [hashlib.sha256(p).hexdigest() for p in payloads]


def test_client_eof_reaches_upstream_and_its_close_comes_back(echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    payload = os.urandom(100_000)
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    received, _ = wire.read_until_eof(sock)
    assert received == payload


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    blob = os.urandom(300_000)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.blob)))
        self.end_headers()
        self.wfile.write(self.blob)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        digest = hashlib.sha256(body).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(digest)))
        self.end_headers()
        self.wfile.write(digest)

    def log_message(self, *args: object) -> None:
        pass


def test_http_upstream_through_the_proxy(client: ToxiproxyClient):
    with loopback_http_server(_BlobHandler) as url:
        proxy = client.create_proxy("http", listen="127.0.0.1:0", upstream=url.removeprefix("http://"))
        with httpx.Client(base_url=f"http://127.0.0.1:{proxy.listen_port}", timeout=10) as web:
            assert web.get("/blob").content == _BlobHandler.blob
            upload = os.urandom(1_000_000)
            assert web.post("/upload", content=upload).text == hashlib.sha256(upload).hexdigest()
