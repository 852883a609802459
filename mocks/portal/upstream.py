"""A lean HTTP/1.1 keep-alive client for the portal's calls to the population service.

Why not httpx here: profiling the dossier submission under 64 concurrent clients put
95 % of the portal's CPU inside httpx/httpcore — its connection pool scans every
pooled connection (``is_idle``/``has_expired``, each a socket poll) for every request,
so the portal topped out near 600 submissions/s. The identity check is one small JSON
POST over loopback; this client does exactly that on :mod:`asyncio` protocols with the
``httptools`` parser (already installed with uvicorn), reusing idle connections from a
stack, with one overall timeout per call.

Scope is deliberately narrow: ``http://`` or ``https://`` (asyncio's own TLS, verified
against the CA file given, e.g. the dry-run CA when the mocks serve TLS), responses with ``Content-Length`` or
chunked bodies (httptools handles both), no redirects, no proxies; an answer larger than
``max_response_bytes`` is refused as it arrives (the population service's answers are
untrusted input, OWASP API10).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["UpstreamError", "UpstreamResponse", "KeepAliveClient"]


class UpstreamError(Exception):
    """The call could not be completed: refused, reset, timed out or garbled."""


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """Status code and body of an upstream response."""

    status: int
    body: bytes
    content_type: str = ""  # the Content-Type header as sent (lower-cased), "" if none


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    def __init__(self, max_body_bytes: int = 256 * 1024) -> None:
        self.transport: asyncio.Transport | None = None
        self._max_body = max_body_bytes
        self._size = 0
        self._content_type = b""
        self.closed = False
        self.used = False  # has carried a request before: a close may be a keep-alive expiry
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._body: list[bytes] = []
        self._got_bytes = False
        self._keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection: asyncio types it as the base class

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(_ClosedEarly() if not self._got_bytes else UpstreamError("connection closed mid-response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value.lower()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:  # an answer this large is not one we asked for: refuse it unread
            self._fail(UpstreamError(f"response larger than {self._max_body} bytes"))
            self.close()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(UpstreamResponse(self._parser.get_status_code(), b"".join(self._body),
                                               self._content_type.decode("latin-1")))

    # client side
    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def send(self, raw: bytes) -> UpstreamResponse:
        assert self.transport is not None  # set by connection_made before use  # nosec B101
        self._body = []
        self._size = 0
        self._content_type = b""
        self._got_bytes = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            response = await self._waiter
        finally:
            self._waiter = None
        self.used = True
        if not self._keep_alive:
            self.close()
        return response

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _ClosedEarly(UpstreamError):
    """The server closed the connection before sending anything (safe to retry once)."""


class KeepAliveClient:
    """POSTs JSON to one ``http(s)://host:port`` origin over pooled keep-alive connections."""

    def __init__(self, base_url: str, timeout_s: float = 2.0, max_idle: int = 256, ca_file: str | None = None,
                 client_cert: tuple[str, str] | None = None, max_response_bytes: int = 256 * 1024):
        parts = urlsplit(base_url)
        self._max_response = max_response_bytes
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http(s)://host:port, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
        if self._tls is not None and client_cert is not None:
            self._tls.load_cert_chain(*client_cert)
        self._prefix = parts.path.rstrip("/")
        host_header = parts.netloc
        self._host_line = f"Host: {host_header}\r\n".encode("latin-1")
        self.timeout_s = timeout_s
        self._max_idle = max_idle
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self._max_response), self.host, self.port,
                                                   ssl=self._tls)
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        return conn

    def _request_bytes(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"POST {self._prefix}{path} HTTP/1.1\r\n".encode("latin-1"), self._host_line]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise UpstreamError(f"header {name!r} contains a line break")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        return b"".join(lines)

    async def post_json(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> UpstreamResponse:
        """POST ``body`` (JSON bytes) to ``path``; raise :class:`UpstreamError` on any failure."""
        raw = self._request_bytes(path, body, headers or {})
        try:
            async with asyncio.timeout(self.timeout_s):
                for _attempt in range(2):
                    conn = self._take_idle() or await self._connect()
                    try:
                        response = await conn.send(raw)
                    except _ClosedEarly:
                        if conn.used:
                            continue  # the server dropped an idle keep-alive connection: retry on a new one
                        raise
                    except BaseException:
                        conn.close()
                        raise
                    self._give_back(conn)
                    return response
                raise UpstreamError("connection closed before a response, twice")
        except TimeoutError:
            raise UpstreamError(f"no response within {self.timeout_s:g} s") from None

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return None

    def _give_back(self, conn: _Connection) -> None:
        if conn.closed:
            return
        if len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()
