"""The portal's go-live-night operations over real HTTP: the old tier from the readiness
profile, the one-way switch, the batched migration refusing to run while the tier is open,
bad admin input answered 4xx naming the field, and a closed unit naming its successors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drills.backends.golive_night import accepted_at
from kernel.districts import district_tier, landing_commune
from kernel.national.dvcqg import SHARE_PATH
from kernel.roster import load_roster
from mocks.portal.catalogue import catalogue_of

from .conftest import (
    ADMIN,
    ServiceProcess,
    bearer,
    citizen,
    dossier_body,
    login_citizen,
    login_officer,
    portal_process,
)

pytestmark = pytest.mark.e2e

OLD_TIER = Path(__file__).parents[3] / "drills" / "catalog" / "readiness" / "old-tier.yaml"
TIER, MIGRATE = "/admin/district-tier", "/admin/migrations/district-tier"


@pytest.fixture(scope="module")
def old_tier_portal(tmp_path_factory, population) -> Iterator[httpx.Client]:
    svc: ServiceProcess = portal_process(tmp_path_factory.mktemp("old-tier"), population.url,
                                         "--readiness", str(OLD_TIER)).start()
    try:
        with httpx.Client(base_url=svc.url, timeout=5) as client:
            yield client
    finally:
        svc.stop()


def test_the_cut_over_on_the_portal_end_to_end(old_tier_portal: httpx.Client) -> None:
    client = old_tier_portal
    district = district_tier().districts[0]
    procedure = next(p.code for p in catalogue_of(district.province_code) if p.fee_vnd == 0)
    assert client.get(TIER, headers=ADMIN).json() == {"status": "open", "closed_at": None}
    codes = []
    for i in range(3):  # the old tier receives
        person = citizen(i)
        token = login_citizen(client, person)
        reply = client.post("/dossiers", json=dossier_body(person, procedure, commune_code=district.unit_code),
                            headers={**bearer(token), "Idempotency-Key": f"old-tier-{i}"})
        assert reply.status_code == 201, reply.text
        codes.append((reply.json()["code"], token))
    assert all(code.startswith(f"{district.unit_code}-") for code, _ in codes)
    # The integration-adapter face reads a dossier filed at a district unit, naming the unit.
    found = client.post(SHARE_PATH, headers={"dstcode": "000.00.00.G22"}, json={
        "session": codes[0][1], "madonvi": load_roster().commune(citizen(0).commune_code).agency_code,
        "service": "TraCuuHoSo", "mahoso": codes[0][0]})  # fmt: skip
    assert found.status_code == 200, found.text
    assert found.json()["result"][0]["DonViXuLy"].startswith(f"Cấp huyện số {district.number:02d} (")
    refused = client.post(MIGRATE, json={"batch_size": 2}, headers=ADMIN)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "district_tier_open"
    closed = client.post(TIER, json={"status": "closed"}, headers=ADMIN)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert client.post(TIER, json={"status": "closed"}, headers=ADMIN).json() == closed.json()  # idempotent
    for bad, field in (({"status": "open"}, "status"), ({}, "status")):
        reply = client.post(TIER, json=bad, headers=ADMIN)
        assert reply.status_code == 422 and reply.json()["error"]["field"] == field, reply.text
    for bad in ({"batch_size": 0}, {"batch_size": 1001}, {"batch_size": "x"}):
        reply = client.post(MIGRATE, json=bad, headers=ADMIN)
        assert reply.status_code == 422 and reply.json()["error"]["field"] == "batch_size", reply.text
    assert client.post(MIGRATE, json={"batch_size": 2}, headers={"authorization": "Bearer nope"}).status_code == 401
    # A unit closed: a new dossier is refused naming the successors.
    person = citizen(9)
    late = client.post("/dossiers", json=dossier_body(person, procedure, commune_code=district.unit_code),
                       headers={**bearer(login_citizen(client, person)), "Idempotency-Key": "late"})
    assert late.status_code == 422 and late.json()["error"]["code"] == "district_closed"
    assert late.json()["error"]["successors"] == list(district.successors)
    # Two batches move the three, a third moves nothing; the owners still read their dossiers.
    first = client.post(MIGRATE, json={"batch_size": 2}, headers=ADMIN).json()
    second = client.post(MIGRATE, json={"batch_size": 2}, headers=ADMIN).json()
    assert (len(first["moved"]), first["remaining"], len(second["moved"]), second["remaining"]) == (2, 1, 1, 0)
    assert client.post(MIGRATE, json={"batch_size": 2}, headers=ADMIN).json() == {"batch": None, "moved": [],
                                                                                  "remaining": 0}
    journal = client.get(MIGRATE, headers=ADMIN).json()
    assert journal["migrated"] == 3 and [b["moved"] for b in journal["batches"]] == [2, 1]
    url = str(client.base_url).rstrip("/")
    for code, owner in codes:
        landing = landing_commune(code, district.successors)
        mine = client.get(f"/dossiers/{code}", headers=bearer(owner))
        assert mine.status_code == 200 and mine.json()["commune_code"] == landing
        token = login_officer(client, landing)
        officer = bearer(token)
        assert code in [item["code"] for item in client.get("/dossiers", headers=officer).json()["items"]]
        # What the drill asks when its accept meets a 409: did this commune accept it after it landed?
        assert not accepted_at(client, url, token, code, landing)
        worked = client.post(f"/dossiers/{code}/transitions", json={"to": 2}, headers=officer)
        assert worked.status_code == 200, worked.text
        assert accepted_at(client, url, token, code, landing)
        assert not accepted_at(client, url, token, code, "00004")  # not the commune it landed at
