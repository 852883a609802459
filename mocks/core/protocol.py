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
Under a face with an error form of its own (``/c06/``, ``/vdxp/``, ``/dvcqg/``) the refusal
takes that form, as every other answer there does: a SOAP client reads a Fault, not JSON.
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mocks.core.errors import ApiError, error_body

__all__ = ["MAX_HEAD_BYTES", "MockHttpProtocol"]

#: The cap on a request's head: the request target plus every header line (name, value,
#: ": " and CRLF). 16 KiB, as h11's default incomplete-event limit and Node's
#: ``max-http-header-size``: 30 times what the load generator sends (a JWT bearer
#: header and a dozen short ones fit in under 600 bytes).
MAX_HEAD_BYTES = 16 * 1024


class _HeadTooLarge(Exception):
    """Raised inside a parser callback: llhttp stops and ``feed_data`` raises."""


class MockHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a capped head and protocol-level errors in the JSON
    error form (or, under a face, the face's)."""

    _head_bytes = 0  # parsed: the target and the complete header lines
    _head_received = 0  # raw: bytes received while the head is incomplete
    _in_head = False
    _head_too_large = False
    _largest: tuple[int, str | None] = (0, None)  # the head's largest part so far: a header, or "path"
    _message_open = False  # a request has begun and is not complete: self.url is its target

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_received = 0
        self._largest = (0, None)
        self._in_head = self._message_open = True

    def on_message_complete(self) -> None:
        self._message_open = False
        super().on_message_complete()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)  # first: a refusal finds the path (and so the face) in self.url
        self._count(len(url), "path")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, name.decode("latin-1"))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int, field: str) -> None:
        self._head_bytes += size
        if size > self._largest[0]:
            self._largest = (size, field)
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
                self._refuse(431, "headers_too_large", f"the request head exceeds {MAX_HEAD_BYTES} bytes",
                             self._largest[1])
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

    def _refuse(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.logger.warning("refused at the protocol level: %s %s", status, message)
        answered = self.cycle is not None and self.cycle.response_started and not self._in_head
        if not answered and not self.transport.is_closing():
            headers, body = self._refusal(ApiError(status, code, message, field))
            reason = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
            head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [name + b": " + value + b"\r\n" for name, value in headers]
            head += [b"connection: close\r\n\r\n"]
            self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _refusal(self, err: ApiError) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The refusal's headers (type and length) and body: in the error form of the face the
        request's path is under, else the native JSON form."""
        path = self.url.split(b"?", 1)[0].decode("latin-1") if self._message_open else ""
        app = self.app
        for _ in range(4):  # uvicorn may wrap the app (proxy headers, message logging)
            refusal = getattr(app, "protocol_refusal", None)
            if refusal is not None:
                response = refusal(path, err)
                if response is not None:
                    return list(response.raw_headers), bytes(response.body)
                break
            app = getattr(app, "app", None)
        body = error_body(err.code, err.message, err.field)
        return [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))], body
