"""The vdxp axis adapter (scenarios.adapters.vdxp) against a real axis mock: the personas'
Reply data, retries as one document, and the Retry-After gate of a signed-request scheme."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from scn_support import HERE

from kernel.roster import load_roster

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(HERE.parent / "mocks" / "axis"))
from axis_harness import start_axis, stop_axis  # noqa: E402


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("vdxp")
    unconnected = load_roster().provinces[1].code
    readiness = tmp / "readiness.yaml"
    readiness.write_text(f'provinces:\n  "{unconnected}": {{axis_connected: false}}\n', encoding="utf-8")
    axis = start_axis(tmp / "data", readiness_file=str(readiness))
    try:
        out = subprocess.run([sys.executable, str(HERE / "vdxp_probe.py"), str(axis.data_dir), axis.url, unconnected],
                             capture_output=True, text=True, timeout=120, check=True)
    finally:
        stop_axis(axis.process)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_vdxp_protocol_picks_the_sdk_adapter_and_sends_as_the_native_one(probe):
    assert probe["adapter"] == "VdxpAxisAdapter"
    assert probe["token"] == "000.00.00.H26"  # a handle: the system id, nothing signed in
    status, ok, document_id, again, duplicate = probe["sent"]
    assert (status, ok, again, duplicate) == (200, True, document_id, True) and len(document_id) == 32


def test_inbox_receipts_and_acks_come_back_in_the_native_shape(probe):
    assert probe["inbox"] == [{"kind": "document", "document_id": probe["sent"][2], "sender_code": "000.00.00.H26",
                               "attempt": 1}]
    assert probe["receipts_sent"] == [True, True]
    assert probe["illegal"] == [[409, False, "illegal_transition"]]  # 02 after 03: the native rule, the SDK form
    assert probe["ack"][0] is True and probe["ack"][1] == []  # the second ack: idempotent, nothing new
    assert probe["again"] == []
    assert probe["receipts_of"] == [["H26.00004", "01"], ["H26.00004", "03"]]
    assert probe["status_deliveries"] == [["receipt", "H26.00004", "01"], ["receipt", "H26.00004", "03"]]


def test_a_province_not_connected_holds_its_agency_until_retry_after(probe):
    handle_ok, status, ok, retry_after, code, held, token_after = probe["unconnected"]
    assert (handle_ok, status, ok, retry_after, code) == (True, 503, False, 30.0, "province_not_connected")
    assert held is True and token_after is None  # no request while the Retry-After is pending


def test_locust_sees_each_sdk_operation_by_name(probe):
    names = {name for service, name, _ in probe["events"] if service == "axis"}
    assert names == {"POST /vdxp/sendEdoc", "POST /vdxp/getReceivedEdocList", "POST /vdxp/updateStatus",
                     "POST /vdxp/getSentEdocList"}
    failures = [(name, exc) for _, name, exc in probe["events"] if exc]
    # The SDK's ErrorCode names each refusal in Locust's failure table, as the native code does.
    assert failures == [("POST /vdxp/updateStatus", "HTTP 409 illegal_transition"),
                        ("POST /vdxp/getReceivedEdocList", "HTTP 503 province_not_connected")]
