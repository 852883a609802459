"""Talking to a live board served in this thread's gevent hub: raw bytes on a fresh
connection (gevent sockets, so the board's own greenlets run while the test waits)."""

from __future__ import annotations

import gevent.socket

__all__ = ["raw_exchange"]


def raw_exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send ``request`` as it is on a new connection to ``address``; all it answered, up to
    the close (the board closes every connection it answered)."""
    conn = gevent.socket.create_connection(address)
    try:
        conn.settimeout(5)
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    finally:
        conn.close()
    return answer
