"""The HTTP API answers like Toxiproxy's: routes, status codes, bodies and error JSON."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from drills.toxiproxy_client import ToxiproxyClient


@pytest.fixture
def api(fault_server, client: ToxiproxyClient) -> Iterator[httpx.Client]:
    """Raw HTTP to the shared fault proxy (``client`` cleans proxies up after the test)."""
    with httpx.Client(base_url=fault_server.api_url, timeout=10) as http:
        yield http


def _upstream(echo_upstream) -> str:
    return f"127.0.0.1:{echo_upstream.port}"


def test_create_show_list_delete_proxy(api, echo_upstream):
    created = api.post("/proxies", json={"name": "db", "listen": "127.0.0.1:0", "upstream": _upstream(echo_upstream)})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "db" and body["enabled"] is True and body["toxics"] == []
    assert body["upstream"] == _upstream(echo_upstream)
    assert body["listen"].startswith("127.0.0.1:") and not body["listen"].endswith(":0")  # real port
    assert api.get("/proxies/db").json() == body
    assert api.get("/proxies").json() == {"db": body}
    assert api.delete("/proxies/db").status_code == 204
    assert api.get("/proxies").json() == {}


def test_toxic_create_defaults_and_shape(api, echo_proxy):
    response = api.post("/proxies/echo/toxics", json={"type": "latency", "attributes": {"latency": 50}})
    assert response.status_code == 200  # Toxiproxy answers 200, not 201, for a toxic
    assert response.json() == {
        "attributes": {"latency": 50, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    api.post("/proxies/echo/toxics", json={"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 9}})
    names = [t["name"] for t in api.get("/proxies/echo/toxics").json()]
    assert names == ["bandwidth_upstream", "latency_downstream"]
    assert api.get("/proxies/echo/toxics/bandwidth_upstream").json()["attributes"] == {"rate": 9}
    assert [t["name"] for t in api.get("/proxies/echo").json()["toxics"]] == names
    patched = api.patch("/proxies/echo/toxics/latency_downstream", json={"attributes": {"jitter": 5}})
    assert patched.json()["attributes"] == {"latency": 50, "jitter": 5}
    assert api.delete("/proxies/echo/toxics/latency_downstream").status_code == 204
    assert [t["name"] for t in api.get("/proxies/echo/toxics").json()] == ["bandwidth_upstream"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/proxies/nope", None, 404, "proxy not found"),
        ("DELETE", "/proxies/nope", None, 404, "proxy not found"),
        ("POST", "/proxies/nope/toxics", {"type": "latency"}, 404, "proxy not found"),
        ("GET", "/proxies/echo/toxics/nope", None, 404, "toxic not found"),
        ("DELETE", "/proxies/echo/toxics/nope", None, 404, "toxic not found"),
        ("POST", "/proxies/echo/toxics", {"type": "gremlins"}, 400, "invalid toxic type"),
        ("POST", "/proxies/echo/toxics", {"type": "latency", "stream": "sideways"}, 400,
         "stream was invalid, can be either upstream or downstream"),
        ("POST", "/proxies", {"name": "x", "listen": "127.0.0.1:0"}, 400, "missing required field: upstream"),
        ("POST", "/proxies", {"upstream": "127.0.0.1:1"}, 400, "missing required field: name"),
    ],
)
def test_errors_have_toxiproxy_status_and_message(api, echo_proxy, method, path, body, status, error):
    response = api.request(method, path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": error, "status": status}


def test_duplicates_are_conflicts(api, echo_proxy, echo_upstream):
    again = api.post("/proxies", json={"name": "echo", "listen": "127.0.0.1:0", "upstream": _upstream(echo_upstream)})
    assert (again.status_code, again.json()) == (409, {"error": "proxy already exists", "status": 409})
    api.post("/proxies/echo/toxics", json={"type": "latency"})
    toxic = api.post("/proxies/echo/toxics", json={"type": "latency"})
    assert (toxic.status_code, toxic.json()) == (409, {"error": "toxic already exists", "status": 409})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "latency", "attributes": {"latency": "200"}}, "attributes.latency"),
        ({"type": "latency", "attributes": {"latency": -1}}, "attributes.latency"),
        ({"type": "latency", "attributes": {"latency_ms": 200}}, "attributes.latency_ms"),
        ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}, "size_variation"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity"),
        ({"type": "latency", "colour": "red"}, "colour"),
    ],
)
def test_bad_toxic_bodies_name_the_field(api, echo_proxy, body, field):
    response = api.post("/proxies/echo/toxics", json=body)
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert response.json()["error"].startswith("bad request body: ")
    assert field in response.json()["error"]


def test_malformed_json_and_unknown_routes_are_4xx_json(api, echo_proxy):
    bad = api.post("/proxies", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad request body: invalid JSON")
    empty = api.post("/proxies/echo", content=b"")
    assert empty.status_code == 400 and "EOF" in empty.json()["error"]
    assert api.get("/nowhere").json() == {"error": "not found", "status": 404}
    assert api.put("/proxies").status_code == 405


def test_browser_user_agents_are_refused(api):
    response = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert (response.status_code, response.text) == (403, "User agent not allowed\n")


def test_version(api):
    assert api.get("/version").json()["version"].startswith("2.")


def test_populate_creates_then_keeps_identical_proxies(api, echo_upstream, connect, wire):
    first = api.post("/populate", json=[{"name": "a", "listen": "127.0.0.1:0", "upstream": _upstream(echo_upstream)}])
    assert first.status_code == 201
    proxy = first.json()["proxies"][0]
    sock = connect(int(proxy["listen"].rpartition(":")[2]))
    assert wire.exchange(sock, b"x") == b"x"
    # Same listen (the bound one) and upstream: kept as is, open connections survive.
    again = api.post("/populate", json=[{"name": "a", "listen": proxy["listen"], "upstream": proxy["upstream"]}])
    assert again.status_code == 201 and again.json()["proxies"][0]["listen"] == proxy["listen"]
    assert wire.exchange(sock, b"y") == b"y"
    broken = api.post("/populate", json=[{"name": "b", "upstream": _upstream(echo_upstream)}, {"name": "c"}])
    assert broken.status_code == 400
    assert broken.json() == {"error": "missing required field: upstream at proxy 2", "status": 400, "proxies": None}
    assert "b" not in api.get("/proxies").json()  # nothing applied when any entry is invalid


HOLD_MS = 5000  # the test proxy's max_hold_s (conftest): no delay it injects is longer


def test_reset_removes_every_toxic_and_enables_every_proxy(api, client, echo_proxy, echo_upstream, connect, wire):
    other = client.create_proxy("other", listen="127.0.0.1:0", upstream=_upstream(echo_upstream))
    sock = connect(echo_proxy, timeout=30.0)
    client.add_toxic("echo", "latency", {"latency": HOLD_MS})  # the whole of the proxy's longest hold
    client.add_toxic("echo", "bandwidth", {"rate": 1}, stream="upstream")
    client.add_toxic("other", "timeout", {"timeout": 0})
    client.disable("other")
    payload = os.urandom(64)
    reset: list[httpx.Response] = []
    resetting = threading.Timer(0.3, lambda: reset.append(api.post("/reset")))
    resetting.start()
    start = time.perf_counter()
    assert wire.exchange(sock, payload) == payload
    # Released by the reset (sent at 0.3 s), not served its delay: a ratio to the injected delay.
    assert (time.perf_counter() - start) / (HOLD_MS / 1000) < 0.5
    resetting.join(30)  # its answer read before the client is closed at teardown (it was not: a thread error)
    assert [r.status_code for r in reset] == [204], reset
    proxies = api.get("/proxies").json()
    assert {name: (p["enabled"], p["toxics"]) for name, p in proxies.items()} == {
        "echo": (True, []),
        "other": (True, []),
    }
    assert wire.exchange(connect(other), b"back") == b"back"


@pytest.mark.parametrize(("body", "error"), [
    (b"[" * 100_000, "bad request body: invalid JSON: nested too deeply"),  # RecursionError: a 500
    (b'{"type": "latency", "attributes": {"latency": ' + b"9" * 5000 + b"}}",  # int() refuses 4,300+ digits: a 500
     "bad request body: invalid JSON: Exceeds the limit (4300 digits)"),
    (b'{"type": "latency", "attributes": {"latency": ' + b"9" * 400 + b"}}",  # accepted, then overflowed the delay
     "bad request body: attributes.latency: Input should be less than or equal to 9223372036854775807"),
], ids=["deep", "digits", "past-int64"])
def test_json_that_python_cannot_hold_is_a_400_naming_why(api, echo_proxy, capfd, body, error):
    response = api.post("/proxies/echo/toxics", content=body)
    assert (response.status_code, response.json()["status"]) == (400, 400)
    assert response.json()["error"].startswith(error)
    assert api.get("/proxies/echo/toxics").json() == []
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_that_never_arrives_holds_no_other_call(fault_server, client, echo_proxy, capfd):
    # The API answers one call at a time; the body used to be read inside that lock, so a client
    # that announced a body and sent half of it stopped every other call, the drill's removal of
    # its faults among them, for as long as it held the connection.
    stalled = socket.create_connection(("127.0.0.1", fault_server.api_port), timeout=10)
    try:
        stalled.sendall(b"POST /proxies/echo/toxics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        with ToxiproxyClient(fault_server.api_url, timeout=10) as other:
            other.add_toxic("echo", "latency", {"latency": 1}, name="meanwhile")
            other.remove_toxic("echo", "meanwhile")
            assert other.get_proxy("echo").toxics == ()
    finally:
        stalled.close()  # gone before its body came: answered to nobody, logged as nothing
    assert client.version()
    assert "Traceback" not in capfd.readouterr().err
