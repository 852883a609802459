"""The adapters (and the harness's arrival plan) through a real loopback HTTP server:
what each call sends, how answers become replies, how Locust's statistics see them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from scn_support import HERE

from kernel.credentials import derive_password
from kernel.roster import load_roster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "adapter_probe.py")], capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _requests(probe: dict[str, Any], method: str, path_prefix: str) -> list[dict[str, Any]]:
    return [r for r in probe["seen"] if r["method"] == method and r["path"].startswith(path_prefix)]


def test_a_province_has_one_gateway_per_process(probe):
    assert probe["same_gateway"] and probe["other_province"]


def test_officer_tokens_are_cached_and_short_lived_ones_are_not(probe):
    assert probe["officer_tokens"] == ["tok-00004.officer1"] * 2
    signins = _requests(probe, "POST", "/auth/token")
    officer = [r["json"] for r in signins if r["json"].get("kind") == "officer"]
    assert officer == [{"kind": "officer", "account": "00004.officer1",
                        "password": derive_password("s3cret", "00004.officer1")}]  # signed in once, for two calls
    # population tokens expire in 10 s, inside the 30 s refresh margin: each call signs in again
    assert sum(r["json"].get("client_id") == "province-01" for r in signins) == 2
    assert probe["axis_refused"] is None


def test_the_submission_carries_token_idempotency_key_and_applicant(probe):
    first, retry = _requests(probe, "POST", "/dossiers")
    assert first == retry  # the retry is the same request, with the same Idempotency-Key
    assert (first["authorization"], first["idempotency_key"], first["content_type"]) == (
        "Bearer tok-00004.officer1", "key-1", "application/json")
    body = first["json"]
    assert (body["procedure_code"], body["commune_code"], body["channel"]) == ("1.001", "00004", 2)
    assert set(body["applicant"]) == {"personal_id", "full_name", "date_of_birth"}


def test_answers_become_replies_with_status_error_code_and_retry_after(probe):
    overloaded, created = probe["submits"]
    assert overloaded == [503, False, "overloaded", 2.5, {"error": {"code": "overloaded"}}]
    assert created == [201, True, None, None, {"code": "D-1", "status": 1}]
    worklist, garbled, throttled = probe["reads"]
    assert worklist == [200, True, {"items": [{"code": "D-1"}, {"code": "D-2"}]}, None, None]  # a list is wrapped
    # A body that is not JSON is no data, not a crash, and for a dossier read no dossier: a failure.
    assert garbled == [200, False, {}, "malformed_answer", None]
    assert throttled == [429, False, {"error": "slow down"}, None, None]  # unreadable Retry-After: none
    assert probe["dead"] == [0, False, True]  # nothing listening: a transport error, status 0


def test_query_strings_and_ids_are_built_by_the_adapter(probe):
    paths = [r["path"] for r in probe["seen"]]
    assert "/dossiers?limit=5&status=1" in paths and "/procedures?province=04" in paths
    # a document id with slashes, a space and '#' stays one path segment
    assert "/documents/000.00.00.H26%2F2026%2F%207%231/receipts" in paths


def test_shared_pools_never_send_a_cookie_the_server_set(probe):
    assert all(r["cookie"] is None for r in probe["seen"])  # every token answer set one


def test_locust_sees_the_service_as_request_type_and_the_reason_of_each_failure(probe):
    failures = [(e["type"], e["name"], e["exception"]) for e in probe["events"] if e["exception"]]
    assert failures == [
        ("axis", "POST /auth/token", "HTTP 401 bad_credentials"),
        ("portal", "GET /procedures", "catalogue not published"),  # 200, but an empty catalogue
        ("portal", "POST /dossiers", "HTTP 503 overloaded"),
        ("portal", "GET /dossiers/{code}", "malformed answer: dossier has no status"),  # 200, but not JSON
        ("portal", "GET /dossiers/{code}", "HTTP 429"),
        ("axis", "GET /inbox", "no response (ConnectionRefusedError)"),  # nothing listening
    ]
    assert "portal | POST /dossiers" in probe["locust_stats"] and "population | POST /auth/token" in probe["locust_stats"]
    assert "portal | GET /dossiers/{code}" in probe["locust_stats"]  # parameterised URLs grouped by name
    assert not [s for s in probe["locust_stats"] if "D-1" in s]


def test_custom_adapter_sets_load_by_name_and_a_wrong_name_is_a_config_error(probe):
    assert probe["custom_province"] == "11"
    assert probe["bad_adapter"] == ("targets: adapter: cannot load adapter 'no_such_pkg.adapters:build': "
                                    "No module named 'no_such_pkg'")
    assert probe["sign_without_ca"] == "no PKI directory configured for the axis target (targets.yaml pki_dir)"


def test_arrival_plan_shares_the_national_rate_equally_or_by_commune_size(probe):
    roster = load_roster()
    smoke, golive = probe["harness"]["smoke"], probe["harness"]["golive"]
    assert len(smoke["rates"]) == 34 and list(smoke["rates"].values()) == pytest.approx([5.0 / 34] * 34)
    assert (smoke["points"], smoke["seed"], smoke["duration_s"]) == ([[0, 0.5], [10, 1.5], [25, 1.0]], 7, 40)
    assert len(golive["rates"]) == 3321 and sum(golive["rates"].values()) == pytest.approx(3.0)
    weights = {c.code: c.size_weight for c in roster.communes}
    per_weight = {rate / weights[code] for code, rate in golive["rates"].items()}
    assert max(per_weight) == pytest.approx(min(per_weight))  # proportional to size
    assert golive["points"] == [[0, 0.3], [60, 2.0], [150, 1.0]]


def test_harness_refuses_a_foreign_host_and_sends_locust_tables_to_a_file(probe):
    harness = probe["harness"]
    assert harness["foreign_host"] == ("portal host 'dichvucong.gov.vn' is not on the allowlist (default: loopback only); "
                                       "add it explicitly with --allow-host dichvucong.gov.vn if you own that system")
    assert harness["loopback"]["profile"] == "smoke" and harness["loopback"]["pki_dir"] is None
    assert harness["tables"] == {"text": "Type Name # reqs\n", "propagate": False, "handlers": ["FileHandler"]}


def test_requests_of_a_scheduled_actor_carry_intended_starts_that_follow_one_another(probe):
    """The HTTP layer stamps each request with the actor's schedule (scenarios.schedule):
    the first submission is due when the schedule began, the retry at the first one's
    intended end; requests outside any schedule carry none."""
    submits = [e["intended_start"] for e in probe["events"] if e["name"] == "POST /dossiers"]
    assert submits[0] == 1.0 and submits[1] > submits[0]
    others = {e["intended_start"] for e in probe["events"] if e["name"] != "POST /dossiers"}
    assert others == {None}
