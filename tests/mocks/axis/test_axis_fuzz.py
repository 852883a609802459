"""Fuzz every operation of the axis's own OpenAPI document: no input gives a 5xx.

Uses Schemathesis to generate cases from ``/openapi.json`` and Hypothesis to run them
(the Schemathesis pytest plugin does not load under this pytest, so the loop is ours).
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from axis_harness import AxisServer
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.e2e


def test_no_generated_input_causes_a_server_error(axis: AxisServer, tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    schema = schemathesis.openapi.from_url(f"{axis.url}/openapi.json")
    with axis.client() as c:
        headers = axis.token(c, "000.00.00.H26")
    session = requests.Session()
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /auth/token", "GET /agencies", "POST /documents", "GET /documents/{document_id}",
            "POST /documents/{document_id}/receipts", "GET /documents/{document_id}/receipts", "GET /inbox",
            "POST /inbox/{delivery_id}/ack"} <= labels
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=axis.url, session=session, headers=headers)
            calls.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"], where

        check()
    assert len(calls) >= 100 and 200 in calls  # the fuzzer really ran, and not only into errors
