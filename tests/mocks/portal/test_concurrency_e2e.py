"""The portal under concurrency and crash, over real HTTP against real processes: racing
duplicates store once, racing status moves stay legal, a submission in flight across the
district-tier cut-over is not stranded, and acknowledged writes of both faces (the tier's
closing included) survive a SIGKILL.

Races are made reliable, not hoped for: a population stub that holds the identity check
until the test releases it, or an injected latency fault that holds every racer after its
read; the assertions are on counts and states only."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.districts import district_tier
from kernel.national.dvcqg import INTEGRATION_PATH, ErrorCode
from mocks.portal.catalogue import catalogue_of
from tests.support import all_at_once

from .conftest import ADMIN, ServiceProcess, bearer, citizen, dossier_body, ledger, login_citizen, login_officer
from .conftest import portal_process as _portal_process
from .test_dvcqg_face import DST, item, session_of, unit_of

pytestmark = pytest.mark.e2e

OLD_TIER = Path(__file__).parents[3] / "drills" / "catalog" / "readiness" / "old-tier.yaml"
TIER, MIGRATE = "/admin/district-tier", "/admin/migrations/district-tier"


def _restart(svc: ServiceProcess) -> ServiceProcess:
    """SIGKILL ``svc`` (nothing flushed, nothing closed) and start it again on its data."""
    assert svc.proc is not None
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait()
    return ServiceProcess(svc.name, svc.port, svc.data_dir, svc.args).start()


# --- duplicates and racing moves ----------------------------------------------------------


def test_racing_duplicates_on_both_faces_store_once_and_answer_alike(client):
    person = citizen(70)
    token = login_citizen(client, person)
    free = next(p.code for p in catalogue_of(person.province_code) if p.fee_vnd == 0)
    before = len(ledger(client)["ids"]["dossiers"])
    native = all_at_once([lambda: client.post("/dossiers", json=dossier_body(person, free),
                                               headers={**bearer(token), "Idempotency-Key": "race-70"})] * 16)
    assert Counter(r.status_code for r in native) == {201: 16}
    assert len({r.content for r in native}) == 1  # the stored answer, byte for byte
    session = session_of(client, person.personal_id)
    body = {"session": session, "madonvi": unit_of(person.commune_code), "service": "DongBoHoSoMC",
            "isUpdating": False, "data": [item(person, "H-RACE-0070")]}
    synced = all_at_once([lambda: client.post(INTEGRATION_PATH, json=body, headers=DST)] * 16)
    assert Counter((r.status_code, r.json()["error_code"]) for r in synced) == {
        (200, 0): 1, (409, int(ErrorCode.DOSSIER_EXISTS)): 15}
    assert len(ledger(client)["ids"]["dossiers"]) == before + 2


def test_racing_payments_of_one_dossier_charge_it_once(client):
    person = citizen(71)
    token = login_citizen(client, person)
    fee = next(p.code for p in catalogue_of(person.province_code) if p.fee_vnd > 0)
    officer = login_officer(client, person.commune_code)
    codes = []
    for key in ("pay-71-a", "pay-71-b"):
        code = client.post("/dossiers", json=dossier_body(person, fee),
                           headers={**bearer(token), "Idempotency-Key": key}).json()["code"]
        for to in (2, 4, 6):
            assert client.post(f"/dossiers/{code}/transitions", json={"to": to}, headers=bearer(officer)).is_success
        codes.append(code)
    same_key = all_at_once([lambda: client.post(f"/dossiers/{codes[0]}/payments",
                                                 headers={**bearer(token), "Idempotency-Key": "p"})] * 12)
    assert Counter(r.status_code for r in same_key) == {201: 12} and len({r.content for r in same_key}) == 1
    other_keys = all_at_once([lambda k=k: client.post(f"/dossiers/{codes[1]}/payments",
                                                       headers={**bearer(token), "Idempotency-Key": f"p{k}"})
                               for k in range(12)])
    assert Counter(r.status_code for r in other_keys) == {201: 1, 409: 11}
    assert {r.json()["error"]["code"] for r in other_keys if r.status_code == 409} == {"payment_pending"}


def test_racing_officers_leave_one_legal_move_in_the_history(client):
    person = citizen(72)
    token = login_citizen(client, person)
    free = next(p.code for p in catalogue_of(person.province_code) if p.fee_vnd == 0)
    code = client.post("/dossiers", json=dossier_body(person, free),
                       headers={**bearer(token), "Idempotency-Key": "moves-72"}).json()["code"]
    officers = [bearer(login_officer(client, person.commune_code, n)) for n in (1, 2)]
    moves = all_at_once([lambda n=n: client.post(f"/dossiers/{code}/transitions",
                                                  json={"to": 2 + n % 2}, headers=officers[n % 2])
                          for n in range(12)])
    assert Counter(r.status_code for r in moves) == {200: 1, 409: 11}
    history = client.get(f"/dossiers/{code}", headers=bearer(token)).json()["history"]
    assert [(h["from"], h["to"]) for h in history] == [(None, 1), (1, moves[[r.status_code for r in moves].index(200)]
                                                                   .json()["status"])]


def test_racing_resends_of_a_dossier_s_status_are_no_move(client):
    """A one-stop system re-sends its whole record on every save: an update carrying the status
    the dossier has by the time it is applied is no move (error 0), even when the copies race —
    a latency fault scoped to the province holds each of them after it has read the dossier."""
    person = citizen(73)
    officer = session_of(client, f"{person.commune_code}.officer1")
    unit = unit_of(person.commune_code)
    synced = client.post(INTEGRATION_PATH, headers=DST, json={
        "session": officer, "madonvi": unit, "service": "DongBoHoSoMC", "isUpdating": False,
        "data": [item(person, "H-SAVE-0073")]})  # fmt: skip
    assert synced.status_code == 200, synced.text
    code = synced.json()["result"][0]["SoBienNhan"]
    fault = client.post("/admin/faults", headers=ADMIN, json={
        "kind": "latency", "route": INTEGRATION_PATH, "province": person.province_code,
        "latency": {"distribution": "fixed", "ms": 1500}})  # fmt: skip
    assert fault.status_code == 201, fault.text
    try:
        body = {"session": officer, "madonvi": unit, "service": "DongBoHoSoMC", "isUpdating": True,
                "data": [item(person, "H-SAVE-0073", TrangThaiHoSo="2")]}
        saves = all_at_once([lambda: client.post(INTEGRATION_PATH, json=body, headers=DST)] * 4)
    finally:
        client.delete(f"/admin/faults/{fault.json()['id']}", headers=ADMIN)
    assert [(r.status_code, r.json()["error_code"]) for r in saves] == [(200, 0)] * 4, [r.text for r in saves]
    assert {r.json()["result"][0]["TrangThaiHoSo"] for r in saves} == {"2"}
    history = client.get(f"/dossiers/{code}", headers=bearer(officer)).json()["history"]
    assert [(h["from"], h["to"]) for h in history] == [(None, 1), (1, 2)]


# --- the district-tier cut-over -------------------------------------------------------------


class _HeldPopulation:
    """A population stand-in whose identity checks wait until the test releases them."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path == "/auth/token":
                    answer: dict[str, Any] = {"access_token": "held", "token_type": "Bearer", "expires_in": 900}
                else:
                    held.arrived.set()
                    held.release.wait(30)
                    answer = {"results": [{"match": True} for _ in body["items"]]}
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held_population() -> Iterator[_HeldPopulation]:
    stub = _HeldPopulation()
    yield stub
    stub.close()


