"""Fuzz the integration-adapter face from the portal's OpenAPI document: no generated input
gives a 5xx or a traceback, and every error is in the adapter's form."""

from __future__ import annotations

import pytest

from tests.support import fuzz_openapi

from .conftest import citizen, login_citizen

pytestmark = pytest.mark.e2e


def _adapter_error(body: dict) -> bool:
    return isinstance(body.get("error_code"), int) and body["error_code"] != 0 and bool(body.get("message"))


def test_no_generated_input_causes_a_server_error_on_the_adapter_face(portal, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    token = login_citizen(client, citizen(91))
    labels, statuses = fuzz_openapi(portal.url, lambda path: {"dstcode": "000.00.00.G22"}, only_prefix="/dvcqg/",
                                    error_form=_adapter_error, max_examples=60)
    assert labels == {"POST /dvcqg/auth", "POST /dvcqg/integration", "POST /dvcqg/share"}
    assert len(statuses) >= 150 and any(s >= 400 for s in statuses)
    assert token  # the citizen's session exists; generated sessions are forged ones
