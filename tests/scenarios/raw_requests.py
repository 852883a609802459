"""The requests a raw-socket test server reads on one keep-alive connection: each request's
head lines, its body read and dropped, until the peer closes. Shared by the gevent servers
that run as subprocess scripts beside it (``support_server.py``, ``hostile_probe.py``),
which answer with bytes no HTTP framework would send."""

from __future__ import annotations

import socket
from collections.abc import Iterator


def requests_on(conn: socket.socket) -> Iterator[list[bytes]]:
    """Each request's head lines (the request line first); ends when the peer closes."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith(b"content-length:")), 0)
        while len(buf) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        buf = buf[length:]
        yield lines
