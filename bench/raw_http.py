"""A bare keep-alive HTTP/1.1 load loop, to measure a server rather than a client.

The face benchmarks compare two routes of one mock process; the figure must be the
server's, so the load side does as little as it can: pre-built request bytes written on
``connections`` asyncio streams, the answer read by its ``Content-Length``. No load tool
that does this (wrk, h2load) is installed here, and an HTTP client library in the loop
(httpx) spends more CPU per request than the mocks' fastest routes take to answer — it
would measure itself. Hand-written for that reason; it speaks only what the mocks answer
(HTTP/1.1, ``Content-Length`` bodies).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["request_bytes", "drive"]


def request_bytes(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """One HTTP/1.1 request with ``Host`` and ``Content-Length`` set."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


async def _connection(port: int, next_request: Callable[[], bytes], answered: Callable[[int, bytes], bool],
                      deadline: float, ok: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(next_request())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if answered(int(head[9:12]), body):
                ok[0] += 1
    finally:
        writer.close()


async def _drive(port: int, next_request: Callable[[], bytes], answered: Callable[[int, bytes], bool],
                 seconds: float, connections: int) -> tuple[int, float]:
    ok = [0]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, next_request, answered, started + seconds, ok)
                           for _ in range(connections)))
    return ok[0], time.perf_counter() - started


def drive(port: int, next_request: Callable[[], bytes], answered: Callable[[int, bytes], bool], *,
          seconds: float, connections: int) -> tuple[int, float]:
    """Send ``next_request()`` on ``connections`` keep-alive connections to 127.0.0.1:``port``
    for ``seconds``; (answers ``answered(status, body)`` accepted, seconds elapsed)."""
    return asyncio.run(_drive(port, next_request, answered, seconds, connections))
