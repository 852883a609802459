"""Fuzz every operation of the population service's own OpenAPI document: no 5xx.

Schemathesis generates the cases from ``/openapi.json`` and Hypothesis runs them, once as
the police system (every field visible) and once as a province system. Injecting faults
is left out: a fuzzed ``hang`` fault would only test the fuzzer's patience.
"""

from __future__ import annotations

import httpx
import pytest

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from tests.support import fuzz_openapi

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("client_id", ["police", "province-01"])
def test_no_generated_input_causes_a_server_error(start_cluster, client_id, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    cluster = start_cluster()
    url = cluster.urls["population"]
    secret = derive_password(DEFAULT_DRY_RUN_SECRET, client_id)
    token = httpx.post(f"{url}/auth/token", json={"client_id": client_id, "client_secret": secret}).json()["access_token"]

    def headers_for(path: str) -> dict[str, str]:
        return {"authorization": f"Bearer {cluster.config.admin_token if path.startswith('/admin') else token}"}

    # The C06 SOAP face answers in SOAP Faults, not the JSON error: test_c06_fuzz.py fuzzes it.
    soap = ("POST /c06/CongDanService", "GET /c06/CongDanService")
    labels, statuses = fuzz_openapi(url, headers_for, skip=("POST /admin/faults", *soap))
    assert {"POST /auth/token", "GET /citizens/{personal_id}", "POST /citizens/verify", "GET /admin/audit"} <= labels
    assert len(statuses) >= 100 and 200 in statuses  # the fuzzer really ran, and not only into errors
