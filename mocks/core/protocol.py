"""The HTTP/1.1 protocol the mocks are served with: uvicorn's httptools protocol, plus a
cap on the request head (431) and protocol-level refusals in the mocks' JSON error form.

Why a subclass, not a setting: uvicorn has no header limit for its httptools protocol
(``h11_max_incomplete_event_size`` exists for h11 only, and h11 answers an oversized head
with a plain-text 400), and llhttp itself buffers a head of any size. Both refusals
happen before any ASGI app runs, where only the protocol can answer, so the hooks are
the protocol's own: ``on_message_begin``/``on_header``/``on_headers_complete`` count
the head, and ``data_received`` — uvicorn's, with its plain-text 400 replaced — turns
llhttp's verdicts (bad header bytes, Content-Length with Transfer-Encoding, invalid
chunking, ...) into ``{"error": {"code", "message", "field"}}`` before closing.

A refusal is sent only while no answer to the request has begun (a malformed chunk can
arrive after the app answered); otherwise the connection is just closed, as uvicorn does.
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mocks.core.errors import error_body

__all__ = ["MAX_HEAD_BYTES", "MockHttpProtocol"]

#: The cap on a request's head: the request target plus every header line (name, value,
#: ": " and CRLF). 16 KiB, as h11's default incomplete-event limit and Node's
#: ``max-http-header-size``: 30 times what the load generator sends (a JWT bearer
#: header and a dozen short ones fit in under 600 bytes).
MAX_HEAD_BYTES = 16 * 1024


class _HeadTooLarge(Exception):
    """Raised inside a parser callback: llhttp stops and ``feed_data`` raises."""


class MockHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a capped head and JSON protocol-level errors."""

    _head_bytes = 0  # parsed: the target and the complete header lines
    _head_received = 0  # raw: bytes received while the head is incomplete
    _in_head = False
    _head_too_large = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_received = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if self._head_too_large:
                self._refuse(431, "headers_too_large", f"the request head exceeds {MAX_HEAD_BYTES} bytes")
            else:
                reason = str(exc).strip() or "unparseable request"
                self._refuse(400, "invalid_http", f"the request is not valid HTTP/1.1: {reason}")
            return
        # llhttp keeps a header it has not finished in its own buffer, where on_header
        # cannot see it: a single endless header line is bounded here, by bytes received.
        # (The slack covers the request line's method and version and the line ends.)
        if self._in_head:
            self._head_received += len(data)
            if self._head_received > MAX_HEAD_BYTES + 1024:
                self._refuse(431, "headers_too_large", f"the request head exceeds {MAX_HEAD_BYTES} bytes")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self.logger.warning("refused at the protocol level: %s %s", status, message)
        answered = self.cycle is not None and self.cycle.response_started and not self._in_head
        if not answered and not self.transport.is_closing():
            body = error_body(code, message, None)
            reason = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
            head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                     b"connection: close\r\n\r\n"]
            self.transport.write(b"".join(head) + body)
        self.transport.close()
