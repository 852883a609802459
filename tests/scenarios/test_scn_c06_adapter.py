"""The c06-soap population adapter against a real population mock (in a probe process):
the native adapter's replies, through the SOAP face."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scn_support import HERE

from tests.mocks.population.conftest import ADMIN_TOKEN, population_server

pytestmark = pytest.mark.e2e

SECRET = "population-test-secret"  # nosec B105 - the fixture's secret (tests/mocks/population/conftest.py)
BURST = 20


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("c06-adapter")
    with population_server(Path(data), size=300, settings={"rate_limit_per_s": 1, "rate_limit_burst": BURST}) as server:
        out = subprocess.run([sys.executable, str(HERE / "c06_probe.py"), server.url, SECRET, ADMIN_TOKEN], capture_output=True,
                             text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_table_picks_the_soap_adapter_and_its_token_is_the_client(probe):
    assert probe["class"] == "C06PopulationAdapter"
    assert probe["token"] == "province-01"


def test_verify_replies_as_the_native_adapter_does(probe):
    assert probe["match"] == [200, True, None, {"match": True}, False]
    assert probe["mismatch"] == probe["unknown"] == [200, True, None, {"match": False}, False]


def test_a_fault_is_a_failed_reply_with_the_native_error_shape(probe):
    status, ok, code, data, _ = probe["malformed"]
    assert (status, ok, code) == (400, False, "invalid_personal_id")
    assert data["error"]["code"] == "invalid_personal_id" and data["error"]["field"] == "SoDinhDanh"
    assert "format rule" in data["error"]["message"]


def test_lookup_data_has_the_native_keys_and_values_for_each_role(probe):
    assert probe["lookup"][:4] == probe["native_lookup"][:4]
    assert set(probe["lookup"][3]) == {"personal_id", "full_name", "birth_year", "commune_code"}
    assert probe["police_lookup"][:4] == probe["native_police_lookup"][:4]
    assert {"sex", "address", "date_of_birth", "province_code"} <= set(probe["police_lookup"][3])
    assert probe["lookup_unknown"][:3] == [404, False, "citizen_not_found"]


def test_an_answer_with_a_date_out_of_form_is_a_failed_reply(probe):
    assert probe["bad_date_lookup"][:4] == [200, False, "malformed_answer", {}]


def test_a_throttled_client_is_held_and_others_are_not(probe):
    status, ok, code, _, throttled = probe["throttled"]
    assert (status, ok, code, throttled) == (429, False, "rate_limited", True)
    assert probe["held_token"] is None
    assert probe["other_token"] == "province-22"


def test_each_operation_is_recorded_under_its_own_name(probe):
    names = {name for name, _, _ in probe["events"]}
    assert {"POST /c06 XacThucThongTinCongDan", "POST /c06 TraCuuThongTinCongDan"} <= names
    assert all(ok for name, ok, _ in probe["events"][:3])
    assert any(not ok and "throttled by target" in why for _, ok, why in probe["events"])
