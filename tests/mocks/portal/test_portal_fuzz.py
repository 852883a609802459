"""Fuzz every operation of the portal's own OpenAPI document: no input gives a 5xx.

Schemathesis generates the cases from ``/openapi.json``; Hypothesis runs them (the
Schemathesis pytest plugin does not load under this pytest, so the loop is ours). Runs
once as a citizen and once as an officer, so the authenticated branches are reached;
``/auth/logout`` is left out because it would revoke the fuzzer's own token.
"""

from __future__ import annotations

import pytest

from tests.support import fuzz_openapi

from .conftest import ADMIN_TOKEN, bearer, citizen, login_citizen, login_officer

pytestmark = pytest.mark.e2e

# The integration-adapter face answers in its own error form: test_dvcqg_fuzz.py fuzzes it.
_FACE_OPERATIONS = ("POST /dvcqg/auth", "POST /dvcqg/integration", "POST /dvcqg/share")


@pytest.mark.parametrize("role", ["citizen", "officer"])
def test_no_generated_input_causes_a_server_error(portal, client, role, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    person = citizen(90)
    token = login_citizen(client, person) if role == "citizen" else login_officer(client, person.commune_code, 4)

    def headers_for(path: str) -> dict[str, str]:
        return {"authorization": f"Bearer {ADMIN_TOKEN}"} if path.startswith("/admin") else bearer(token)

    labels, statuses = fuzz_openapi(portal.url, headers_for, skip=(*_FACE_OPERATIONS, "POST /auth/logout"), max_examples=20)
    assert {"POST /dossiers", "GET /dossiers/{code}", "POST /dossiers/{code}/transitions", "POST /auth/token",
            "POST /payments/callback", "GET /public/dossiers/{code}"} <= labels  # fmt: skip
    assert len(statuses) >= 100 and 200 in statuses  # the fuzzer really ran, and not only into errors
