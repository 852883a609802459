"""Fuzz every operation of the population service's own OpenAPI document: no 5xx.

Schemathesis generates the cases from ``/openapi.json`` and Hypothesis runs them, once as
the police system (every field visible) and once as a province system. Injecting faults
is left out: a fuzzed ``hang`` fault would only test the fuzzer's patience.
"""

from __future__ import annotations

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from dientap.credentials import DEFAULT_DRY_RUN_SECRET, derive_password

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("client_id", ["police", "province-01"])
def test_no_generated_input_causes_a_server_error(start_cluster, client_id, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    cluster = start_cluster()
    url = cluster.urls["population"]
    token = httpx.post(f"{url}/auth/token", json={"client_id": client_id,
                                                  "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, client_id)}).json()["access_token"]
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    session = requests.Session()
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /auth/token", "GET /citizens/{personal_id}", "POST /citizens/verify", "GET /admin/audit"} <= {
        op.label for op in operations
    }
    for operation in operations:
        if operation.label in ("POST /admin/faults",):
            continue
        admin = operation.path.startswith("/admin")
        headers = {"authorization": f"Bearer {cluster.config.admin_token if admin else token}"}

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=url, session=session, headers=headers)
            calls.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"], where
                assert "Traceback" not in response.text, where

        check()
    assert len(calls) >= 100 and 200 in calls  # the fuzzer really ran, and not only into errors
