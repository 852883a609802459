"""The drills' Toxiproxy client: typed results, errors, and faults removed on exit."""

from __future__ import annotations

import pytest

from drills.toxiproxy_client import ToxicInfo, ToxiproxyClient, ToxiproxyError


def test_toxic_context_removes_the_toxic_even_on_error(client: ToxiproxyClient, echo_proxy):
    with (
        pytest.raises(RuntimeError, match="drill step failed"),
        client.toxic("echo", "latency", {"latency": 10}, stream="upstream") as toxic,
    ):
        assert toxic == ToxicInfo("latency_upstream", "latency", "upstream", 1.0, {"latency": 10, "jitter": 0})
        assert client.toxics("echo") == [toxic]
        raise RuntimeError("drill step failed")
    assert client.toxics("echo") == []


def test_toxic_context_tolerates_a_reset_inside_it(client: ToxiproxyClient, echo_proxy):
    with client.toxic("echo", "timeout", {"timeout": 100}, name="stall"):
        client.reset()
    assert client.toxics("echo") == []


def test_down_context_brings_the_proxy_back(client: ToxiproxyClient, echo_proxy):
    with client.down("echo") as info:
        assert info.enabled is False
        assert client.get_proxy("echo").enabled is False
    assert client.get_proxy("echo").enabled is True


def test_errors_carry_status_and_toxiproxy_message(client: ToxiproxyClient):
    with pytest.raises(ToxiproxyError) as caught:
        client.get_proxy("missing")
    assert (caught.value.status, caught.value.message) == (404, "proxy not found")
    assert str(caught.value) == "GET /proxies/missing: 404 proxy not found"


def test_populate_and_list(client: ToxiproxyClient, echo_upstream):
    upstream = f"127.0.0.1:{echo_upstream.port}"
    created = client.populate([{"name": f"p{i}", "listen": "127.0.0.1:0", "upstream": upstream} for i in range(3)])
    assert [p.name for p in created] == ["p0", "p1", "p2"]
    assert all(p.listen_port > 0 for p in created)
    assert set(client.proxies()) == {"p0", "p1", "p2"}
    client.delete_proxy("p1")
    assert set(client.proxies()) == {"p0", "p2"}
