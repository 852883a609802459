"""The HTTP server of every metrics face the load generator's process serves (the
exporter, the live board, a drill's fault state): gevent's WSGI server with the bounds and
the JSON refusals a face inside a load generator needs.

gevent's own server has no idle timeout, no cap on connections, answers a malformed request
with an empty body and prints a traceback for a client that stalls; the guard adds what it
lacks rather than a second server (uvicorn here would be a second event loop beside Locust's
gevent hub).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

__all__ = ["CONNECTION_IDLE_S", "MAX_CONNECTIONS", "check_listen_host", "guarded_wsgi_server", "json_error"]

# The exporter and the live board serve from the load generator's own process, whose file
# descriptors its load needs: a client that opens connections and never finishes a request
# must not hold them for the run (gevent's server has no timeout and no cap of its own).
# A connection with no byte moving for this long is closed (Prometheus scrapes every second,
# a page polls every few seconds; both reconnect), and at most this many are served at once
# (the rest wait in the listen backlog, outside the process).
CONNECTION_IDLE_S = 10.0
MAX_CONNECTIONS = 64


def json_error(start_response: Any, status: str, code: str, message: str,
               extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    """A JSON error answer in the harness's form (``{"error": {code, message, field}}``)."""
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(extra or [])])
    return [body]


def _refusal(status: str, code: str, message: str) -> bytes:
    """A whole HTTP answer (head and JSON body) for a request refused before the application."""
    body = json.dumps({"error": {"code": code, "field": None, "message": message}}).encode()
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


def guarded_wsgi_server(listener: Any, application: Callable[..., Any], logger: logging.Logger) -> Any:
    """gevent's WSGI server for an HTTP face of the load generator's process (the exporter,
    the live board): idle connections time out and at most :data:`MAX_CONNECTIONS` are
    served at once; a ``HEAD`` is answered with the headers of its ``GET`` and no body; a
    request gevent cannot parse is answered with a JSON 400 and logged in one line, and a
    client that goes away or stops reading is dropped without a traceback (gevent prints one
    for both, and answers the first with an empty body)."""
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIHandler, WSGIServer

    class GuardedHandler(WSGIHandler):
        def handle(self) -> None:
            self.socket.settimeout(CONNECTION_IDLE_S)
            with contextlib.suppress(OSError):  # reset or stalled while gevent sent its refusal of a malformed request
                super().handle()

        # gevent's (provisional) hook for a request it cannot parse; the tests in
        # tests/metrics/test_met_server.py say whether a gevent upgrade still calls it.
        def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes] | None:
            if isinstance(ex, OSError):  # the client went away or stalled in its head: nobody to answer
                return None
            reason = str(ex)[:200]
            logger.warning("refused a malformed request from %s: %s", self.client_address, reason)
            return "400", _refusal("400 Bad Request", "invalid_http", f"the request is not valid HTTP/1.1: {reason}")

        def handle_one_request(self) -> Any:
            result = super().handle_one_request()
            if isinstance(result, tuple) and result[0] == "414":  # gevent's own answer has an empty body
                logger.warning("refused a request line of 8 KB or more from %s", self.client_address)
                return "414", _refusal("414 URI Too Long", "uri_too_long",
                                       "the request line is 8,192 bytes or longer; this server reads shorter ones")
            return result

        def handle_error(self, t: type[BaseException] | None, v: BaseException | None, tb: Any) -> None:
            if t is not None and issubclass(t, OSError):  # a client that stopped reading (timed out) or reset
                self.close_connection = True
                return
            super().handle_error(t, v, tb)

    def without_body_for_head(environ: dict[str, Any], start_response: Any) -> Any:
        body = application(environ, start_response)
        # gevent's server sends whatever the app returns, even to HEAD: a body there would be
        # read as the next response by a client that keeps the connection.
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body

    return WSGIServer(listener, without_body_for_head, spawn=Pool(MAX_CONNECTIONS), log=None, error_log=logger,
                      handler_class=GuardedHandler)


def check_listen_host(host: str, allow_remote: bool) -> None:
    """Refuse an address off loopback unless ``allow_remote``: a metrics face listens where
    only this machine reaches it by default."""
    try:
        loopback = host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise ValueError(f"host: the exporter listens on loopback unless allow_remote=True, got {host!r}")
