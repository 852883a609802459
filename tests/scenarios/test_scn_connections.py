"""Keep-alive fix: pooled sockets with fds >= 1024 are reused, not reconnected."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from geventhttpclient.connectionpool import ConnectionPool
from scn_support import HERE, start_support_server

from scenarios import connections

CLIENTS = 3000
ROUNDS = 3


def _run_clients(base_url: str, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "keepalive_client.py"), base_url, str(CLIENTS), str(ROUNDS), mode],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fix_is_idempotent_and_only_when_buggy():
    try:
        first = connections.install_keepalive_fix()
        second = connections.install_keepalive_fix()
        assert first is second is True  # geventhttpclient 2.6.1 here has the bug
        assert ConnectionPool._is_socket_alive is connections._is_socket_alive_poll
        assert connections._check_has_bug() is False  # the patched check passes the probe
    finally:
        connections._uninstall_for_tests()
    assert connections._check_has_bug() is True


def test_poll_check_sees_closed_peer_and_idle_socket():
    import socket

    a, b = socket.socketpair()
    try:
        assert connections._is_socket_alive_poll(None, a) is True
        b.close()
        assert connections._is_socket_alive_poll(None, a) is False  # EOF is readable
    finally:
        a.close()
    assert connections._is_socket_alive_poll(None, None) is False


@pytest.mark.e2e
def test_keepalive_connections_match_clients_only_with_fix():
    server = start_support_server()
    try:
        fixed = _run_clients(server.base_url, "fix")
        with_fix = server.accepted()
        unfixed = _run_clients(server.base_url, "nofix")
        without_fix = server.accepted() - with_fix
    finally:
        server.process.kill()
        server.process.wait(timeout=10)
    assert fixed["fix_installed"] is True and fixed["errors"] == 0
    assert fixed["requests"] == CLIENTS * ROUNDS
    assert fixed["max_fd"] >= 1024, "test did not reach the broken fd range"
    # One TCP connection per client (a few % slack for timing), with the fix...
    assert with_fix <= CLIENTS * 1.03, (with_fix, CLIENTS)
    # ...and reconnects on every reuse above fd 1024 without it (proves the test can fail).
    assert unfixed["errors"] == 0
    assert without_fix >= CLIENTS * 1.5, (without_fix, CLIENTS)


def test_office_pools_share_one_pool_per_key():
    pools = connections.OfficePools(concurrency=3)
    a = pools.get(("portal", "00004"))
    assert pools.get(("portal", "00004")) is a
    assert pools.get(("axis", "00004")) is not a and len(pools) == 2
    assert a.client_args["concurrency"] == 3
    pools.close()
    assert len(pools) == 0
