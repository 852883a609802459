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
from raw_requests import requests_on

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scenarios.adapters.http as http_layer
from kernel.credentials import DerivedCredentials
from kernel.national.c06 import C06_NS, LOOKUP, SOAP_ENV_NS
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


#: A lookup whose citizen was born on a date not in C06's ``yyyyMMdd`` (the schema's string lets it through).
_SOAP_BAD_DATE = (
    f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:dc="{C06_NS}">'
    f"<soapenv:Body><dc:{LOOKUP}Response><dc:MaYeuCau>r1</dc:MaYeuCau><dc:TonTai>true</dc:TonTai><dc:CongDan>"
    "<dc:SoDinhDanh>001099000001</dc:SoDinhDanh><dc:HoVaTen>Nguyễn Văn A</dc:HoVaTen>"
    "<dc:NgayThangNamSinh><dc:NgayThangNam>1990-01-01</dc:NgayThangNam></dc:NgayThangNamSinh>"
    f"</dc:CongDan></dc:{LOOKUP}Response></soapenv:Body></soapenv:Envelope>"
).encode()

#: Well-formed JSON that lacks, or mistypes, a field the personas read: the first path
#: segment → (status line, body).
_INCOMPLETE: dict[str, tuple[str, bytes]] = {
    "no-code": ("201 Created", b'{"status": 1, "status_name": "Moi tiep nhan"}'),
    "worklist-odd": ("200 OK", b'{"items": [{"code": "D-1"}, "D-2", 5]}'),
    "fee-text": ("200 OK", b'{"code": "D-1", "status": 4, "fee_vnd": "50000", "applicant": {}}'),
    "applicant-text": ("200 OK", b'{"code": "D-1", "status": 1, "applicant": "Nguyen Van A"}'),
    "inbox-no-document": ("200 OK", b'{"deliveries": [{"delivery_id": 7, "kind": "document"}]}'),
    "inbox-no-delivery": ("200 OK", b'{"deliveries": [{"kind": "receipt", "document_id": "X"}]}'),
    "send-null-id": ("201 Created", b'{"document_id": null, "message_id": "M-1"}'),
    "receipts-odd": ("200 OK", b'{"document_id": "X", "receipts": [{"from_code": ["H26.00004"]}]}'),
    "catalogue-odd": ("200 OK", b'{"province_code": "01", "published": true, "procedures": 5}'),
    "dvcqg-no-receipt": ("200 OK", b'{"error_code": 0, "result": [{"MaHoSo": "X", "TrangThaiHoSo": "1"}]}'),
    "dvcqg-fee-list": ("200 OK", b'{"error_code": 0, "result": [{"MaHoSo": "X", "SoBienNhan": "D-1", '
                                 b'"TrangThaiHoSo": "1", "DanhSachLePhi": [{"Gia": [50000]}]}]}'),
}


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
    elif path.startswith("/c06-bad-date"):
        conn.sendall(_whole("200 OK", _SOAP_BAD_DATE, "text/xml; charset=utf-8"))
    elif (odd := _INCOMPLETE.get(path.split("/", 2)[1])) is not None:
        conn.sendall(_whole(*odd))
    else:
        conn.sendall(_whole("200 OK", b'"ok"'))
    return True


def _handle(conn: socket.socket, _address: Any) -> None:
    try:
        for lines in requests_on(conn):
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

    # Well-formed answers without what the personas read: failures with a reason, never a
    # reply the persona then raises on.
    citizen = citizen_at(1, 0)

    def native(prefix: str, service: str = "portal") -> Any:
        if service == "axis":
            return adapter_class("axis", "native")(session(prefix, "axis"), credentials, None)
        return adapter_class(service, "native")(session(prefix, service), credentials)

    step("submit-no-code", lambda: _reply(native("/no-code").submit_dossier(
        "t", citizen, "1.001", "k-1", "01", "00004")))
    step("worklist-odd", lambda: _reply(native("/worklist-odd").worklist("t", "01", "00004", status=1)))
    step("dossier-fee-text", lambda: _reply(native("/fee-text").dossier("t", "D-1", "01", "00004")))
    step("dossier-applicant-text", lambda: _reply(native("/applicant-text").dossier("t", "D-1", "01", "00004")))
    for key in ("inbox-no-document", "inbox-no-delivery"):
        step(key, lambda key=key: _reply(native(f"/{key}", "axis").inbox("t", "01", "00004")))
    step("send-null-id", lambda: _reply(native("/send-null-id", "axis").send("t", b"<edXML/>", "01")))
    step("receipts-odd", lambda: _reply(native("/receipts-odd", "axis").receipts_of("t", "X", "01")))
    step("catalogue-odd", lambda: _reply(native("/catalogue-odd").procedures("01")))
    step("catalogue-html", lambda: _reply(native("/html").procedures("01")))
    c06_dated = adapter_class("population", "c06-soap")(session("/c06-bad-date", "population"), credentials)
    step("c06-lookup-bad-date", lambda: _reply(c06_dated.lookup("province-01", "001099000001", "x", "01")))
    dvcqg_fees = adapter_class("portal", "dvcqg-adapter")(session("/dvcqg-fee-list"), credentials)
    step("dvcqg-dossier-fee-list", lambda: _reply(dvcqg_fees.dossier("s", "X", "01", "00004")))
    dvcqg_synced = adapter_class("portal", "dvcqg-adapter")(session("/dvcqg-no-receipt"), credentials)
    step("dvcqg-submit-no-receipt", lambda: _reply(dvcqg_synced.submit_dossier(
        "s", citizen, "1.001", "k-1", "01", "00004")))

    out["reported"] = reported
    server.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
