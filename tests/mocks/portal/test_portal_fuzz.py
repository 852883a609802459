"""Fuzz every operation of the portal's own OpenAPI document: no input gives a 5xx.

Schemathesis generates the cases from ``/openapi.json``; Hypothesis runs them (the
Schemathesis pytest plugin does not load under this pytest, so the loop is ours). Runs
once as a citizen and once as an officer, so the authenticated branches are reached;
``/auth/logout`` is left out because it would revoke the fuzzer's own token.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import ADMIN_TOKEN, bearer, citizen, login_citizen, login_officer

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("role", ["citizen", "officer"])
def test_no_generated_input_causes_a_server_error(portal, client, role, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    person = citizen(90)
    token = login_citizen(client, person) if role == "citizen" else login_officer(client, person.commune_code, 4)
    schema = schemathesis.openapi.from_url(f"{portal.url}/openapi.json")
    session = requests.Session()
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /dossiers", "GET /dossiers/{code}", "POST /dossiers/{code}/transitions", "POST /auth/token",
            "POST /payments/callback", "GET /public/dossiers/{code}"} <= {op.label for op in operations}  # fmt: skip
    for operation in operations:
        if operation.label == "POST /auth/logout":
            continue
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"} if operation.path.startswith("/admin") else bearer(token)

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=portal.url, session=session, headers=headers)
            calls.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"], where

        check()
    assert len(calls) >= 100 and 200 in calls  # the fuzzer really ran, and not only into errors
