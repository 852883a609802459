"""Fixtures of the population mock tests: a real service process on a loopback socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kernel.credentials import derive_password

ROOT = Path(__file__).resolve().parents[3]  # the services run from the project root

ADMIN_TOKEN = "population-admin-test-token"  # nosec B105 - test fixture value
SECRET = "population-test-secret"  # nosec B105 - test fixture value
SEED = 11
SIZE = 2_000


@dataclass
class PopulationServer:
    """A running population mock and helpers to talk to it."""

    url: str
    process: subprocess.Popen[bytes]
    seed: int
    size: int
    log: Path  # the service's stderr

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)

    def token_response(self, http: httpx.Client, client_id: str) -> httpx.Response:
        return http.post(
            "/auth/token",
            json={"client_id": client_id, "client_secret": derive_password(SECRET, client_id)},
        )

    def token(self, http: httpx.Client, client_id: str) -> str:
        response = self.token_response(http, client_id)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def auth(self, http: httpx.Client, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(http, client_id)}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


UNREADY_PROVINCE = "11"


def unready_readiness(root: Path, province: str = UNREADY_PROVINCE) -> Path:
    """A readiness file (``--readiness``) in ``root`` under which ``province`` is not yet
    connected to the population database: its callers get 503 with Retry-After."""
    readiness = root / "readiness.yaml"
    readiness.write_text(f'provinces:\n  "{province}": {{population_connected: false}}\n', encoding="utf-8")
    return readiness


@contextmanager
def population_server(
    data_dir: Path,
    *,
    seed: int = SEED,
    size: int = SIZE,
    vulnerable: tuple[str, ...] = (),
    readiness: Path | None = None,
    settings: dict[str, object] | None = None,
) -> Iterator[PopulationServer]:
    """Start ``python -m mocks serve population`` on an inherited loopback socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "mocks", "serve", "population",
        "--fd", str(sock.fileno()),
        "--data-dir", str(data_dir),
        "--seed", str(seed),
        "--population-size", str(size),
    ]
    if vulnerable:
        command += ["--vulnerable", ",".join(vulnerable)]
    if readiness is not None:
        command += ["--readiness", str(readiness)]
    if settings:
        command += ["--settings-json", json.dumps(settings)]
    env = {**os.environ, "DIENTAP_ADMIN_TOKEN": ADMIN_TOKEN, "DIENTAP_DRY_RUN_SECRET": SECRET}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"service-{port}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # nosec B603 - fixed argv, our own interpreter
            command, cwd=ROOT, env=env, pass_fds=(sock.fileno(),),
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    sock.close()
    server = PopulationServer(f"http://127.0.0.1:{port}", process, seed, size, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)


def _wait_healthy(server: PopulationServer, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with server.client() as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                err = server.log.read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(f"population mock exited with {server.process.returncode}:\n{err}")
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError("population mock did not become healthy in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PopulationServer]:
    """A population mock with default settings (small population, admin API on)."""
    with population_server(tmp_path_factory.mktemp("population")) as server:
        yield server


@pytest.fixture(scope="session")
def start_population():
    """The :func:`population_server` context manager, for tests that need their own settings."""
    return population_server


@pytest.fixture(scope="session")
def dry_run_secret() -> str:
    """The dry-run secret the test services run with (client secrets derive from it)."""
    return SECRET


@pytest.fixture(scope="module")
def http(population: PopulationServer) -> Iterator[httpx.Client]:
    """A client of the module's default population server."""
    with population.client() as client:
        yield client