def test_a_submission_in_flight_when_the_tier_closes_is_refused_not_stranded(tmp_path, held_population):
    """Filed at a district unit while the tier was open, still awaiting its identity check when
    the cut-over closes the tier and migrates every dossier: stored then, it would sit at a
    closed unit after its migration, in no worklist. The tier is checked where it is written."""
    portal = _portal_process(tmp_path, held_population.url, "--readiness", str(OLD_TIER),
                             upstream_timeout_s=30).start()
    district = district_tier().districts[0]
    procedure = next(p.code for p in catalogue_of(district.province_code) if p.fee_vnd == 0)
    person = citizen(74)
    try:
        with httpx.Client(base_url=portal.url, timeout=40) as client, \
                concurrent.futures.ThreadPoolExecutor(1) as pool:  # fmt: skip
            token = login_citizen(client, person)
            in_flight = pool.submit(client.post, "/dossiers", headers={**bearer(token), "Idempotency-Key": "late-74"},
                                    json=dossier_body(person, procedure, commune_code=district.unit_code))
            assert held_population.arrived.wait(20), "the submission never reached its identity check"
            assert client.post(TIER, json={"status": "closed"}, headers=ADMIN).json()["status"] == "closed"
            assert client.post(MIGRATE, json={"batch_size": 10}, headers=ADMIN).json()["remaining"] == 0
            held_population.release.set()
            late = in_flight.result(timeout=30)
            assert late.status_code == 422 and late.json()["error"]["code"] == "district_closed", late.text
            assert late.json()["error"]["successors"] == list(district.successors)
            assert ledger(client)["counts"]["dossiers"] == 0
            assert client.get(MIGRATE, headers=ADMIN).json()["remaining"] == 0
    finally:
        portal.stop()


