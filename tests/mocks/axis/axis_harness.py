"""Test harness of the document-axis e2e tests: start/stop a real server, build packages."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess  # nosec B404 - starts the service under test
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.edxml import DocumentEnvelope, build_package, make_document_id
from kernel.pki import AgencyCredential, DryRunCA

_ROOT = str(Path(__file__).resolve().parents[3])
ADMIN_TOKEN = "axis-test-admin"  # nosec B105 - test fixture


def free_port() -> int:
    """A free loopback port (bound to 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AxisServer:
    """A running axis mock in a subprocess, and what a client needs to talk to it."""

    url: str
    data_dir: Path
    ca: DryRunCA
    process: subprocess.Popen

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def token(self, client: httpx.Client, agency: str) -> dict[str, str]:
        r = client.post("/auth/token", json={"agency_code": agency,
                                             "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, agency)})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def start_axis(tmp: Path, **settings: object) -> AxisServer:
    """Start ``python -m mocks serve axis`` on a free loopback port and wait for /healthz.

    ``settings`` are extra :class:`~mocks.core.settings.ServiceSettings` fields.
    """
    port = free_port()
    ca = DryRunCA.load_or_create(tmp / "pki")  # same directory as the server: same CA
    command = [sys.executable, "-m", "mocks", "serve", "axis", "--port", str(port), "--data-dir", str(tmp),
               "--settings-json", json.dumps(settings, default=list)]
    env = {**os.environ, "DIENTAP_ADMIN_TOKEN": ADMIN_TOKEN}
    log = (tmp / "axis.log").open("ab")  # a file, not a pipe: a chatty server never blocks
    process = subprocess.Popen(command, cwd=_ROOT, env=env, stdout=log, stderr=log)  # nosec B603
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"axis exited: {(tmp / 'axis.log').read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return AxisServer(url, tmp, ca, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_axis(process)
    raise RuntimeError("axis did not become healthy within 20 s")


def stop_axis(process: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_axis` (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def envelope(sender: str, recipients: list[str], *, number: str | None = None, subject: str = "Về việc diễn tập",
             priority: int = 0) -> DocumentEnvelope:
    """A valid envelope dated today, with a fresh document number unless ``number`` is given."""
    today = dt.datetime.now(dt.UTC).date()
    n = str(number) if number is not None else uuid.uuid4().hex[:16]
    return DocumentEnvelope(
        message_id=make_document_id(sender, today, n, "UBND-VP"),
        sender_code=sender,
        sender_name="Ủy ban nhân dân",
        recipients=recipients,
        code_number=str(n),
        code_notation="UBND-VP",
        promulgation_place="Hà Nội",
        promulgation_date=today,
        document_type="Công văn",
        subject=subject,
        priority=priority,
    )


def package(ca: DryRunCA, env: DocumentEnvelope, credential: AgencyCredential | None = None, *,
            timestamp: dt.datetime | None = None) -> bytes:
    """``env`` signed by the sender's credential from ``ca`` (or by ``credential``), its
    trace header stamped ``timestamp`` (default: now)."""
    return build_package(env, credential or ca.issue(env.sender_code), timestamp=timestamp)


XML = {"Content-Type": "application/xml"}
