"""FaultProxyServer's two ways of running: its own thread, or tasks of the caller's loop."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from drills.faultproxy import FaultProxyServer


def test_runs_as_tasks_of_an_existing_event_loop(echo_upstream):
    async def scenario() -> int:
        server = FaultProxyServer("127.0.0.1", 0)
        await server.start_async()
        try:
            async with httpx.AsyncClient(base_url=server.api_url) as http:
                spec = {"name": "inloop", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_upstream.port}"}
                created = await http.post("/proxies", json=spec)
                port = int(created.json()["listen"].rpartition(":")[2])
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"ping")
                await writer.drain()
                assert await reader.readexactly(4) == b"ping"
                writer.close()
        finally:
            await server.stop_async()
        return port

    port = asyncio.run(scenario())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_start_twice_is_an_error_and_stop_is_idempotent():
    server = FaultProxyServer("127.0.0.1", 0)
    server.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
        assert httpx.get(f"{server.api_url}/version").status_code == 200
    finally:
        server.stop()
    server.stop()


def test_api_port_in_use_fails_start_with_the_os_error():
    with FaultProxyServer("127.0.0.1", 0) as first:
        second = FaultProxyServer("127.0.0.1", first.api_port)
        with pytest.raises(OSError):
            second.start()
