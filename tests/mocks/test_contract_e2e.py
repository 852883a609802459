"""Each mock keeps the contract it publishes, tested as an independent tester would.

* Schemathesis (its CLI, a subprocess) fuzzes each real mock process from its own
  ``/openapi.json`` with ALL its checks — response schema, status code, content type and
  header conformance, schema-violating requests refused, schema-valid ones accepted,
  unsupported methods answered 405 with the path's ``Allow``, authentication enforced —
  in its coverage and fuzzing phases. "Accepted" means a 2xx or a refusal only state can
  explain: 401/403/404/409/429, 423 (an account the fuzzer itself locked out) and 422 (a
  rule no schema can state: an unknown commune, an ID number's checksum, a signature);
  everything a schema can state is stated, so a schema-valid request never gets a 400.
* Raw sockets on loopback: a head over the cap gets 431 and what the HTTP parser refuses
  (bad header bytes, Content-Length with Transfer-Encoding, invalid chunking) a 400, both
  in the JSON error form.
"""

from __future__ import annotations

import subprocess  # nosec B404 - the Schemathesis CLI, fixed arguments
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from dientap.orchestration import MockCluster, MockClusterConfig
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.defaults import SEED
from kernel.synthetic import citizen_at
from mocks.core.protocol import MAX_HEAD_BYTES
from tests.conftest import TEST_POPULATION
from tests.mocks.wire import exchange

pytestmark = pytest.mark.e2e

# Examples per operation in the fuzzing phase: small, the coverage phase's boundary cases
# do most of the work (5-9 s a run on a quiet 2-core machine).
MAX_EXAMPLES = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockCluster]:
    root = tmp_path_factory.mktemp("contract")
    config = MockClusterConfig(data_dir=root / "data", population_size=TEST_POPULATION, log_dir=root / "logs")
    with MockCluster(config) as started:
        yield started


def _bearer(caller: str, url: str) -> str:
    """A token of the service's own kind of caller: a client system, an agency, a citizen, an officer."""
    if caller == "population":
        body = {"client_id": "police", "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, "police")}
    elif caller == "axis":
        agency = "000.00.00.H26"
        body = {"agency_code": agency, "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, agency)}
    elif caller == "portal-officer":
        account = "00004.officer1"
        body = {"kind": "officer", "account": account, "password": derive_password(DEFAULT_DRY_RUN_SECRET, account)}
    else:
        person = citizen_at(SEED.default, 5)
        body = {"kind": "citizen", "personal_id": person.personal_id,
                "password": derive_password(DEFAULT_DRY_RUN_SECRET, person.personal_id)}
    reply = httpx.post(f"{url}/auth/token", json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


# The portal twice: its citizen routes with a citizen's token, its worklist and
# transitions with an officer's (each is 403 to the other).
@pytest.mark.parametrize("caller", ["population", "axis", "portal-citizen", "portal-officer"])
def test_each_mock_answers_as_its_openapi_says_under_every_schemathesis_check(
    cluster: MockCluster, caller: str, tmp_path: Path
) -> None:
    service = caller.split("-")[0]
    url = cluster.urls[service]
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[auth.openapi.bearerAuth]\nbearer = "{_bearer(caller, url)}"\n'
        f'[auth.openapi.adminToken]\nbearer = "{cluster.config.admin_token}"\n'
        "[checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "401", "403", "404", "409", "422", "423", "429"]\n'
    )
    cli = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(  # nosec B603 - fixed arguments, loopback target
        [str(cli), "--config-file", str(config), "run", f"{url}/openapi.json", "--checks", "all",
         "--phases", "coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--workers", "1",
         "--no-color", "--request-timeout", "10",
         # Injecting real faults would fail the operations fuzzed after them; logging out
         # would revoke the fuzzer's own token. Both are tested by their own tests.
         "--exclude-operation-id", "post_admin_faults", "--exclude-operation-id", "post_auth_logout"],
        capture_output=True, text=True, cwd=tmp_path, timeout=240, check=False,
    )
    report = run.stdout[-6000:]
    assert run.returncode == 0, report
    assert "✅ Coverage" in report and "✅ Fuzzing" in report, report
    tested = int(report.split("Tested: ")[1].split()[0])
    generated, passed = _cases(report)
    assert tested >= {"population": 10, "axis": 15, "portal": 15}[service], report
    assert generated >= 100 and passed == generated, report


def _cases(report: str) -> tuple[int, int]:
    """(generated, passed) from the summary line ``N generated, M passed[, K skipped]``."""
    line = report.split("Test cases:")[1].strip().splitlines()[0]
    parts = dict(reversed(part.strip().split(" ", 1)) for part in line.split(","))
    return int(parts["generated"]), int(parts["passed"])


_PAD = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20))  # 20 KiB of header lines


@pytest.mark.parametrize(
    ("raw", "status", "code", "reason"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + _PAD + b"\r\n", 431, "headers_too_large", f"{MAX_HEAD_BYTES}"),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n", 431, "headers_too_large", ""),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Bad: a\x01b\r\n\r\n", 400, "invalid_http", "header value"),
        (b"POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400, "invalid_http", "Transfer-Encoding"),
        (b"POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\n{}\r\n0\r\n\r\n", 400, "invalid_http", "chunk size"),
    ],
    ids=["many-headers", "one-endless-header", "bad-header-byte", "content-length-and-chunked", "bad-chunk-size"],
)
def test_protocol_level_refusals_come_in_the_json_error_form(cluster: MockCluster, raw, status, code, reason) -> None:
    got, headers, body = exchange(cluster.urls["population"], raw)
    assert got == status and headers["content-type"] == "application/json" and headers["connection"] == "close"
    error = orjson.loads(body)["error"]
    assert error["code"] == code and reason in error["message"], error


def test_a_head_under_the_cap_is_served_and_405_names_every_method_of_the_path(cluster: MockCluster) -> None:
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(14))  # 14 KiB: under the cap
    got, _, body = exchange(cluster.urls["population"], b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                             + pad + b"\r\n")
    assert (got, orjson.loads(body)["status"]) == (200, "ok")
    admin = {"authorization": f"Bearer {cluster.config.admin_token}"}
    wrong = httpx.put(f"{cluster.urls['portal']}/admin/faults", headers=admin, timeout=10)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "DELETE, GET, HEAD, POST")
    assert wrong.json()["error"]["code"] == "method_not_allowed"
