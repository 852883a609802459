"""The keep-alive HTTP client used for identity checks."""

from __future__ import annotations

import asyncio

import pytest

from mocks.portal.upstream import KeepAliveClient, UpstreamError

from .stub_http import StubServer


def echo(method, path, headers, body):
    return 200, b'{"path":"%s","auth":"%s","len":%d}' % (path.encode(), headers.get("authorization", "").encode(), len(body))


def test_connections_are_reused():
    async def go():
        async with StubServer(echo) as server:
            client = KeepAliveClient(server.url, 1.0)
            responses = [await client.post_json("/x", b"{}", {"Authorization": "Bearer t"}) for _ in range(5)]
            await client.aclose()
            return responses, server.connections

    responses, connections = asyncio.run(go())
    assert connections == 1
    assert responses[0].status == 200 and responses[0].body == b'{"path":"/x","auth":"Bearer t","len":2}'


def test_concurrent_calls_open_parallel_connections_then_reuse_them():
    async def go():
        async with StubServer(echo) as server:
            client = KeepAliveClient(server.url, 1.0)
            for _ in range(3):
                await asyncio.gather(*(client.post_json("/x", b"{}") for _ in range(10)))
            await client.aclose()
            return server.connections, server.requests

    connections, requests = asyncio.run(go())
    assert requests == 30 and connections <= 10


def test_server_dropping_idle_connections_is_retried_transparently():
    async def go():
        async with StubServer(echo) as server:
            client = KeepAliveClient(server.url, 1.0)
            await client.post_json("/x", b"{}")
            server.drop_idle_connections()
            await asyncio.sleep(0.05)
            second = await client.post_json("/y", b"{}")
            await client.aclose()
            return second, server.connections

    second, connections = asyncio.run(go())
    assert second.status == 200 and connections == 2


def test_connection_close_responses_are_handled():
    async def go():
        async with StubServer(echo, close_after_each=True) as server:
            client = KeepAliveClient(server.url, 1.0)
            statuses = [(await client.post_json("/x", b"{}")).status for _ in range(3)]
            await client.aclose()
            return statuses

    assert asyncio.run(go()) == [200, 200, 200]


def test_header_injection_is_refused():
    async def go():
        async with StubServer(echo) as server:
            client = KeepAliveClient(server.url, 1.0)
            await client.post_json("/x", b"{}", {"Authorization": "Bearer t\r\nX-Evil: 1"})

    with pytest.raises(UpstreamError, match="line break"):
        asyncio.run(go())


def test_only_http_and_https_urls():
    # https itself is exercised end to end: tests/scenarios/test_tls_e2e.py (portal → population over mutual TLS).
    for url in ("ftp://population.example", "population.example:8702", "http://"):
        with pytest.raises(ValueError, match=r"http\(s\)://host:port"):
            KeepAliveClient(url, 1.0)
