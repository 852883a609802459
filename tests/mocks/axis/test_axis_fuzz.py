"""Fuzz every operation of the axis's own OpenAPI document: no input gives a 5xx."""

from __future__ import annotations

import pytest
from axis_harness import AxisServer

from tests.support import fuzz_openapi

pytestmark = pytest.mark.e2e


def test_no_generated_input_causes_a_server_error(axis: AxisServer, tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    with axis.client() as c:
        headers = axis.token(c, "000.00.00.H26")
    # The SDK face answers in its own error form: test_axis_vdxp_fuzz.py fuzzes it, signing each case.
    sdk_face = {f"POST /vdxp/{op}" for op in ("sendEdoc", "getReceivedEdocList", "getEdoc", "getSentEdocList",
                                              "updateStatus", "getAgenciesList")}
    labels, statuses = fuzz_openapi(axis.url, lambda _path: headers, skip=sdk_face)
    assert sdk_face <= labels
    assert {"POST /auth/token", "GET /agencies", "POST /documents", "GET /documents/{document_id}",
            "POST /documents/{document_id}/receipts", "GET /documents/{document_id}/receipts", "GET /inbox",
            "POST /inbox/{delivery_id}/ack"} <= labels
    assert len(statuses) >= 100 and 200 in statuses  # the fuzzer really ran, and not only into errors
