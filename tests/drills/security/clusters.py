"""Helpers of the security-drill tests: test bounds and the target of an embedded cluster."""

from __future__ import annotations

from dientap.orchestration import MockCluster
from drills.security import SecurityLimits, SecurityTarget

__all__ = ["POPULATION", "TEST_LIMITS", "target_of"]

POPULATION = 3000
# Short bounds: a planted no_rate_limit must be caught in seconds, not in the default 20 s.
TEST_LIMITS = SecurityLimits(scrape_max_requests=1500, scrape_max_s=5.0, check_timeout_s=30.0)


def target_of(cluster: MockCluster) -> SecurityTarget:
    """The security target of an embedded test cluster."""
    return SecurityTarget(
        name="test cluster", kind="embedded", urls=cluster.urls, admin_token=cluster.config.admin_token,
        pki_dir=cluster.config.data_dir / "axis" / "pki", population_size=POPULATION, knows_signing_keys=True,
    )
