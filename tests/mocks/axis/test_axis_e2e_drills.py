"""End-to-end tests of what drills rely on: planted weaknesses, readiness, crash safety."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axis_harness import ADMIN_TOKEN, XML, AxisServer, envelope, package, start_axis, stop_axis

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.roster import load_roster
from mocks.axis.app import DEFAULT_LOSSY_ONE_IN

pytestmark = pytest.mark.e2e

HANOI = "000.00.00.H26"
COMMUNES = [c.agency_code for c in load_roster().communes_of("01")]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def vulnerable_axis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AxisServer]:
    server = start_axis(
        tmp_path_factory.mktemp("axis-vuln"),
        vulnerable=["axis_bola", "signature_not_verified", "xxe_enabled", "lossy_axis"],
    )
    yield server
    stop_axis(server.process)


def _dropped(message_id: str) -> bool:
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % DEFAULT_LOSSY_ONE_IN == 0


def test_axis_bola_lets_a_stranger_read(vulnerable_axis: AxisServer):
    ax = vulnerable_axis
    with ax.client() as c:
        env = envelope(COMMUNES[0], [COMMUNES[1]])
        while _dropped(env.message_id):  # keep this test independent of the lossy defect
            env = envelope(COMMUNES[0], [COMMUNES[1]])
        doc = c.post("/documents", content=package(ax.ca, env), headers={**ax.token(c, COMMUNES[0]), **XML}).json()
        r = c.get(f"/documents/{doc['document_id']}", headers=ax.token(c, COMMUNES[2]))
        assert r.status_code == 200 and r.json()["sender_code"] == COMMUNES[0]


def test_signature_not_verified_accepts_a_forgery(vulnerable_axis: AxisServer):
    ax = vulnerable_axis
    with ax.client() as c:
        env = envelope(COMMUNES[3], [HANOI], subject="Original subject")
        while _dropped(env.message_id):
            env = envelope(COMMUNES[3], [HANOI], subject="Original subject")
        forged = package(ax.ca, env).replace(b"Original subject", b"Forged   subject")
        r = c.post("/documents", content=forged, headers={**ax.token(c, COMMUNES[3]), **XML})
        assert r.status_code == 201, r.text


def test_xxe_enabled_expands_external_entities(vulnerable_axis: AxisServer, tmp_path: Path):
    ax = vulnerable_axis
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    sender, recipient = COMMUNES[4], COMMUNES[5]
    with ax.client() as c:
        env = envelope(sender, [recipient], subject="PLACEHOLDER")
        while _dropped(env.message_id):
            env = envelope(sender, [recipient], subject="PLACEHOLDER")
        pkg = package(ax.ca, env)
        declaration, rest = pkg.split(b"?>", 1)
        doctype = f'<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
        hostile = declaration + b"?>" + doctype + rest.replace(b"PLACEHOLDER", b"&xxe;")
        r = c.post("/documents", content=hostile, headers={**ax.token(c, sender), **XML})
        assert r.status_code == 201, r.text
        inbox = c.get("/inbox", headers=ax.token(c, recipient)).json()["deliveries"]
        assert [d["subject"] for d in inbox] == ["TOP-SECRET-42"]


def test_lossy_axis_acknowledges_but_drops_a_deterministic_share(vulnerable_axis: AxisServer):
    ax = vulnerable_axis
    sender = COMMUNES[6]
    with ax.client() as c:
        h = {**ax.token(c, sender), **XML}
        lost = envelope(sender, [HANOI])
        while not _dropped(lost.message_id):
            lost = envelope(sender, [HANOI])
        kept = envelope(sender, [HANOI])
        while _dropped(kept.message_id):
            kept = envelope(sender, [HANOI])
        r_lost = c.post("/documents", content=package(ax.ca, lost), headers=h)
        r_kept = c.post("/documents", content=package(ax.ca, kept), headers=h)
        assert r_lost.status_code == r_kept.status_code == 201
        ledger = set(c.get("/admin/ledger", headers=ADMIN).json()["ids"]["documents"])
        assert r_kept.json()["document_id"] in ledger
        assert r_lost.json()["document_id"] not in ledger
        assert c.get(f"/documents/{r_lost.json()['document_id']}", headers=h).status_code == 404


def test_weaknesses_are_off_by_default(tmp_path: Path):
    ax = start_axis(tmp_path)
    try:
        with ax.client() as c:
            pkg = package(ax.ca, envelope(COMMUNES[0], [HANOI], subject="Original subject"))
            forged = pkg.replace(b"Original subject", b"Forged   subject")
            r = c.post("/documents", content=forged, headers={**ax.token(c, COMMUNES[0]), **XML})
            assert r.status_code == 422 and r.json()["error"]["code"] == "bad_signature"
    finally:
        stop_axis(ax.process)


def test_unready_province_answers_503_with_retry_after(tmp_path: Path):
    profile = tmp_path / "readiness.yaml"
    profile.write_text('provinces:\n  "01": {axis_connected: false}\n', encoding="utf-8")
    ax = start_axis(tmp_path / "data", readiness_file=str(profile))
    other_province = load_roster().provinces[1].agency_code
    try:
        with ax.client() as c:
            r = c.post("/auth/token", json={"agency_code": HANOI,
                                            "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, HANOI)})
            assert r.status_code == 503 and r.headers["Retry-After"] == "30"
            assert r.json()["error"]["code"] == "province_not_connected"
            # Documents *to* an unconnected province are still accepted and queued.
            h = {**ax.token(c, other_province), **XML}
            sent = c.post("/documents", content=package(ax.ca, envelope(other_province, [HANOI])), headers=h)
            assert sent.status_code == 201
    finally:
        stop_axis(ax.process)


def test_every_acknowledged_document_survives_sigkill(tmp_path: Path):
    ax = start_axis(tmp_path)
    acknowledged: list[str] = []
    sender = COMMUNES[7]
    envelopes = [envelope(sender, [HANOI, COMMUNES[8]]) for _ in range(400)]
    packages = [package(ax.ca, e) for e in envelopes]
    with ax.client() as c:
        h = {**ax.token(c, sender), **XML}

    def send_until_killed() -> None:
        with httpx.Client(base_url=ax.url, timeout=5) as client:
            for pkg in packages:
                try:
                    r = client.post("/documents", content=pkg, headers=h)
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acknowledged.append(r.json()["document_id"])

    senders = [threading.Thread(target=send_until_killed) for _ in range(2)]
    for t in senders:
        t.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    ax.process.send_signal(signal.SIGKILL)
    ax.process.wait()
    for t in senders:
        t.join()
    assert len(acknowledged) >= 40
    restarted = start_axis(tmp_path)
    try:
        with restarted.client() as c:
            ledger = set(c.get("/admin/ledger", headers=ADMIN).json()["ids"]["documents"])
            missing = [d for d in acknowledged if d not in ledger]
            assert missing == []
            hr = restarted.token(c, COMMUNES[8])
            pulled: set[str] = set()
            cursor = 0
            while True:
                page = c.get("/inbox", params={"cursor": cursor, "limit": 100}, headers=hr).json()
                if not page["deliveries"]:
                    break
                pulled |= {d["document_id"] for d in page["deliveries"]}
                cursor = page["next_cursor"]
            assert set(acknowledged) <= pulled
    finally:
        stop_axis(restarted.process)
