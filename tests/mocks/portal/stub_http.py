"""A tiny raw-asyncio HTTP/1.1 server for unit tests of the portal's upstream clients.

``handler(method, path, headers, body) -> (status, body_bytes)``; keep-alive is honoured
so tests can observe connection reuse (``connections`` counts accepted sockets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, bytes]]


class StubServer:
    def __init__(self, handler: Handler, *, close_after_each: bool = False):
        self.handler = handler
        self.close_after_each = close_after_each
        self.connections = 0
        self.requests = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> StubServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def drop_idle_connections(self) -> None:
        """Close every open connection, as a keep-alive timeout would."""
        for w in list(self._writers):
            w.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                status, payload = self.handler(method, path, headers, body)
                connection = "close" if self.close_after_each else "keep-alive"
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                    f"connection: {connection}\r\n\r\n".encode() + payload
                )
                await writer.drain()
                if self.close_after_each:
                    return
        finally:
            self._writers.discard(writer)
            writer.close()
