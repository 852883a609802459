"""The ``dvcqg-adapter`` portal adapter against a real portal mock: every persona call works
through the integration-adapter face and gives the personas the keys they read."""

from __future__ import annotations

import json
import subprocess  # nosec B404 - the probe is our own script
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mocks.portal.conftest import ADMIN, POPULATION_SIZE, SEED, ServiceProcess, free_port, portal_process

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def mocks(tmp_path_factory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("dvcqg-adapter")
    population = ServiceProcess("population", free_port(), tmp / "population",
                                ["--population-size", str(POPULATION_SIZE),
                                 "--settings-json", json.dumps({"rate_limit_per_s": 5000})]).start()  # fmt: skip
    portal = portal_process(tmp, population.url).start()
    yield portal
    portal.stop()
    population.stop()


@pytest.fixture(scope="module")
def probe(mocks) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "dvcqg_probe.py"), mocks.url, str(SEED)],  # nosec B603
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_registered_class_is_the_adapter_shape(probe):
    assert probe["class"] == "DvcqgPortalAdapter"


def test_sign_in_and_catalogue_give_the_native_keys(probe):
    assert probe["sign_in"] == [True, ["access_token", "expires_in"]]
    ok, count, keys = probe["catalogue"]
    assert ok and count == 20 and "code" in keys


def test_a_retried_submission_gets_the_same_dossier_back(probe, mocks):
    ok, status, code = probe["submit"]
    assert ok and status == 200 and code == probe["dossier_code"]
    assert probe["retry"] == [True, 200, code, True]
    ledger = httpx.get(f"{mocks.url}/admin/ledger", headers=ADMIN).json()
    assert ledger["ids"]["dossiers"].count(code) == 1 and len(ledger["ids"]["dossiers"]) == 1


def test_reads_and_moves_speak_the_official_status_codes(probe):
    ok, status, applicant, fee = probe["read"]
    assert ok and status == 1 and fee == 8000
    assert set(applicant) == {"personal_id", "full_name", "date_of_birth"} and len(applicant["date_of_birth"]) == 10
    assert probe["missing"] == [404]
    assert probe["moves"] == [[True, 2], [True, 4], [True, 6]]
    assert probe["illegal"] == [False, 409, "illegal_transition"]


def test_calls_without_a_national_shape_use_the_portal_s_own_routes(probe):
    assert probe["officer_cached"] and probe["worklist"] == [True, True]
    assert probe["pay"] == [True, True] and probe["feedback"] is True and probe["sign_out"] is True
    assert probe["after_sign_out"] == 401  # the revoked session is refused on the face too
    assert probe["bad_officer"] is None


def test_locust_sees_each_operation_by_name(probe):
    assert {"POST /dvcqg auth", "POST /dvcqg DongBoHoSoMC", "POST /dvcqg TraCuuHoSo", "POST /dvcqg CapNhatTienDoHoSoMC",
            "POST /dvcqg LayDanhSachTTHC", "GET /dossiers"} <= set(probe["names"])
    assert set(probe["failed_names"]) == {"POST /dvcqg TraCuuHoSo", "POST /dvcqg CapNhatTienDoHoSoMC", "POST /dvcqg auth"}
    # The face's reason names each refusal in Locust's failure table, as the native code does.
    assert "POST /dvcqg CapNhatTienDoHoSoMC: HTTP 409 illegal_transition" in probe["failures"], probe["failures"]
