"""Launch Locust headless: one local process, or Locust's own master + N local workers.

Every process is bounded in time: Locust stops itself after ``--run-time``, and the
supervisor kills whatever is still alive a grace period later.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # we launch Locust with fixed argument lists  # nosec B404
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dientap.orchestration.process import child_process_options, listening_socket
from kernel.stopping import CHILDREN, stop_processes

__all__ = ["LocustPlan", "run_locust", "stop_locust", "locustfile_path", "LOCUST_STOP_S"]

LOCUST_STOP_S = 15.0
"""How long an interrupted Locust may take to stop its users (``stop_timeout_s``) and write
its results; with the services' 5 s after it, inside dientap's 25 s child-kill mark."""


def locustfile_path() -> Path:
    """The Locust entry file: wiring beside this module (it joins scenarios and metrics)."""
    return Path(__file__).parent / "locust_entry.py"


@dataclass
class LocustPlan:
    """How many users, how fast, for how long, on how many workers."""

    users: int
    spawn_rate: float
    run_time_s: float
    workers: int = 0  # local worker processes; 0 (and no remote ones) = one local process
    # Workers from other machines (``dientap worker``) the master waits for besides the local
    # ones, on ``master_bind``; they are handed ``locustfile`` (a served entry, see
    # dientap.orchestration.remote), which the master and local workers run too.
    remote_workers: int = 0
    master_bind: tuple[str, int] = ("127.0.0.1", 0)  # port 0: a free one (local workers only)
    locustfile: Path | None = None
    master_args: tuple[str, ...] = ()  # extra arguments of the master (or local process)
    # How long the master waits for all its workers to connect before it gives up.
    expect_workers_wait_s: float = 60.0
    # Locust's --stop-timeout: how long users may finish a task when the run ends or is
    # stopped (a shorter one cut submissions off mid-flight: acknowledged by the portal,
    # never seen by the load).
    stop_timeout_s: float = 10.0
    env: dict[str, str] | None = None
    log_dir: Path | None = None
    # Listening sockets handed to the local process or master (inherited descriptors, e.g.
    # the live board's); closed in this process once it has them, so they close with it.
    master_sockets: tuple[socket.socket, ...] = ()


def _base_args(plan: LocustPlan) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(plan.locustfile or locustfile_path()), "--headless", "--only-summary",
        "--loglevel", "WARNING",
    ]


def _free_port() -> int:
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


def stop_locust(procs: list[subprocess.Popen], timeout_s: float = LOCUST_STOP_S) -> None:
    """Ask the master (or local process) to stop gracefully — SIGTERM makes Locust quit and
    write its results, and tells its workers to quit — then stop anything still alive."""
    if not procs:
        return
    stop_processes(procs[:1], timeout_s)
    stop_processes(procs[1:], 2.0)


def _started(procs: list[subprocess.Popen], proc: subprocess.Popen) -> None:
    procs.append(proc)
    CHILDREN.add(proc)


def _hand_over(plan: LocustPlan) -> None:
    for sock in plan.master_sockets:
        sock.close()


def run_locust(plan: LocustPlan, procs: list[subprocess.Popen] | None = None) -> int:
    """Run to completion; returns the master's (or local process's) exit code.

    ``procs`` (if given) receives the started processes, so another thread can
    :func:`stop_locust` them."""
    env = {**os.environ, **(plan.env or {})}
    run_args = [
        "-u", str(plan.users), "-r", f"{plan.spawn_rate:g}", "--run-time", f"{max(1, round(plan.run_time_s))}s",
        "--stop-timeout", f"{plan.stop_timeout_s:g}",
    ]
    procs = procs if procs is not None else []
    logs = []
    try:
        handed = tuple(s.fileno() for s in plan.master_sockets)
        expected = plan.workers + plan.remote_workers
        if expected <= 0:
            local = [*_base_args(plan), *run_args]
            _started(procs, subprocess.Popen(local, env=env, pass_fds=handed, **child_process_options()))  # nosec B603
            _hand_over(plan)
        else:
            bind_host, port = plan.master_bind
            port = port or _free_port()
            master = [*_base_args(plan), *run_args, *plan.master_args, "--master", "--master-bind-host", bind_host,
                      "--master-bind-port", str(port), "--expect-workers", str(expected),
                      "--expect-workers-max-wait", f"{plan.expect_workers_wait_s:g}"]
            _started(procs, subprocess.Popen(master, env=env, pass_fds=handed, **child_process_options()))  # nosec B603
            _hand_over(plan)
            for index in range(plan.workers):
                log = None
                if plan.log_dir is not None:
                    plan.log_dir.mkdir(parents=True, exist_ok=True)
                    log = open(plan.log_dir / f"locust-worker-{index}.log", "ab")  # noqa: SIM115
                    logs.append(log)
                local_master = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host  # nosec B104 - a bind-all master is reached on loopback
                worker = [*_base_args(plan), "--worker", "--master-host", local_master, "--master-port", str(port),
                          "--expect-workers", str(expected)]
                _started(procs, subprocess.Popen(worker, env=env, stdout=log, stderr=log, **child_process_options()))  # nosec B603
        deadline = time.monotonic() + plan.expect_workers_wait_s + plan.run_time_s + plan.stop_timeout_s + 120
        master_proc = procs[0]
        while master_proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if master_proc.poll() is None:
            master_proc.send_signal(signal.SIGTERM)
            try:
                master_proc.wait(15)
            except subprocess.TimeoutExpired:
                master_proc.kill()
        for proc in procs[1:]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        return master_proc.returncode if master_proc.returncode is not None else 1
    except KeyboardInterrupt:  # only when called from the main thread
        stop_locust(procs)
        raise
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for log in logs:
            log.close()
