"""Raw-socket helpers for the mocks' tests: what an HTTP client library will not send (a
head over the cap, a body cut off by a client that goes away), and the per-route request
counts a mock's ``/metrics`` shows."""

from __future__ import annotations

import re
import socket
import time

import httpx

__all__ = ["abandon_body", "exchange", "requests_counted", "wait_for_count"]

_COUNT_LINE = re.compile(r'^dientap_mock_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the service at ``url``, read until it closes: (status, headers, body)."""
    with socket.create_connection(_address(url), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def abandon_body(url: str, path: str, headers: dict[str, str]) -> None:
    """POST ``path`` announcing a 1000-byte body, send a few bytes of it and close the
    connection: a client that went away mid-request."""
    host, port = _address(url)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 1000\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + b'{"a": 1')


def requests_counted(url: str, route: str) -> dict[str, float]:
    """The service's request count for ``route`` (a route template), by status class ("4xx"...)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for match in _COUNT_LINE.finditer(text):
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("route") == route:
            counts[labels["status_class"]] = counts.get(labels["status_class"], 0.0) + float(match["value"])
    return counts


def wait_for_count(url: str, route: str, above: float) -> dict[str, float]:
    """``requests_counted`` once the route's total passes ``above`` (the server counts a request
    when it has finished with it, a moment after the client's side is done)."""
    for _ in range(400):
        counts = requests_counted(url, route)
        if sum(counts.values()) > above:
            return counts
        time.sleep(0.025)
    raise AssertionError(f"{route}: the request was never counted ({counts})")
