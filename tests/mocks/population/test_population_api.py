"""End-to-end tests of the population mock over real HTTP on loopback (default settings)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.synthetic import citizen_at

if TYPE_CHECKING:
    from conftest import PopulationServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tokens(population: PopulationServer, http: httpx.Client) -> dict[str, dict[str, str]]:
    return {c: population.auth(http, c) for c in ("police", "portal", "province-01", "province-79")}


def _citizen(population: PopulationServer, index: int):
    return citizen_at(population.seed, index)


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# -- tokens --------------------------------------------------------------------------------


def test_token_shape(population: PopulationServer, http: httpx.Client) -> None:
    response = population.token_response(http, "police")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900


def test_wrong_secret_is_401_with_legacy_code_100(http: httpx.Client) -> None:
    response = http.post("/auth/token", json={"client_id": "police", "client_secret": "guess"})
    assert response.status_code == 401
    assert response.headers["x-legacy-code"] == "100"
    error = _error(response)
    assert error["code"] == "invalid_client_secret"
    assert error["field"] == "client_secret"


@pytest.mark.parametrize(
    ("client_id", "code", "legacy"),
    [("ministry-x", "unknown_client", "106"), ("province-99", "unknown_province", "108")],
)
def test_unknown_clients_are_401_naming_the_accepted_forms(
    http: httpx.Client, client_id: str, code: str, legacy: str
) -> None:
    response = http.post("/auth/token", json={"client_id": client_id, "client_secret": "x"})
    assert response.status_code == 401
    assert response.headers["x-legacy-code"] == legacy
    error = _error(response)
    assert error["code"] == code
    assert error["field"] == "client_id"
    assert "portal, police or province-NN" in error["message"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "code", "field"),
    [
        (b'{"client_id": "police",', {"Content-Type": "application/json"}, 400, "invalid_json", None),
        (b'{"client_id": "police", "client_secret": "x", "scope": "all"}', {"Content-Type": "application/json"},
         422, "unknown_field", "scope"),
        (b'{"client_id": "police"}', {"Content-Type": "application/json"}, 422, "missing_field", "client_secret"),
        (b'{"client_id": 7, "client_secret": "x"}', {"Content-Type": "application/json"}, 422, "invalid_field",
         "client_id"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 422, "invalid_body", None),
        (b"client_id=police", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
         "unsupported_media_type", "Content-Type"),
    ],
)
def test_bad_token_bodies_are_4xx_naming_the_field(
    http: httpx.Client, content: bytes, headers: dict[str, str], status: int, code: str, field: str | None
) -> None:
    response = http.post("/auth/token", content=content, headers=headers)
    assert response.status_code == status, response.text
    error = _error(response)
    assert (error["code"], error["field"]) == (code, field)


def test_oversized_body_is_413(http: httpx.Client) -> None:
    response = http.post(
        "/auth/token", content=b'{"client_id": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert _error(response)["code"] == "body_too_large"


# -- look-ups by role ----------------------------------------------------------------------


def test_police_sees_the_whole_record(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    c = _citizen(population, 17)
    response = http.get(f"/citizens/{c.personal_id}", params={"purpose": "investigation 12/2025"},
                        headers=tokens["police"])
    assert response.status_code == 200
    assert response.json() == {
        "personal_id": c.personal_id,
        "full_name": c.full_name,
        "date_of_birth": c.date_of_birth.isoformat(),
        "sex": c.sex,
        "address": c.address,
        "commune_code": c.commune_code,
        "province_code": c.province_code,
    }


def test_portal_sees_no_sex_address_or_province(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    c = _citizen(population, 18)
    response = http.get(f"/citizens/{c.personal_id}", params={"purpose": "dossier pre-fill"},
                        headers=tokens["portal"])
    assert response.json() == {
        "personal_id": c.personal_id,
        "full_name": c.full_name,
        "date_of_birth": c.date_of_birth.isoformat(),
        "commune_code": c.commune_code,
    }


def test_commune_officer_sees_less_than_police(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    c = _citizen(population, 19)
    response = http.get(f"/citizens/{c.personal_id}", params={"purpose": "counter"},
                        headers=tokens["province-01"])
    assert response.json() == {
        "personal_id": c.personal_id,
        "full_name": c.full_name,
        "birth_year": c.date_of_birth.year,
        "commune_code": c.commune_code,
    }


def test_unknown_but_well_formed_id_is_404(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    outsider = citizen_at(population.seed, population.size + 5).personal_id
    response = http.get(f"/citizens/{outsider}", params={"purpose": "x"}, headers=tokens["police"])
    assert response.status_code == 404
    assert response.headers["x-legacy-code"] == "201"
    assert _error(response) == {
        "code": "citizen_not_found", "message": "no citizen with this personal ID number", "field": "personal_id",
    }


@pytest.mark.parametrize(
    ("personal_id", "rule", "text"),
    [
        ("12345", "format", "exactly 12 digits"),
        ("00119001234x", "format", "exactly 12 digits"),
        ("' OR 1=1 --", "format", "exactly 12 digits"),
        ("999190012345", "birthplace", "unknown birthplace code '999'"),
        ("001299012345", "birth_year", "in the future"),
    ],
)
def test_malformed_ids_are_422_naming_the_rule(
    http: httpx.Client, tokens: dict[str, dict[str, str]], personal_id: str, rule: str, text: str
) -> None:
    response = http.get(f"/citizens/{quote(personal_id, safe='')}", params={"purpose": "x"},
                        headers=tokens["police"])
    assert response.status_code == 422
    assert response.headers["x-legacy-code"] == "302"
    error = _error(response)
    assert error["code"] == "invalid_personal_id"
    assert error["field"] == "personal_id"
    assert error["message"].startswith(f"{rule} rule: ")
    assert text in error["message"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "missing_field"), ({"purpose": "   "}, "invalid_field"), ({"purpose": "x" * 201}, "invalid_field")],
)
def test_purpose_is_required_and_bounded(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]],
    params: dict[str, str], code: str,
) -> None:
    c = _citizen(population, 20)
    response = http.get(f"/citizens/{c.personal_id}", params=params, headers=tokens["portal"])
    assert response.status_code == 422
    assert (_error(response)["code"], _error(response)["field"]) == (code, "purpose")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Basic cG9saWNlOng=", "Bearer population-admin-test-token"],
)
def test_look_up_without_a_valid_token_is_401(
    population: PopulationServer, http: httpx.Client, authorization: str | None
) -> None:
    c = _citizen(population, 21)
    headers = {"Authorization": authorization} if authorization else {}
    response = http.get(f"/citizens/{c.personal_id}", params={"purpose": "x"}, headers=headers)
    assert response.status_code == 401
    assert _error(response)["field"] == "Authorization"


def test_tampered_token_is_401(population: PopulationServer, http: httpx.Client,
                               tokens: dict[str, dict[str, str]]) -> None:
    token = tokens["province-01"]["Authorization"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = http.get(f"/citizens/{_citizen(population, 1).personal_id}", params={"purpose": "x"},
                        headers={"Authorization": tampered})
    assert response.status_code == 401
    assert _error(response)["code"] == "invalid_token"


# -- verification --------------------------------------------------------------------------


def _verify(http: httpx.Client, headers: dict[str, str], **body: object) -> httpx.Response:
    return http.post("/citizens/verify", json={"purpose": "dossier submit", **body}, headers=headers)


def test_verify_matches_despite_case_and_unicode_form(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    c = _citizen(population, 30)
    name = unicodedata.normalize("NFD", c.full_name.upper())
    response = _verify(http, tokens["portal"], personal_id=c.personal_id, full_name=name,
                       date_of_birth=c.date_of_birth.isoformat())
    assert response.status_code == 200
    assert response.json() == {"match": True}


def test_every_kind_of_mismatch_looks_the_same(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    c = _citizen(population, 31)
    other = _citizen(population, 32)
    outsider = citizen_at(population.seed, population.size + 1)
    dob = c.date_of_birth.isoformat()
    cases = [
        {"personal_id": c.personal_id, "full_name": other.full_name, "date_of_birth": dob},
        {"personal_id": c.personal_id, "full_name": c.full_name,
         "date_of_birth": (c.date_of_birth + dt.timedelta(days=1)).isoformat()},
        {"personal_id": c.personal_id, "full_name": other.full_name, "date_of_birth": "1900-01-01"},
        {"personal_id": outsider.personal_id, "full_name": outsider.full_name,
         "date_of_birth": outsider.date_of_birth.isoformat()},
    ]
    responses = [_verify(http, tokens["province-79"], **case) for case in cases]
    assert {r.status_code for r in responses} == {200}
    assert {r.content for r in responses} == {b'{"match":false}'}
    assert len({tuple(sorted((k, v) for k, v in r.headers.items() if k != "date")) for r in responses}) == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"personal_id": "0011900123", "full_name": "A", "date_of_birth": "1990-01-01"}, 422,
         "invalid_personal_id", "personal_id"),
        ({"personal_id": "001190012345", "full_name": "A", "date_of_birth": "15/03/1990"}, 422,
         "invalid_field", "date_of_birth"),
        ({"personal_id": "001190012345", "full_name": "", "date_of_birth": "1990-01-01"}, 422,
         "invalid_field", "full_name"),
        ({"personal_id": "001190012345", "full_name": "A", "date_of_birth": "1990-01-01", "role": "police"}, 422,
         "unknown_field", "role"),
        ({"personal_id": "001190012345", "date_of_birth": "1990-01-01"}, 422, "missing_field", "full_name"),
    ],
)
def test_bad_verify_bodies_are_422_naming_the_field(
    http: httpx.Client, tokens: dict[str, dict[str, str]], body: dict[str, object], status: int, code: str,
    field: str,
) -> None:
    response = _verify(http, tokens["portal"], **body)
    assert response.status_code == status, response.text
    assert (_error(response)["code"], _error(response)["field"]) == (code, field)


def test_verify_malformed_json_is_400(http: httpx.Client, tokens: dict[str, dict[str, str]]) -> None:
    response = http.post("/citizens/verify", content=b"{not json",
                         headers={**tokens["portal"], "Content-Type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_verify_needs_a_token_before_reading_the_body(http: httpx.Client) -> None:
    response = http.post("/citizens/verify", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


# -- audit and ledger -------------------------------------------------------------------------


def test_every_look_up_and_verification_is_audited(
    population: PopulationServer, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    c = _citizen(population, 40)
    ledger_before = http.get("/admin/ledger", headers=population.admin).json()["counts"]["audit_entries"]
    http.get(f"/citizens/{c.personal_id}", params={"purpose": "hồ sơ 001/2025"}, headers=tokens["province-01"])
    _verify(http, tokens["province-01"], personal_id=c.personal_id, full_name="Sai Tên",
            date_of_birth=c.date_of_birth.isoformat())
    http.get("/citizens/999999999999", params={"purpose": "probe"}, headers=tokens["province-01"])

    response = http.get("/admin/audit", params={"caller": "province-01", "limit": 3}, headers=population.admin)
    assert response.status_code == 200
    entries = response.json()["entries"]
    assert [(e["action"], e["subject"], e["result"], e["purpose"]) for e in entries] == [
        ("lookup", "999999999999", "invalid_personal_id", "probe"),
        ("verify", c.personal_id, "mismatch", "dossier submit"),
        ("lookup", c.personal_id, "found", "hồ sơ 001/2025"),
    ]
    assert {(e["caller"], e["role"]) for e in entries} == {("province-01", "commune_officer")}
    assert all(e["at"].endswith("Z") for e in entries)

    by_subject = http.get("/admin/audit", params={"subject": c.personal_id}, headers=population.admin).json()
    assert by_subject["count"] == 2
    ledger_after = http.get("/admin/ledger", headers=population.admin).json()
    assert ledger_after["service"] == "population"
    assert ledger_after["counts"]["audit_entries"] == ledger_before + 3
    assert ledger_after["counts"]["citizens"] == population.size


def test_unauthenticated_attempts_are_not_audited_as_someone(
    population: PopulationServer, http: httpx.Client
) -> None:
    c = _citizen(population, 41)
    http.get(f"/citizens/{c.personal_id}", params={"purpose": "x"})
    assert http.get("/admin/audit", params={"subject": c.personal_id}, headers=population.admin).json()["count"] == 0


@pytest.mark.parametrize(
    ("headers", "params", "status", "code"),
    [
        ({}, {}, 401, "invalid_admin_token"),
        ({"Authorization": "Bearer wrong"}, {}, 401, "invalid_admin_token"),
        (None, {"limit": "0"}, 422, "invalid_field"),
        (None, {"limit": "ten"}, 422, "invalid_field"),
        (None, {"limit": "9" * 5000}, 422, "invalid_field"),
        (None, {"subject": "x" * 65}, 422, "invalid_field"),
    ],
)
def test_admin_audit_rules(
    population: PopulationServer, http: httpx.Client, headers: dict[str, str] | None, params: dict[str, str],
    status: int, code: str,
) -> None:
    response = http.get("/admin/audit", params=params, headers=population.admin if headers is None else headers)
    assert response.status_code == status
    assert _error(response)["code"] == code


def test_client_token_is_not_an_admin_token(http: httpx.Client, tokens: dict[str, dict[str, str]]) -> None:
    assert http.get("/admin/audit", headers=tokens["police"]).status_code == 401


# -- contract --------------------------------------------------------------------------------


def test_openapi_documents_the_population_routes(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    assert {"/auth/token", "/citizens/{personal_id}", "/citizens/verify", "/admin/audit"} <= set(doc["paths"])
    lookup = doc["paths"]["/citizens/{personal_id}"]["get"]
    assert {p["name"] for p in lookup["parameters"]} == {"personal_id", "purpose"}
    assert lookup["security"] == [{"bearerAuth": []}]
    verify_schema = doc["components"]["schemas"]["VerifyRequest"]
    assert set(verify_schema["required"]) == {"personal_id", "full_name", "date_of_birth", "purpose"}
    assert "$defs" not in str(doc)


def test_metrics_use_route_templates(population: PopulationServer, http: httpx.Client,
                                     tokens: dict[str, dict[str, str]]) -> None:
    http.get(f"/citizens/{_citizen(population, 3).personal_id}", params={"purpose": "x"}, headers=tokens["police"])
    text = http.get("/metrics").text
    assert 'route="/citizens/{personal_id}"' in text
    assert _citizen(population, 3).personal_id not in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(personal_id=st.text(min_size=1, max_size=80), purpose=st.text(max_size=250))
def test_hostile_input_never_gets_a_5xx(
    http: httpx.Client, tokens: dict[str, dict[str, str]], personal_id: str, purpose: str
) -> None:
    response = http.get(f"/citizens/{quote(personal_id, safe='')}", params={"purpose": purpose},
                        headers=tokens["police"])
    assert response.status_code < 500, response.text
    # 307: "." and ".." segments normalise to "/citizens/", which Starlette redirects.
    assert response.status_code in (200, 307, 404, 422)
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}
