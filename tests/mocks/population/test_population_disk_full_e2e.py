"""The population mock on a full disk (its data directory on a small tmpfs). Look-ups write
nothing before they answer (the audit is written behind them, README "Audit"), so they go
on, on both faces; what must write now — the audit read, which flushes first — is an
honest, retryable 507, and once space is freed every queued entry is written and survives
a SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from kernel.national.c06 import ENDPOINT_PATH
from kernel.synthetic import citizen_at
from tests.disk import assert_storage_refusal, fill, small_disk
from tests.mocks.population.c06_client import birth_text, envelope, request_fields, signed_headers
from tests.mocks.population.conftest import SECRET, PopulationServer, population_server

pytestmark = pytest.mark.e2e

VERIFY = "XacThucThongTinCongDan"


def _lookups(server: PopulationServer, http: httpx.Client, index: int) -> None:
    """One native look-up and one C06 verification, both answered 200 (and audited)."""
    person = citizen_at(server.seed, index)
    native = http.get(f"/citizens/{person.personal_id}", params={"purpose": "disk full"},
                      headers=server.auth(http, "portal"))
    assert native.status_code == 200, native.text
    url = server.url + ENDPOINT_PATH
    fields = request_fields(VERIFY, person.personal_id, person.full_name, MaYeuCau=f"REQ-DISK-{index}")
    body = envelope(VERIFY, fields, birth=birth_text(person.date_of_birth))
    c06 = http.post(url, content=body, headers=signed_headers(url, "province-12", SECRET))
    assert c06.status_code == 200, c06.text


def _audit_entries(server: PopulationServer, http: httpx.Client) -> int:
    return http.get("/admin/ledger", headers=server.admin).json()["counts"]["audit_entries"]


def test_a_full_disk_is_a_507_for_the_audit_read_look_ups_go_on_and_no_entry_is_lost(tmp_path: Path):
    data = tmp_path / "data"
    with small_disk(data, 8192):
        with population_server(data) as server, server.client() as http:
            _lookups(server, http, 1)
            filler = fill(data)
            _lookups(server, http, 2)
            refused = http.get("/admin/audit", headers=server.admin)
            assert_storage_refusal(refused)
            assert refused.json()["error"]["code"] == "insufficient_storage"
            assert http.get("/admin/ledger", headers=server.admin).status_code == 200

            filler.unlink()
            audit = http.get("/admin/audit", headers=server.admin, params={"limit": 1000})
            assert audit.status_code == 200, audit.text  # it flushed every queued entry first
            written = _audit_entries(server, http)
            assert len(audit.json()["entries"]) == written >= 4
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()

        with population_server(data) as server, server.client() as http:
            assert _audit_entries(server, http) == written


def test_a_storage_refusal_on_the_c06_face_is_a_server_fault_with_retry_after():
    # No C06 call writes before it answers, so a full disk cannot be met there over HTTP;
    # the face's error form (which the service layer applies to a refusal) is checked directly.
    from mocks.core.store import storage_refusal
    from mocks.population.c06 import _fault_of, _fault_response

    refusal = storage_refusal(OSError(28, "No space left on device"))
    assert refusal is not None
    response = _fault_response(_fault_of(refusal))
    assert response.status_code == 507 and int(response.headers["retry-after"]) > 0
    text = bytes(response.body).decode()
    assert "soapenv:Server" in text and "insufficient_storage" in text, text
