"""The adapters against a target that answers badly: what Locust's statistics show and
what the personas get back, with no traceback and no stuck actor.

    python tests/scenarios/hostile_probe.py

Run as a subprocess (importing locust monkey-patches the standard library). Starts a raw
gevent server on 127.0.0.1 that answers each path prefix with one kind of bad answer (a
huge body, a body dripped slower than the timeout allows, a redirect to a foreign host, a
reset, HTML where JSON or SOAP was promised, an ``OK`` without its fields, a SOAP Fault
of an unexpected shape, Retry-After as an HTTP-date or a negative number), drives the
adapters through it and prints one JSON line of observations for
``test_scn_hostile_answers.py``. Every adapter call is made through :func:`_outcome`, so
an exception is an observation ("crash: KeyError"), not the probe's end.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import email.utils
import json
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from gevent.server import StreamServer
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scenarios.adapters.http as http_layer
from kernel.credentials import DerivedCredentials
from kernel.synthetic import citizen_at
from scenarios.adapters import ServiceSession, adapter_class

#: The answer cap the probe sets (the default is far larger than a test should send).
CAP = 64 * 1024
#: The request timeout of the drip: the whole answer takes ``DRIP_BYTES`` × ``DRIP_GAP_S``,
#: eight times as long, though no single read waits longer than the gap.
TIMEOUT_S = 0.25
DRIP_BYTES, DRIP_GAP_S = 40, 0.05
FOREIGN = "http://198.51.100.7/collect"  # TEST-NET-2: never reachable, never on an allowlist

_SOAP_FAULT = (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
               b"<soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>backend down</faultstring>"
               b"<detail><oops xmlns=\"urn:other\">no Loi here</oops></detail></soap:Fault></soap:Body></soap:Envelope>")


def _head(status: str, length: int | None, content_type: str = "application/json", extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{size}{extra}\r\n".encode()


def _whole(status: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return _head(status, len(body), content_type, extra) + body


def _answer(conn: socket.socket, path: str) -> bool:
    """Answer one request; False when the connection must end (after a reset)."""
    if path.endswith("/ok"):
        conn.sendall(_whole("200 OK", b'{"fine": true}'))
    elif path.startswith("/huge-length"):
        conn.sendall(_head("200 OK", 16 * CAP))
        for _ in range(16):
            conn.sendall(b" " * CAP)
    elif path.startswith("/huge-chunked"):
        conn.sendall(_head("200 OK", None))
        for _ in range(16):
            conn.sendall(f"{CAP:x}\r\n".encode() + b" " * CAP + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
    elif path.startswith("/drip"):
        conn.sendall(_head("200 OK", DRIP_BYTES))
        for _ in range(DRIP_BYTES):
            gevent.sleep(DRIP_GAP_S)
            conn.sendall(b" ")
    elif path.startswith("/redirect"):
        conn.sendall(_whole("302 Found", b"", extra=f"Location: {FOREIGN}\r\n"))
    elif path.startswith("/reset"):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    elif path.startswith("/retry-date"):
        when = email.utils.formatdate(time.time() + 120, usegmt=True)
        conn.sendall(_whole("429 Too Many Requests", b"{}", extra=f"Retry-After: {when}\r\n"))
    elif path.startswith("/retry-negative"):
        conn.sendall(_whole("429 Too Many Requests", b"{}", extra="Retry-After: -5\r\n"))
    elif path.startswith("/html"):
        conn.sendall(_whole("200 OK", b"<html><body>Trang bao tri</body></html>", "text/html"))
    elif path.startswith("/null-token"):
        conn.sendall(_whole("200 OK", b'{"access_token": null, "expires_in": "soon"}'))
    elif path.startswith("/fault200"):
        conn.sendall(_whole("200 OK", _SOAP_FAULT, "text/xml; charset=utf-8"))
    elif path.startswith("/fault500"):
        conn.sendall(_whole("500 Internal Server Error", _SOAP_FAULT, "text/xml; charset=utf-8"))
    elif path.startswith("/sdk-bare"):
        conn.sendall(_whole("200 OK", b'{"status": "OK", "data": null}'))
    elif path.startswith("/dvcqg-odd"):
        conn.sendall(_whole("200 OK", b'{"error_code": 0, "result": 5}'))
    else:
        conn.sendall(_whole("200 OK", b'"ok"'))
    return True


def _handle(conn: socket.socket, _address: Any) -> None:
    buf = b""
    try:
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
                buf += conn.recv(65536)
            buf = buf[length:]
            if not _answer(conn, lines[0].split(b" ")[1].decode()):
                return
    except OSError:
        return
    finally:
        conn.close()


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - what the probe observes: an adapter that raised
        return f"crash: {type(exc).__name__}"


def _reply(reply: Any) -> list[Any]:
    return [reply.status, reply.ok, reply.error_code, reply.data]


def main() -> None:
    http_layer.MAX_ANSWER_BYTES = CAP
    server = StreamServer(("127.0.0.1", 0), _handle)
    server.start()
    base = f"http://127.0.0.1:{server.server_port}"
    env = Environment()
    env.create_local_runner()  # Locust's own statistics, as a run keeps them
    events: list[str | None] = []
    env.events.request.add_listener(lambda exception, **_: events.append(str(exception) if exception else None))
    reported: dict[str, list[str | None]] = {}  # step → what Locust recorded of each of its requests

    def step(key: str, call: Callable[[], Any]) -> None:
        before = len(events)
        out[key] = _outcome(call)
        reported[key] = events[before:]
    credentials = DerivedCredentials("s3cret")

    def session(prefix: str, service: str = "portal") -> ServiceSession:
        return ServiceSession(env, service, base + prefix, pool_size=2, timeout_s=TIMEOUT_S)

    def raw(prefix: str) -> Callable[[], list[Any]]:
        def call() -> list[Any]:
            r = session(prefix).call("GET", "/x", name=prefix, province="01")
            return [r.status, r.ok, len(r.content), r.retry_after, r.throttled]
        return call

    out: dict[str, Any] = {"cap": CAP}
    for key in ("huge-length", "huge-chunked", "drip", "redirect", "reset", "retry-date", "retry-negative"):
        step(key, raw(f"/{key}"))
    # The pool of a service that sent a huge answer still works: the connection it left
    # mid-body is closed, not handed to the next request with the rest of the body unread.
    huge = session("/huge-length")
    huge.call("GET", "/x", name="/huge-length", province="01")
    after = huge.call("GET", "/ok", name="/ok", province="01")
    out["after_huge"] = [after.status, after.ok, after.data]

    portal = adapter_class("portal", "native")(session("/html"), credentials)
    step("officer-html", lambda: portal.officer_token("00004.officer1", "01", "00004"))
    nulls = adapter_class("portal", "native")(session("/null-token"), credentials)
    step("officer-null", lambda: nulls.officer_token("00004.officer1", "01", "00004"))
    step("citizen-null", lambda: _reply(nulls.sign_in_citizen(citizen_at(1, 0), "01", "00004")))

    for key in ("html", "fault200", "fault500"):
        c06 = adapter_class("population", "c06-soap")(session(f"/{key}", "population"), credentials)
        step(f"soap-{key}", lambda c06=c06: _reply(c06.verify("province-01", "001099000001", "A",
                                                             citizen_at(1, 0).date_of_birth, "x", "01")))

    vdxp = adapter_class("axis", "vdxp")(session("/sdk-bare", "axis"), credentials, None)
    step("vdxp-inbox", lambda: _reply(vdxp.inbox("H26.00004", "01", "00004")))
    step("vdxp-send", lambda: _reply(vdxp.send("H26.00004", b"<edXML/>", "01", "00004")))
    dvcqg = adapter_class("portal", "dvcqg-adapter")(session("/dvcqg-odd"), credentials)
    step("dvcqg-catalogue", lambda: _reply(dvcqg.procedures("01")))

    out["reported"] = reported
    server.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
