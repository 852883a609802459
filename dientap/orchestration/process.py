"""One supervised service process serving on a socket the supervisor owns.

The supervisor binds the listening socket and passes it to the child (``--fd``). It keeps
its own copy, so the port never changes across a crash and restart, and connections that
arrive while the service is down wait in the kernel's backlog instead of being refused —
what a load balancer in front of a restarting service looks like.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import ssl
import subprocess  # we start our own mock services, with argument lists  # nosec B404
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import httpx

from kernel.errors import ServiceStartError
from kernel.stopping import CHILD_GRACE_S, CHILDREN, stop_processes

__all__ = ["ServiceProcess", "listening_socket", "child_process_options", "wait_until_ready"]


def wait_until_ready(
    name: str,
    url: str,
    proc: subprocess.Popen | None,
    timeout_s: float,
    *,
    log_hint: str | None = None,
    interval_s: float = 0.1,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Poll ``url`` until it answers 200 (bounded by ``timeout_s``).

    Raises :class:`ServiceStartError` when ``proc`` exits first or time runs out, saying
    what the last answer was and where the log is.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(timeout=2.0, verify=verify) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                hint = f"; {log_hint}" if log_hint else ""
                raise ServiceStartError(f"{name} exited with code {proc.returncode} while starting{hint}")
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(interval_s)
    raise ServiceStartError(f"{name} not ready at {url} after {timeout_s:.0f} s ({last})")


def _resolve_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:  # not glibc Linux: children then rely on the supervisor's orderly stop
        return None


# Resolved once in the parent: the child runs between fork and exec, where an import (which
# takes the import lock another thread may have held at fork time) could deadlock.
_PRCTL = _resolve_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM this child when its parent dies, so no mock or Locust process
    outlives a crashed supervisor (they run in sessions of their own)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_process_options() -> dict:
    """Popen options for supervised children: a session of their own (a terminal's Ctrl-C
    reaches only the supervisor, which then stops everything in order) and death with
    the parent."""
    return {"start_new_session": True, "preexec_fn": _die_with_parent}


def listening_socket(host: str = "127.0.0.1", port: int = 0, backlog: int = 4096) -> socket.socket:
    """A bound, listening, inheritable TCP socket (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class ServiceProcess:
    """A child process serving HTTP on an inherited socket, with health checks and signals."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self.name = name
        self.tls = tls  # a client context trusting the service's certificate: it serves https
        self.sock = listening_socket(host, port)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.argv = list(argv)  # the child gets "--fd N" appended at start
        self._env = {**os.environ, **(env or {})}
        self._log_path = log_path
        self._log: BinaryIO | None = None
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first start)."""
        return self.proc.pid if self.proc is not None else None

    @property
    def url(self) -> str:
        """Base URL of the service."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls is not None else 'http'}://{host}:{self.port}"

    def start(self) -> None:
        """Start the child (does not wait for health)."""
        if self._log_path is not None and self._log is None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self._log_path, "ab")  # noqa: SIM115 - held for the process lifetime
        self.proc = subprocess.Popen(  # fixed argv of our own interpreter and module  # nosec B603
            [*self.argv, "--fd", str(self.sock.fileno())],
            pass_fds=(self.sock.fileno(),),
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=self._log or subprocess.DEVNULL,
            **child_process_options(),
        )
        CHILDREN.add(self.proc)

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        """Poll ``/healthz`` until it answers 200; raise :class:`ServiceStartError` otherwise."""
        wait_until_ready(self.name, f"{self.url}/healthz", self.proc, timeout_s,
                         log_hint=f"see {self._log_path}" if self._log_path else None, interval_s=0.05,
                         verify=self.tls if self.tls is not None else True)

    def signal(self, sig: int) -> None:
        """Send a signal (SIGKILL to crash, SIGSTOP/SIGCONT to freeze and thaw)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the child and reap it (a crash: no shutdown hooks run)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, timeout_s: float = 60.0) -> None:
        """Start again on the same socket and wait until healthy."""
        self.kill()
        self.restarts += 1
        self.start()
        self.wait_healthy(timeout_s)

    def stop(self, timeout_s: float = CHILD_GRACE_S) -> None:
        """SIGTERM (graceful; SIGCONT first, for a frozen process), then SIGKILL after ``timeout_s``."""
        if self.proc is not None:
            stop_processes([self.proc], timeout_s)

    def close(self) -> None:
        """Stop the child and release the socket and log."""
        self.stop()
        self.sock.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def python_module_argv(module: str, *args: str) -> list[str]:
    """``[sys.executable, -m, module, *args]`` — the same interpreter as the supervisor."""
    return [sys.executable, "-m", module, *args]
