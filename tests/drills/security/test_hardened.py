"""Every check against hardened mocks: each must pass (no false positives)."""

from __future__ import annotations

import pytest

from drills.security import all_checks, run_suite
from reports.security_scorecard import SecurityScorecard
from tests.drills.security.clusters import TEST_LIMITS, target_of

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def hardened(module_cluster) -> SecurityScorecard:
    """The whole suite, run once against a hardened cluster."""
    return run_suite(target_of(module_cluster()), all_checks(), limits=TEST_LIMITS)


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
