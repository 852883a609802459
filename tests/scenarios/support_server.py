"""A tiny HTTP/1.1 keep-alive server for the scenarios tests (run as a subprocess).

    python tests/scenarios/support_server.py        # prints "PORT <n>" then serves

Routes (any method):
  /ok              200 "ok"
  /freeze?ms=N     every request that arrives in the next N ms is answered only when the
                   freeze ends (a server-wide stall, like a GC pause); answers at once
  /stats           {"accepted": <TCP connections accepted so far, this one excluded>}
  /error           500 {"error": ...}
  /set-cookie      200, with ``Set-Cookie: actor=a1``
  /cookie          {"cookie": <the request's Cookie header, or null>}
  /peer            {"peer": [<the connection's source address>, <its source port>]}

Written on plain gevent sockets (not Starlette) so it takes thousands of concurrent
keep-alive connections on one core without becoming the bottleneck.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402
from raw_requests import requests_on  # noqa: E402

STATE = {"accepted": 0, "freeze_until": 0.0}


def _respond(conn, body: bytes, status: bytes = b"200 OK") -> None:
    conn.sendall(
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def handle(conn, addr) -> None:
    STATE["accepted"] += 1
    try:
        for lines in requests_on(conn):
            target = lines[0].split(b" ")[1].decode()
            cookie = next((line.split(b":", 1)[1].strip().decode() for line in lines[1:]
                           if line.lower().startswith(b"cookie:")), None)
            url = urlsplit(target)
            wait = STATE["freeze_until"] - time.monotonic()
            if wait > 0:
                gevent.sleep(wait)
            if url.path == "/freeze":
                ms = float(parse_qs(url.query).get("ms", ["0"])[0])
                STATE["freeze_until"] = time.monotonic() + ms / 1000
                _respond(conn, b'{"frozen": true}')
            elif url.path == "/stats":
                _respond(conn, json.dumps({"accepted": STATE["accepted"] - 1}).encode())
            elif url.path == "/set-cookie":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: actor=a1; Path=/\r\n"
                             b"Content-Length: 4\r\n\r\n\"ok\"")
            elif url.path == "/cookie":
                _respond(conn, json.dumps({"cookie": cookie}).encode())
            elif url.path == "/peer":
                _respond(conn, json.dumps({"peer": list(addr[:2])}).encode())
            elif url.path == "/error":
                _respond(conn, b'{"error": {"code": "planted", "message": "test error", "field": null}}',
                         b"500 Internal Server Error")
            else:
                _respond(conn, b'"ok"')
    except OSError:
        return
    finally:
        conn.close()


def main() -> None:
    server = StreamServer(("127.0.0.1", 0), handle, backlog=4096)
    server.init_socket()
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
