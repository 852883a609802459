"""The embedded mocks as one target: start in order, share the admin token, stop completely.

Covers :class:`MockCluster` directly and ``dientap mocks`` as a user runs it: stopping by
itself after ``--duration`` and on SIGTERM, and leaving nothing behind when a service
will not start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dientap.orchestration import MockCluster, MockClusterConfig
from dientap.orchestration.mockcluster import SERVICE_ORDER, ServiceBindError
from dientap.orchestration.process import listening_socket
from kernel.errors import ExitCode, ServiceStartError, UsageError

DEADLINE_S = 90.0
SMALL_POPULATION = "300"


def _free_ports(count: int) -> list[int]:
    socks = [listening_socket("127.0.0.1", 0) for _ in range(count)]
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (a test's own folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def _refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.TransportError:
        return True
    return False


@pytest.mark.e2e
def test_a_service_that_will_not_start_leaves_no_process_and_no_socket_behind(tmp_path):
    ports = dict(zip(SERVICE_ORDER, _free_ports(3), strict=True))
    config = MockClusterConfig(ports=dict(ports), data_dir=tmp_path / "data", population_size=int(SMALL_POPULATION),
                               readiness_file=tmp_path / "missing-readiness.yaml", log_dir=tmp_path / "logs")
    cluster = MockCluster(config)
    with pytest.raises(ServiceStartError, match=rf"^population exited with code \d+ while starting; "
                                                rf"see {re.escape(str(tmp_path / 'logs' / 'population.log'))}$"):
        cluster.start(timeout_s=DEADLINE_S)
    assert cluster.services == {}
    assert "missing-readiness.yaml" in (tmp_path / "logs" / "population.log").read_text(encoding="utf-8")
    assert _processes_mentioning(str(tmp_path)) == [], "a mock outlived the failed start"
    for port in ports.values():
        listening_socket("127.0.0.1", port).close()  # EADDRINUSE if any copy of the socket were still open


def test_a_port_that_is_taken_starts_no_service_at_all(tmp_path):
    """Every socket is bound before any process starts: the portal's port (bound last) taken
    means population and axis never start either."""
    with listening_socket("127.0.0.1", 0) as busy:
        port = busy.getsockname()[1]
        cluster = MockCluster(MockClusterConfig(ports={"population": 0, "axis": 0, "portal": port},
                                                data_dir=tmp_path / "data", log_dir=tmp_path / "logs"))
        with pytest.raises(ServiceBindError, match=rf"^the portal mock cannot listen on 127\.0\.0\.1:{port}: ") as caught:
            cluster.start(timeout_s=DEADLINE_S)
    assert (caught.value.service, caught.value.port, caught.value.bad_host) == ("portal", port, False)
    assert cluster.services == {}
    assert not (tmp_path / "logs").exists(), "a service was started (its log opened) before the bind failed"


@pytest.mark.parametrize(("host", "vulnerable", "says"), [
    ("127.0.0.1", {"portal": ["no_lockout"], "axis": ["no_such_weakness"]},
     r"^unknown weakness\(es\) 'no_such_weakness' for the axis mock; known weaknesses: .*lossy_axis"),
    ("0.0.0.0", {"portal": ["no_lockout"]},
     r"^planted weaknesses are refused unless the mocks bind to loopback, and the host is '0\.0\.0\.0'; "),
], ids=["unknown-weakness", "off-loopback"])
def test_a_weakness_the_services_would_refuse_starts_nothing(tmp_path, host, vulnerable, says):
    """What each service's settings refuse is refused before the first one starts (a drill's
    target_weaknesses come here unchecked by the command line)."""
    cluster = MockCluster(MockClusterConfig(host=host, vulnerable=vulnerable, data_dir=tmp_path / "data",
                                            log_dir=tmp_path / "logs"))
    with pytest.raises(UsageError, match=says):
        cluster.start(timeout_s=DEADLINE_S)
    assert cluster.services == {} and not (tmp_path / "logs").exists()


@pytest.mark.e2e
def test_a_cluster_shares_its_admin_token_routes_the_portal_and_stops_every_service(tmp_path):
    config = MockClusterConfig(data_dir=tmp_path / "data", population_size=int(SMALL_POPULATION), log_dir=tmp_path / "logs",
                               portal_population_via=lambda url: url.replace("127.0.0.1", "localhost"))
    with MockCluster(config) as cluster:
        urls = cluster.urls
        assert set(urls) == set(SERVICE_ORDER)
        assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", url) for url in urls.values()), urls
        portal_argv = cluster.services["portal"].argv
        population_url = portal_argv[portal_argv.index("--population-url") + 1]
        assert population_url == urls["population"].replace("127.0.0.1", "localhost")
        assert "--population-url" not in cluster.services["axis"].argv
        for name, url in urls.items():
            token = {"Authorization": f"Bearer {config.admin_token}"}
            assert httpx.get(f"{url}/admin/ledger", headers=token, timeout=10).status_code == 200, name
            wrong = httpx.get(f"{url}/admin/ledger", headers={"Authorization": "Bearer not-it"}, timeout=10)
            assert wrong.status_code in (401, 403), name
            assert (tmp_path / "logs" / f"{name}.log").is_file()
        pids = {name: service.pid for name, service in cluster.services.items()}
    assert cluster.services == {}
    assert all(pid is not None for pid in pids.values())
    assert _processes_mentioning(str(tmp_path)) == [], f"still running after close: {pids}"
    assert all(_refused(url) for url in urls.values())


def _mocks(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dientap.cli", "mocks", "--ports", "0,0,0", "--data-dir", str(tmp_path / "data"),
         "--population-size", SMALL_POPULATION, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )


@pytest.mark.e2e
def test_dientap_mocks_stops_by_itself_after_its_duration(tmp_path):
    proc = _mocks(tmp_path, "--duration", "1", "--admin-token", "t0ken")
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == ExitCode.OK, err[-2000:]
    lines = out.splitlines()
    assert lines[0] == f"starting the embedded mocks (population {int(SMALL_POPULATION):,} citizens)..."
    urls = dict(re.findall(r"^(population|axis|portal) +(http://127\.0\.0\.1:\d+)$", out, flags=re.MULTILINE))
    assert list(urls) == list(SERVICE_ORDER)
    assert "admin token t0ken" in lines and f"logs        {tmp_path / 'data' / 'logs'}" in lines
    assert lines[-2:] == ["Ctrl-C to stop.", "mocks stopped."]
    assert sorted(p.name for p in (tmp_path / "data" / "logs").iterdir()) == ["axis.log", "population.log", "portal.log"]
    assert all(_refused(url) for url in urls.values())


def _blocked_in(pid: int, kernel_function: str) -> bool:
    """True while the process's main thread waits in the kernel function named (``/proc/PID/wchan``)."""
    try:
        return kernel_function in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def _wait_for(condition, what: str) -> None:  # noqa: ANN001 - a no-argument predicate
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S:.0f} s: {what}"
        time.sleep(0.02)


