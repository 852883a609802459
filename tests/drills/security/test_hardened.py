"""Every check against hardened mocks: each must pass (no false positives)."""

from __future__ import annotations

import hashlib

import pytest

from dientap.orchestration import MockCluster
from drills.security import all_checks, run_suite
from drills.security.context import CheckContext
from mocks.axis.store_files import SAMPLE_FILES
from reports.security_scorecard import SecurityScorecard
from tests.drills.security.clusters import TEST_LIMITS, target_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hardened_cluster(module_cluster) -> MockCluster:
    """One hardened cluster for the module."""
    return module_cluster()


@pytest.fixture(scope="module")
def hardened(hardened_cluster: MockCluster) -> SecurityScorecard:
    """The whole suite, run once against a hardened cluster."""
    return run_suite(target_of(hardened_cluster), all_checks(), limits=TEST_LIMITS)


@pytest.mark.parametrize("check_id", [c.spec.id for c in all_checks()])
def test_check_passes_against_hardened_mocks(hardened: SecurityScorecard, check_id: str) -> None:
    result = next(r for r in hardened.checks if r.id == check_id)
    assert result.verdict == "PASS", f"{check_id}: {result.verdict}: {result.summary}"
    assert result.summary


def test_incident_checks_record_detection_time_and_phase(hardened: SecurityScorecard) -> None:
    by_id = {r.id: r for r in hardened.checks}
    for check_id in ("auth.lockout", "abuse.population-scraping"):
        r = by_id[check_id]
        assert r.phase == "contain", (check_id, r.phase)
        assert r.detected_after_s is not None and 0 <= r.detected_after_s < 10


def test_scorecard_states_the_shipped_limits_it_found(hardened: SecurityScorecard) -> None:
    # The cluster was started like `dientap mocks`, with no override: the scorecard says so.
    from kernel.defaults import POPULATION_RATE_LIMIT_BURST, POPULATION_RATE_LIMIT_PER_S
    from mocks.core.settings import ServiceSettings

    shipped = ServiceSettings()
    found = hardened.target_limits
    assert found is not None
    assert (found.throttle_rate_per_s, found.throttle_burst) == (POPULATION_RATE_LIMIT_PER_S, POPULATION_RATE_LIMIT_BURST)
    assert (found.lockout_threshold, found.lockout_s) == (shipped.lockout_threshold, shipped.lockout_seconds)
    assert found.token_ttl_s == dict.fromkeys(("portal", "population", "axis"), shipped.token_ttl_s)
    assert set(found.sources.values()) == {"GET /admin/limits"}


def test_evidence_never_carries_secrets(hardened: SecurityScorecard) -> None:
    text = hardened.model_dump_json()
    assert "eyJ" not in text  # no JWT, not even a header
    assert "dientap-dry-run" not in text
    assert '"password":"‹redacted›"' in text.replace(" ", "").replace("\\", "")


def test_attachments_come_from_the_document_store_and_only_their_digests_are_kept(
        hardened_cluster: MockCluster, hardened: SecurityScorecard) -> None:
    # The positive side of ssrf.attachment-urls: MockCluster allowlists the axis mock's
    # document store (GET /store/{name}), and the portal really fetches from it.
    urls = hardened_cluster.urls
    ctx = CheckContext(target_of(hardened_cluster), TEST_LIMITS)
    try:
        citizen, token = ctx.signed_in_citizen()
        paper = f"{urls['axis']}/store/giay-khai-sinh.pdf"
        r = ctx.submit(token, ctx.dossier_body(citizen, attachments=[{"name": "giay-khai-sinh.pdf", "url": paper}]))
        assert r.status_code == 201, r.text
        stored = ctx.send("portal", "GET", f"/dossiers/{r.json()['code']}", headers=ctx.bearer(token)).json()
        content = SAMPLE_FILES["giay-khai-sinh.pdf"]
        assert stored["fields"]["attachment[0]"] == (f"giay-khai-sinh.pdf; {len(content)} bytes; "
                                                     f"sha256:{hashlib.sha256(content).hexdigest()}")
        # A name the store does not hold: refused naming the field, nothing stored.
        r = ctx.submit(token, ctx.dossier_body(citizen, attachments=[
            {"name": "a.pdf", "url": paper}, {"name": "b.pdf", "url": f"{urls['axis']}/store/missing.pdf"}]))
        assert (r.status_code, r.json()["error"]["field"]) == (422, "attachments[1].url"), r.text
    finally:
        ctx.close()
