"""``POST /citizens/verify-batch`` over real HTTP: each item answered in order, checked
and audited exactly as ``/citizens/verify`` would, and bad batches refused whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from kernel.synthetic import citizen_at

if TYPE_CHECKING:
    from conftest import PopulationServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def portal(population: PopulationServer, http: httpx.Client) -> dict[str, str]:
    return population.auth(http, "portal")


def _item(personal_id: str, full_name: str, date_of_birth: str, purpose: str = "batch test") -> dict[str, str]:
    return {"personal_id": personal_id, "full_name": full_name, "date_of_birth": date_of_birth, "purpose": purpose}


def test_each_item_gets_its_own_answer_in_order(population: PopulationServer, http: httpx.Client,
                                                portal: dict[str, str]) -> None:
    a, b = citizen_at(population.seed, 50), citizen_at(population.seed, 51)
    outsider = citizen_at(population.seed, population.size + 3)
    items = [
        _item(a.personal_id, a.full_name.upper(), a.date_of_birth.isoformat()),
        _item(b.personal_id, "Sai Tên", b.date_of_birth.isoformat()),
        _item(outsider.personal_id, outsider.full_name, outsider.date_of_birth.isoformat()),
        _item("0011900123", "A", "1990-01-01"),
        _item(b.personal_id, b.full_name, b.date_of_birth.isoformat()),
    ]
    response = http.post("/citizens/verify-batch", json={"items": items}, headers=portal)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["match"] for r in results] == [True, False, False, False, True]
    assert results[1] == results[2] == {"match": False}  # a wrong name and an unknown ID look the same
    assert results[3]["error"]["code"] == "invalid_personal_id"
    assert results[3]["error"]["field"] == "items[3].personal_id"


def test_every_item_is_audited_as_a_verification(population: PopulationServer, http: httpx.Client,
                                                 portal: dict[str, str]) -> None:
    c = citizen_at(population.seed, 60)
    items = [_item(c.personal_id, c.full_name, c.date_of_birth.isoformat(), "hồ sơ 1"),
             _item(c.personal_id, "Sai Tên", c.date_of_birth.isoformat(), "hồ sơ 2")]
    assert http.post("/citizens/verify-batch", json={"items": items}, headers=portal).status_code == 200
    entries = http.get("/admin/audit", params={"subject": c.personal_id}, headers=population.admin).json()["entries"]
    assert [(e["caller"], e["action"], e["purpose"], e["result"]) for e in entries] == [
        ("portal", "verify", "hồ sơ 2", "mismatch"),
        ("portal", "verify", "hồ sơ 1", "match"),
    ]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"items": []}, "invalid_field", "items"),
        ({"items": [_item("001190012345", "A", "1990-01-01")] * 101}, "invalid_field", "items"),
        ({"items": [{**_item("001190012345", "A", "1990-01-01"), "role": "police"}]}, "unknown_field",
         "items[0].role"),
        ({"items": [_item("001190012345", "A", "15/03/1990")]}, "invalid_field", "items[0].date_of_birth"),
        ({}, "missing_field", "items"),
    ],
)
def test_a_malformed_batch_is_refused_whole_naming_the_field(
    http: httpx.Client, portal: dict[str, str], body: dict[str, object], code: str, field: str
) -> None:
    response = http.post("/citizens/verify-batch", json=body, headers=portal)
    assert response.status_code == 422, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


def test_a_batch_needs_a_token(http: httpx.Client) -> None:
    response = http.post("/citizens/verify-batch", json={"items": []})
    assert response.status_code == 401


def test_a_batch_let_in_on_the_last_token_is_answered_not_throttled(start_population, tmp_path) -> None:
    """The batch is admitted like any call (one token) and billed its other items as debt: let
    in on the caller's last whole token, it is answered — as ``/citizens/verify`` would be —
    and it is the next call that waits. (It used to be refused 429 after its admission.)"""
    with start_population(tmp_path, settings={"rate_limit_per_s": 0.01, "rate_limit_burst": 2}) as population, \
            httpx.Client(base_url=population.url, timeout=30) as http:
        portal = population.auth(http, "portal")
        person = citizen_at(population.seed, 70)
        item = _item(person.personal_id, person.full_name, person.date_of_birth.isoformat())
        assert http.post("/citizens/verify", json=item, headers=portal).status_code == 200
        batch = http.post("/citizens/verify-batch", json={"items": [item, item]}, headers=portal)
        assert batch.status_code == 200, batch.text
        assert [r["match"] for r in batch.json()["results"]] == [True, True]
        after = http.post("/citizens/verify", json=item, headers=portal)
        assert after.status_code == 429 and int(after.headers["Retry-After"]) > 100, after.text