@pytest.mark.e2e
def test_dientap_mocks_exits_0_on_sigterm_once_it_serves(tmp_path):
    proc = _mocks(tmp_path, "--duration", "300")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        printed = ""
        while not printed.endswith("Ctrl-C to stop.\n"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            printed += line
        urls = re.findall(r"http://127\.0\.0\.1:\d+", printed)
        assert len(urls) == 3 and not any(_refused(url) for url in urls)
        # Signal once it waits for the stop (sleeping); the test below signals while it
        # still prints the URLs.
        _wait_for(lambda: _blocked_in(proc.pid, "nanosleep"), "dientap mocks waiting for Ctrl-C")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(DEADLINE_S)
    assert proc.returncode == ExitCode.OK, err[-2000:]
    assert out.rstrip().endswith("mocks stopped.")
    assert _processes_mentioning(str(tmp_path / "data")) == []
    assert all(_refused(url) for url in urls)


@pytest.mark.e2e
def test_a_stop_while_the_urls_are_printed_is_still_the_normal_stop(tmp_path):
    import fcntl

    ports = _free_ports(3)
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    starting = f"starting the embedded mocks (population {int(SMALL_POPULATION):,} citizens)...\n".encode()
    # Fill the pipe so that the first line fits exactly: the command then blocks writing the
    # URLs — after its services serve, inside the window — until this test reads.
    os.write(write_end, b"#" * (fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) - len(starting)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dientap.cli", "mocks", "--ports", ",".join(map(str, ports)), "--data-dir",
         str(tmp_path / "data"), "--population-size", SMALL_POPULATION, "--duration", "300"],
        stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    os.close(write_end)
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        _wait_for(lambda: not any(_refused(url) for url in urls) and _blocked_in(proc.pid, "pipe_write"),
                  "the services serving while dientap mocks prints their URLs")
        proc.send_signal(signal.SIGTERM)
        out = b""
        while chunk := os.read(read_end, 65536):
            out += chunk
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(DEADLINE_S)
    finally:
        os.close(read_end)
        if proc.poll() is None:
            proc.kill()
            proc.wait(DEADLINE_S)
    assert _processes_mentioning(str(tmp_path / "data")) == []
    assert proc.returncode == ExitCode.OK, err[-2000:]
    assert out.decode().endswith("mocks stopped.\n")