# --- crash durability -------------------------------------------------------------------------


def test_the_tier_s_closing_and_national_face_writes_survive_sigkill(tmp_path, population):
    portal = _portal_process(tmp_path, population.url, "--readiness", str(OLD_TIER)).start()
    person = citizen(75)
    district = district_tier().districts[0]
    procedure = next(p.code for p in catalogue_of(district.province_code) if p.fee_vnd == 0)
    try:
        with httpx.Client(base_url=portal.url, timeout=10) as client:
            closed = client.post(TIER, json={"status": "closed"}, headers=ADMIN)
            assert closed.status_code == 200 and closed.json()["status"] == "closed"
            officer = session_of(client, f"{person.commune_code}.officer1")
            unit = unit_of(person.commune_code)
            synced = client.post(INTEGRATION_PATH, headers=DST, json={
                "session": officer, "madonvi": unit, "service": "DongBoHoSoMC", "isUpdating": False,
                "data": [item(person, "H-CRASH-0075")]})  # fmt: skip
            assert synced.status_code == 200, synced.text
            code = synced.json()["result"][0]["SoBienNhan"]
            moved = client.post(INTEGRATION_PATH, headers=DST, json={
                "session": officer, "madonvi": unit, "service": "CapNhatTienDoHoSoMC",
                "data": [{"MaHoSo": "H-CRASH-0075", "TrangThai": "2", "NoiDungXuLy": "Tiếp nhận"}]})  # fmt: skip
            assert moved.status_code == 200, moved.text
        portal = _restart(portal)
        with httpx.Client(base_url=portal.url, timeout=10) as client:
            assert client.get(TIER, headers=ADMIN).json() == closed.json()  # not reopened by the profile
            late = client.post("/dossiers", json=dossier_body(person, procedure, commune_code=district.unit_code),
                               headers={**bearer(login_citizen(client, person)), "Idempotency-Key": "after-75"})
            assert late.status_code == 422 and late.json()["error"]["code"] == "district_closed", late.text
            officer = session_of(client, f"{person.commune_code}.officer1")
            found = client.post(INTEGRATION_PATH, headers=DST, json={
                "session": officer, "madonvi": unit, "service": "TraCuuHoSo", "mahoso": "H-CRASH-0075"})
            assert [(d["SoBienNhan"], d["TrangThaiHoSo"]) for d in found.json()["result"]] == [(code, "2")]
            again = client.post(INTEGRATION_PATH, headers=DST, json={
                "session": officer, "madonvi": unit, "service": "DongBoHoSoMC", "isUpdating": False,
                "data": [item(person, "H-CRASH-0075")]})  # the key is remembered: no second dossier
            assert again.status_code == 409 and again.json()["error_code"] == ErrorCode.DOSSIER_EXISTS
            assert ledger(client)["ids"]["dossiers"] == [code]
    finally:
        portal.stop()
