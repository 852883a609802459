"""Safety rails: allowlisted upstreams, loopback listeners, bounded holds, clean shutdown, config."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from drills.faultproxy import FaultProxyServer
from drills.toxiproxy_client import ToxiproxyClient, ToxiproxyError
from kernel.errors import ConfigError, TargetNotAllowed

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("upstream", ["10.1.2.3:80", "example.org:443", "[2001:db8::1]:80"])
def test_upstream_off_the_allowlist_is_refused(client, upstream):
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy("evil", listen="127.0.0.1:0", upstream=upstream)
    assert caught.value.status == 403
    assert "is not on the allowlist" in caught.value.message and "--allow-host" in caught.value.message
    assert "evil" not in client.proxies()


def test_off_allowlist_upstream_refused_in_populate_and_update(client, echo_proxy):
    with pytest.raises(ToxiproxyError) as caught:
        client.populate([{"name": "ok", "upstream": echo_proxy.upstream}, {"name": "evil", "upstream": "10.9.9.9:1"}])
    assert caught.value.status == 403
    assert set(client.proxies()) == {"echo"}  # all-or-nothing
    with pytest.raises(ToxiproxyError) as caught:
        client.update_proxy("echo", upstream="10.9.9.9:1")
    assert caught.value.status == 403
    assert client.get_proxy("echo").upstream == echo_proxy.upstream


def test_an_allowlisted_upstream_is_accepted():
    with FaultProxyServer("127.0.0.1", 0, allow_hosts=["10.1.2.3"]) as server, ToxiproxyClient(server.api_url) as c:
        proxy = c.create_proxy("partner", listen="127.0.0.1:0", upstream="10.1.2.3:80")
        assert proxy.upstream == "10.1.2.3:80" and proxy.enabled


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "192.0.2.1:0"])
def test_listening_off_loopback_is_refused_by_default(client, echo_upstream, listen):
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy("wide", listen=listen, upstream=f"127.0.0.1:{echo_upstream.port}")
    assert caught.value.status == 403 and "not a loopback address" in caught.value.message


def test_api_host_off_loopback_is_refused():
    with pytest.raises(TargetNotAllowed, match="not a loopback address"):
        FaultProxyServer("0.0.0.0", 0)


def test_malformed_addresses_are_400(client):
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy("bad", listen="127.0.0.1:0", upstream="127.0.0.1")
    assert (caught.value.status, caught.value.message) == (
        400,
        "bad request body: upstream: expected host:port (an IPv6 address in brackets), got '127.0.0.1'",
    )


# Each was read loosely before: "[::1:0" and "::1:0" as host ::1, "127.0.0.1 :0" as a host with a
# space (a 409 from bind), the full-width "０" as port 0, "[fffff::1]:0" as a host bind cannot use.
@pytest.mark.parametrize(("listen", "says"), [
    ("[::1:0", "expected host:port"), ("::1:0", "expected host:port"), ("127.0.0.1 :0", "expected host:port"),
    ("127.0.0.1:\uff10", "expected host:port"), ("127.0.0.1:65536", "expected host:port"),
    ("[zz]:0", "expected host:port"), ("[fffff::1]:0", "'fffff::1' in brackets is not an IPv6 address"),
])
def test_a_listen_address_is_host_port_strictly(client, echo_upstream, listen, says):
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy("bad", listen=listen, upstream=f"127.0.0.1:{echo_upstream.port}")
    assert caught.value.status == 400 and caught.value.message.startswith("bad request body: listen: ")
    assert says in caught.value.message
    assert "bad" not in client.proxies()


@pytest.mark.parametrize("name", ["a/b", "tab\there"])
def test_a_name_that_could_never_be_addressed_again_is_refused(client, echo_upstream, echo_proxy, name):
    # "a/b" was created, then /proxies/a/b answered 404 to every call, removal included.
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy(name, listen="127.0.0.1:0", upstream=f"127.0.0.1:{echo_upstream.port}")
    assert caught.value.status == 400 and "a name is one segment of the API's paths" in caught.value.message
    with pytest.raises(ToxiproxyError) as toxic:
        client.add_toxic(echo_proxy.name, "latency", {"latency": 1}, name=name)
    assert toxic.value.status == 400 and "a name is one segment" in toxic.value.message


def test_listen_address_in_use_is_a_conflict_not_a_500(client, echo_proxy):
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy("clash", listen=echo_proxy.listen, upstream=echo_proxy.upstream)
    assert caught.value.status == 409 and caught.value.message.startswith(f"listen: {echo_proxy.listen}: ")


def test_dead_upstream_closes_the_client_promptly(client, connect):
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    dead_port = spare.getsockname()[1]
    spare.close()  # nothing listens there now
    proxy = client.create_proxy("dead", listen="127.0.0.1:0", upstream=f"127.0.0.1:{dead_port}")
    sock = connect(proxy, timeout=3)
    assert sock.recv(10) == b""


def test_stop_closes_every_listener_and_connection(echo_upstream, connect, wire):
    server = FaultProxyServer("127.0.0.1", 0)
    server.start()
    with ToxiproxyClient(server.api_url) as toxiproxy:
        proxy = toxiproxy.create_proxy("p", listen="127.0.0.1:0", upstream=f"127.0.0.1:{echo_upstream.port}")
        toxiproxy.add_toxic("p", "timeout", {"timeout": 0})  # a held connection must not keep stop() waiting
    sock = connect(proxy)
    sock.sendall(b"held")
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 3
    with contextlib.suppress(ConnectionResetError):  # closed either way
        assert sock.recv(10) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=2).close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.api_url}/version", timeout=2)


def test_config_file_creates_proxies_at_start(tmp_path, echo_upstream, connect, wire):
    config = tmp_path / "proxies.json"
    upstream = f"127.0.0.1:{echo_upstream.port}"
    config.write_text(json.dumps([{"name": "cfg", "listen": "127.0.0.1:0", "upstream": upstream}]))
    with FaultProxyServer("127.0.0.1", 0, config=config) as server, ToxiproxyClient(server.api_url) as toxiproxy:
        proxy = toxiproxy.get_proxy("cfg")
        assert wire.exchange(connect(proxy), b"configured") == b"configured"


def test_bad_config_file_names_file_and_entry(tmp_path):
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "ok", "upstream": "127.0.0.1:1"}, {"name": "no-upstream"}]))
    with pytest.raises(ConfigError) as caught:
        FaultProxyServer("127.0.0.1", 0, config=config)
    assert str(caught.value) == f"{config}: [1]: missing required field: upstream at proxy 2"


@pytest.mark.e2e
def test_command_line_entry_point_serves_and_stops_on_sigterm(tmp_path, echo_upstream):
    config = tmp_path / "proxies.json"
    upstream = f"127.0.0.1:{echo_upstream.port}"
    config.write_text(json.dumps([{"name": "cli", "listen": "127.0.0.1:0", "upstream": upstream}]))
    process = subprocess.Popen(  # nosec B603
        [sys.executable, "-m", "drills.faultproxy", "--api", "127.0.0.1:0", "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("fault proxy API on http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" on ", 1)[1].strip()
        with ToxiproxyClient(url) as toxiproxy:
            assert set(toxiproxy.proxies()) == {"cli"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_line_refuses_public_api_address():
    result = subprocess.run(  # nosec B603
        [sys.executable, "-m", "drills.faultproxy", "--api", "0.0.0.0:0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 4
    assert result.stderr.startswith("ERROR: fault proxy API host '0.0.0.0' is not a loopback address")
