"""Fixtures of the drill tests: one embedded cluster per test module, and the drill-side
traffic context that reaches it.

The cluster is module-scoped (about a second to start); tests that fault it leave it as
they found it — the ``clean_cluster`` fixture clears every injected fault after each test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dientap.orchestration import MockCluster, MockClusterConfig
from drills.backends.traffic import TrafficContext
from kernel.allowlist import Allowlist
from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.defaults import SEED

POPULATION = 3000


@pytest.fixture(scope="module")
def drill_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockCluster]:
    """The three embedded mocks on free loopback ports, for one test module."""
    base: Path = tmp_path_factory.mktemp("drill-cluster")
    config = MockClusterConfig(data_dir=base / "data", population_size=POPULATION, log_dir=base / "logs")
    with MockCluster(config) as cluster:
        yield cluster


@pytest.fixture
def clean_cluster(drill_cluster: MockCluster) -> Iterator[MockCluster]:
    """The module's cluster; every fault injected by the test is cleared afterwards."""
    yield drill_cluster
    headers = {"Authorization": f"Bearer {drill_cluster.config.admin_token}"}
    for url in drill_cluster.urls.values():
        httpx.delete(f"{url}/admin/faults", headers=headers, timeout=10)


# Each test's traffic is its own run: the run id's last four characters number its documents
# (``DRILL-xxxx``), and two tests sending through one module cluster under one run id would
# re-send each other's message ids with new contents (409 message_id_conflict).
_RUNS = itertools.count(1)


@pytest.fixture
def traffic_context(drill_cluster: MockCluster) -> TrafficContext:
    """What drill-side traffic needs to reach and sign in to the module's cluster."""
    return TrafficContext(
        urls=dict(drill_cluster.urls), secret=DEFAULT_DRY_RUN_SECRET, seed=SEED.default, population_size=POPULATION,
        pki_dir=drill_cluster.config.data_dir / "axis" / "pki", run_id=f"20260101-000000-t{next(_RUNS):03d}",
        allowlist=Allowlist(),
    )
