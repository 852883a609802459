"""Each toxic does to real loopback traffic what Toxiproxy's does (timings as differences/ratios)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from drills.faultproxy import FaultProxyServer
from drills.toxiproxy_client import ToxiproxyClient

# What a busy 2-core machine may add to a timer or a read on top of the injected delay: tens
# of milliseconds typically, never a second. The lower bound is the claim that matters (a
# toxic cannot make traffic faster than its delay); the upper one only proves the delay is
# the configured one and not a hang, so it carries this slack instead of a tight percentage.
SCHEDULING_SLACK_S = 1.0


def _within(value: float, expected: float, tolerance: float) -> bool:
    return expected * (1 - tolerance) <= value <= expected * (1 + tolerance) + SCHEDULING_SLACK_S


# latency / jitter / toxicity ------------------------------------------------------------------


def test_latency_downstream_adds_the_configured_delay(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    baseline = wire.median_rtt(sock)
    client.add_toxic("echo", "latency", {"latency": 200})
    added = wire.median_rtt(sock) - baseline
    assert _within(added, 0.200, 0.20), f"added {added * 1000:.0f} ms, expected 200 ms ± 20 %"


def test_latency_on_both_streams_adds_up(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    baseline = wire.median_rtt(sock, samples=3)
    client.add_toxic("echo", "latency", {"latency": 100}, stream="upstream")
    client.add_toxic("echo", "latency", {"latency": 150}, stream="downstream")
    added = wire.median_rtt(sock, samples=3) - baseline
    assert _within(added, 0.250, 0.20), f"added {added * 1000:.0f} ms, expected 250 ms ± 20 %"


def test_jitter_stays_within_latency_plus_minus_jitter(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    baseline = wire.median_rtt(sock)
    client.add_toxic("echo", "latency", {"latency": 100, "jitter": 50})
    added = sorted(wire.rtt(sock) - baseline for _ in range(12))
    # Toxiproxy draws latency + [-jitter, +jitter); allow 10 ms early / 30 ms late for scheduling.
    # Every sample for the lower bound; the upper one spares the slowest sample only, which a busy
    # machine's stall (hundreds of ms) may hold — a wider jitter would still put several above it.
    assert added[0] >= 0.040 and added[-2] <= 0.180, [round(a * 1000) for a in added]
    assert added[-1] <= 0.150 + SCHEDULING_SLACK_S, [round(a * 1000) for a in added]
    assert max(added) - min(added) > 0.020, "jitter produced no spread"


def test_toxicity_zero_never_applies_and_one_always_does(client, echo_proxy, connect, wire):
    client.add_toxic("echo", "latency", {"latency": 300}, toxicity=0.0)
    assert wire.median_rtt(connect(echo_proxy), samples=3) < 0.150
    client.update_toxic("echo", "latency_downstream", toxicity=1.0)
    assert wire.median_rtt(connect(echo_proxy), samples=3) > 0.250


def test_updating_a_toxic_applies_to_open_connections_at_once(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    baseline = wire.median_rtt(sock, samples=3)
    client.add_toxic("echo", "latency", {"latency": 50})
    assert _within(wire.median_rtt(sock, samples=3) - baseline, 0.050, 0.5)
    updated = client.update_toxic("echo", "latency_downstream", {"latency": 250})
    assert updated.attributes == {"latency": 250, "jitter": 0}
    assert _within(wire.median_rtt(sock, samples=3) - baseline, 0.250, 0.2)


def test_removing_latency_releases_data_already_delayed(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "latency", {"latency": 3000})
    start = time.perf_counter()  # before the timer: a busy machine may wake this thread late after starting it
    threading.Timer(0.3, client.remove_toxic, args=("echo", "latency_downstream")).start()
    payload = os.urandom(1000)
    assert wire.exchange(sock, payload) == payload
    elapsed = time.perf_counter() - start
    assert 0.25 <= elapsed < 1.5, f"released after {elapsed:.2f} s, expected ≈ 0.3 s (not 3 s)"


# bandwidth ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_bandwidth_limits_throughput_downstream(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "bandwidth", {"rate": 50})  # 50 KB/s, KB = 1000 bytes
    payload = os.urandom(100_000)
    start = time.perf_counter()
    assert wire.exchange(sock, payload) == payload
    elapsed = time.perf_counter() - start
    assert _within(elapsed, 2.0, 0.25), f"100 KB at 50 KB/s took {elapsed:.2f} s, expected 2 s ± 25 %"


def test_bandwidth_limits_throughput_upstream(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    baseline_payload = os.urandom(60_000)
    start = time.perf_counter()
    wire.exchange(sock, baseline_payload)
    baseline = time.perf_counter() - start
    client.add_toxic("echo", "bandwidth", {"rate": 100}, stream="upstream")
    start = time.perf_counter()
    assert wire.exchange(sock, baseline_payload) == baseline_payload
    elapsed = time.perf_counter() - start
    assert _within(elapsed, 0.6, 0.25), f"60 KB at 100 KB/s took {elapsed:.2f} s"
    assert elapsed > 10 * baseline


# reset_peer / timeout / limit_data / slow_close -----------------------------------------------


def _read_outcome(sock: socket.socket) -> tuple[bytes, type[BaseException] | None]:
    received = bytearray()
    try:
        while data := sock.recv(65536):
            received += data
    except OSError as exc:
        return bytes(received), type(exc)
    return bytes(received), None


def test_reset_peer_resets_the_client_connection(client, echo_proxy, connect):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "reset_peer", {"timeout": 0})
    sock.sendall(b"hello")
    received, error = _read_outcome(sock)
    assert (received, error) == (b"", ConnectionResetError)


def test_reset_peer_waits_its_timeout_first(client, echo_proxy, connect):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "reset_peer", {"timeout": 400})
    start = time.perf_counter()
    sock.sendall(b"hello")
    received, error = _read_outcome(sock)
    elapsed = time.perf_counter() - start
    assert error is ConnectionResetError and received == b""
    assert _within(elapsed, 0.4, 0.25), f"reset after {elapsed:.2f} s, expected 0.4 s"


def test_timeout_stops_data_then_closes_after_timeout(client, echo_proxy, connect):
    sock = connect(echo_proxy)
    start = time.perf_counter()
    client.add_toxic("echo", "timeout", {"timeout": 500})
    sock.sendall(b"never echoed")
    received, error = _read_outcome(sock)
    elapsed = time.perf_counter() - start
    assert (received, error) == (b"", None)  # a clean close (FIN), no data
    assert _within(elapsed, 0.5, 0.25), f"closed after {elapsed:.2f} s, expected 0.5 s"


def test_timeout_zero_holds_data_until_the_toxic_is_removed(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "timeout", {"timeout": 0})
    start = time.perf_counter()  # before the timer: a busy machine may wake this thread late after starting it
    threading.Timer(0.4, client.remove_toxic, args=("echo", "timeout_downstream")).start()
    payload = os.urandom(5000)
    assert wire.exchange(sock, payload) == payload
    assert 0.35 <= time.perf_counter() - start < 2.0


def test_updating_a_timeout_keeps_holding_and_restarts_its_timer(client, echo_proxy, connect):
    sock = connect(echo_proxy)
    start = time.perf_counter()
    client.add_toxic("echo", "timeout", {"timeout": 0})
    threading.Timer(0.2, client.update_toxic, args=("echo", "timeout_downstream", {"timeout": 400})).start()
    sock.sendall(b"still held")
    received, error = _read_outcome(sock)
    elapsed = time.perf_counter() - start
    assert (received, error) == (b"", None)
    assert _within(elapsed, 0.6, 0.25), f"closed after {elapsed:.2f} s, expected 0.2 + 0.4 s"


def test_timeout_zero_is_bounded_by_max_hold(echo_upstream, connect):
    with FaultProxyServer("127.0.0.1", 0, max_hold_s=0.8) as server, ToxiproxyClient(server.api_url) as toxiproxy:
        proxy = toxiproxy.create_proxy("hold", listen="127.0.0.1:0", upstream=f"127.0.0.1:{echo_upstream.port}")
        sock = connect(proxy)
        start = time.perf_counter()
        toxiproxy.add_toxic("hold", "timeout", {"timeout": 0})
        sock.sendall(b"held")
        received, error = _read_outcome(sock)
        elapsed = time.perf_counter() - start
    assert (received, error) == (b"", None)
    assert _within(elapsed, 0.8, 0.3), f"held {elapsed:.2f} s, expected max_hold_s = 0.8 s"


def test_limit_data_closes_after_exactly_n_bytes(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "limit_data", {"bytes": 1000})
    first, second = os.urandom(600), os.urandom(600)
    assert wire.exchange(sock, first) == first
    sock.sendall(second)
    received, error = _read_outcome(sock)
    assert error is None
    assert received == second[:400]  # 600 + 400 = 1000 bytes, then EOF


def test_slow_close_delays_the_close_not_the_data(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "slow_close", {"delay": 1000}, stream="upstream")
    payload = os.urandom(2000)
    start = time.perf_counter()
    assert wire.exchange(sock, payload) == payload
    data_time = time.perf_counter() - start
    sock.shutdown(socket.SHUT_WR)
    received, error = _read_outcome(sock)
    closed_after = time.perf_counter() - start
    assert (received, error) == (b"", None)
    assert data_time < 1.0, f"the data waited {data_time:.2f} s: it was held for the close's delay"
    assert _within(closed_after, 1.0, 0.1), f"closed after {closed_after:.2f} s, expected 1.0 s"


# slicer ---------------------------------------------------------------------------------------


def test_slicer_delivers_the_same_bytes_in_many_small_reads(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    client.add_toxic("echo", "slicer", {"average_size": 100, "size_variation": 20, "delay": 3000})
    payload = os.urandom(4000)
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    received, sizes = wire.read_until_eof(sock)
    assert received == payload
    assert len(sizes) >= 10, f"only {len(sizes)} reads: {sizes}"
    assert max(sizes) < len(payload)


# down -----------------------------------------------------------------------------------------


def test_down_refuses_new_connections_and_closes_open_ones(client, echo_proxy, connect, wire):
    sock = connect(echo_proxy)
    assert wire.exchange(sock, b"before") == b"before"
    down = client.disable("echo")
    assert down.enabled is False
    received, _ = _read_outcome(sock)
    assert received == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", echo_proxy.listen_port), timeout=2).close()
    up = client.enable("echo")
    assert up.listen == echo_proxy.listen  # same address again
    assert wire.exchange(connect(echo_proxy), b"after") == b"after"
