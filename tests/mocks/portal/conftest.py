"""Fixtures that run the real portal and population mocks as uvicorn processes on
free loopback ports (``python -m mocks serve ...``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess  # nosec B404 - tests start our own services
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.synthetic import Citizen, citizen_at

ADMIN_TOKEN = "portal-test-admin"
SEED = 42
POPULATION_SIZE = 3000


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    """One running mock service."""

    name: str
    port: int
    data_dir: Path
    args: list[str]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {**os.environ, "DIENTAP_ADMIN_TOKEN": ADMIN_TOKEN}
        log = open(self.data_dir.parent / f"{self.name}-{self.port}.log", "ab")  # noqa: SIM115 - closed by the OS
        self.proc = subprocess.Popen(  # nosec B603 - fixed argv
            [sys.executable, "-m", "mocks", "serve", self.name, "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--seed", str(SEED), *self.args],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not become healthy: {self.log_text()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        path = self.data_dir.parent / f"{self.name}-{self.port}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def portal_process(tmp: Path, population_url: str | None, *extra: str, **settings: object) -> ServiceProcess:
    """A (not yet started) portal with fast test settings."""
    values = {"lockout_threshold": 3, "lockout_seconds": 60, "payment_callback_delay_s": 0.1,
              "upstream_timeout_s": 1.0, **settings}  # fmt: skip
    args = ["--settings-json", json.dumps(values), *extra]
    if population_url:
        args += ["--population-url", population_url]
    return ServiceProcess("portal", free_port(), tmp / "portal", args)


@pytest.fixture(scope="session")
def population(tmp_path_factory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("population")
    svc = ServiceProcess(
        "population", free_port(), tmp / "data",
        ["--population-size", str(POPULATION_SIZE), "--settings-json", json.dumps({"rate_limit_per_s": 5000})],
    ).start()  # fmt: skip
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def portal(tmp_path_factory, population) -> Iterator[ServiceProcess]:
    svc = portal_process(tmp_path_factory.mktemp("portal"), population.url).start()
    yield svc
    svc.stop()


@pytest.fixture()
def client(portal) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=5) as c:
        yield c


# --- helpers -------------------------------------------------------------------------

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def citizen(index: int) -> Citizen:
    """Synthetic citizen ``index`` of the population the population mock seeded."""
    return citizen_at(SEED, index)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def login_citizen(client: httpx.Client, person: Citizen) -> str:
    r = client.post("/auth/token", json={"kind": "citizen", "personal_id": person.personal_id,
                                         "password": derive_password(DEFAULT_DRY_RUN_SECRET, person.personal_id)})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def login_officer(client: httpx.Client, commune: str, number: int = 1) -> str:
    account = f"{commune}.officer{number}"
    r = client.post("/auth/token", json={"kind": "officer", "account": account,
                                         "password": derive_password(DEFAULT_DRY_RUN_SECRET, account)})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def dossier_body(person: Citizen, procedure_code: str, **overrides: object) -> dict:
    body = {
        "procedure_code": procedure_code,
        "commune_code": person.commune_code,
        "channel": 2,
        "applicant": {"personal_id": person.personal_id, "full_name": person.full_name,
                      "date_of_birth": person.date_of_birth.isoformat()},
        "fields": {"reason": "Đăng ký cho con"},
    }  # fmt: skip
    body.update(overrides)
    return body


def ledger(client: httpx.Client) -> dict:
    r = client.get("/admin/ledger", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()
