"""End-to-end tests of the population mock's drill surface: readiness, throttling, planted
weaknesses, forged roles, and the audit log across a restart."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from kernel.synthetic import citizen_at
from mocks.core.tokens import TokenIssuer
from tests.mocks.population.conftest import unready_readiness

if TYPE_CHECKING:
    from conftest import PopulationServer

pytestmark = pytest.mark.e2e

# Per client on the drill server: a burst of 5, then 1 request/s — slow enough that even a
# loaded machine refills less than one token between two sequential requests.
BURST = 5


@pytest.fixture(scope="module")
def drill_server(tmp_path_factory: pytest.TempPathFactory, start_population) -> Iterator[PopulationServer]:
    """Province 11 not connected; low per-client rate; planted weaknesses on."""
    root = tmp_path_factory.mktemp("population-drill")
    readiness = unready_readiness(root)
    with start_population(
        root / "data",
        size=500,
        readiness=readiness,
        vulnerable=("unmasked_population", "verify_leak", "jwt_alg_none"),
        settings={"rate_limit_per_s": 1, "rate_limit_burst": BURST},
    ) as server:
        yield server


@pytest.fixture()
def http(drill_server: PopulationServer) -> Iterator[httpx.Client]:
    with drill_server.client() as client:
        yield client


def _error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


# -- readiness -------------------------------------------------------------------------------


def test_unready_province_gets_503_with_retry_after_at_sign_in(
    drill_server: PopulationServer, http: httpx.Client
) -> None:
    response = drill_server.token_response(http, "province-11")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert _error_code(response) == "province_not_connected"
    assert "province 11" in response.json()["error"]["message"]
    assert drill_server.token_response(http, "province-12").status_code == 200


def test_unready_province_gets_503_on_look_ups_too(
    drill_server: PopulationServer, http: httpx.Client, dry_run_secret: str
) -> None:
    # A token minted before the province was marked unready (same key, same claims).
    issuer = TokenIssuer(dry_run_secret, "dientap-population", "population", 60)
    token, _ = issuer.issue("province-11", "commune_officer", province="11")
    c = citizen_at(drill_server.seed, 0)
    response = http.get(f"/citizens/{c.personal_id}", params={"purpose": "x"},
                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert _error_code(response) == "province_not_connected"


# -- throttling ------------------------------------------------------------------------------


def test_a_scraper_is_throttled_without_starving_other_clients(
    drill_server: PopulationServer, http: httpx.Client
) -> None:
    scraper = drill_server.auth(http, "province-20")
    other = drill_server.auth(http, "province-22")
    ids = [citizen_at(drill_server.seed, i).personal_id for i in range(3 * BURST)]
    statuses = [http.get(f"/citizens/{pid}", params={"purpose": "bulk"}, headers=scraper).status_code
                for pid in ids]
    assert statuses[:BURST] == [200] * BURST
    assert 429 in statuses[BURST:]
    refused = http.get(f"/citizens/{ids[0]}", params={"purpose": "bulk"}, headers=scraper)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert _error_code(refused) == "rate_limited"
    assert http.get(f"/citizens/{ids[0]}", params={"purpose": "counter"}, headers=other).status_code == 200


# -- planted weaknesses and forged tokens ----------------------------------------------------


def test_planted_unmasked_population_shows_every_field_to_an_officer(
    drill_server: PopulationServer, http: httpx.Client
) -> None:
    c = citizen_at(drill_server.seed, 7)
    body = http.get(f"/citizens/{c.personal_id}", params={"purpose": "x"},
                    headers=drill_server.auth(http, "province-33")).json()
    assert body["address"] == c.address
    assert body["date_of_birth"] == c.date_of_birth.isoformat()
    assert body["birth_year"] == c.date_of_birth.year


def test_planted_verify_leak_names_the_mismatched_field(
    drill_server: PopulationServer, http: httpx.Client
) -> None:
    c = citizen_at(drill_server.seed, 8)
    response = http.post(
        "/citizens/verify",
        json={"personal_id": c.personal_id, "full_name": c.full_name, "date_of_birth": "1901-01-01",
              "purpose": "x"},
        headers=drill_server.auth(http, "province-37"),
    )
    assert response.json() == {"match": False, "mismatched_fields": ["date_of_birth"]}


def _unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_forged_token_with_an_unknown_role_is_403_not_500(
    drill_server: PopulationServer, http: httpx.Client
) -> None:
    now = int(time.time())
    forged = _unsigned({"sub": "attacker", "role": "admin", "iss": "x", "aud": "x", "iat": now, "nbf": now,
                        "exp": now + 60, "jti": "forged"})
    c = citizen_at(drill_server.seed, 9)
    response = http.get(f"/citizens/{c.personal_id}", params={"purpose": "x"},
                        headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 403
    assert _error_code(response) == "role_not_allowed"


def test_forged_token_without_subject_is_401(drill_server: PopulationServer, http: httpx.Client) -> None:
    now = int(time.time())
    forged = _unsigned({"role": ["police"], "exp": now + 60, "jti": "forged2"})
    response = http.get(f"/citizens/{citizen_at(drill_server.seed, 9).personal_id}", params={"purpose": "x"},
                        headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


# -- durability across a restart -------------------------------------------------------------


def test_audit_survives_a_clean_restart_and_seeding_is_not_repeated(tmp_path: Path, start_population) -> None:
    data = tmp_path / "data"
    with start_population(data, size=300) as first, first.client() as http:
        c = citizen_at(first.seed, 1)
        headers = first.auth(http, "police")
        for n in range(3):
            http.get(f"/citizens/{c.personal_id}", params={"purpose": f"case {n}"}, headers=headers)
    with start_population(data, size=300) as second, second.client() as http:
        entries = http.get("/admin/audit", params={"subject": c.personal_id}, headers=second.admin).json()
        ledger = http.get("/admin/ledger", headers=second.admin).json()["counts"]
    assert [e["purpose"] for e in entries["entries"]] == ["case 2", "case 1", "case 0"]
    assert ledger == {"citizens": 300, "audit_entries": 3}
    assert "population seeded: 300 citizens" in first.log.read_text(encoding="utf-8")
    assert "population seeded" not in second.log.read_text(encoding="utf-8")


def test_a_different_size_reseeds(tmp_path: Path, start_population) -> None:
    data = tmp_path / "data"
    with start_population(data, size=100):
        pass
    with start_population(data, size=150) as server, server.client() as http:
        ledger = http.get("/admin/ledger", headers=server.admin).json()["counts"]
        last = citizen_at(server.seed, 149).personal_id
        found = http.get(f"/citizens/{last}", params={"purpose": "x"}, headers=server.auth(http, "police"))
    assert ledger["citizens"] == 150
    assert found.status_code == 200
    assert "population seeded: 150 citizens" in server.log.read_text(encoding="utf-8")
