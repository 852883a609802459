"""Shared fixtures: real mock services on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from dientap.orchestration import MockCluster, MockClusterConfig

# Deterministic property tests: the same examples on every run and machine (a failure
# found once is found again), and no example database carried between runs.
settings.register_profile("dientap", derandomize=True, database=None)
settings.load_profile("dientap")

# Small enough to seed in well under a second, large enough for realistic look-ups.
TEST_POPULATION = 3000


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[Callable[..., MockCluster]]:
    """Factory: ``start_cluster(**MockClusterConfig fields)`` → a started cluster, stopped at teardown."""
    started: list[MockCluster] = []

    def start(**overrides: object) -> MockCluster:
        config = MockClusterConfig(
            data_dir=tmp_path / f"data{len(started)}",
            population_size=TEST_POPULATION,
            log_dir=tmp_path / f"logs{len(started)}",
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        cluster = MockCluster(config)
        started.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in started:
        cluster.close()


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockCluster]:
    """One default cluster for read-mostly end-to-end tests of a whole session."""
    base = tmp_path_factory.mktemp("shared-cluster")
    config = MockClusterConfig(data_dir=base / "data", population_size=TEST_POPULATION, log_dir=base / "logs")
    with MockCluster(config) as cluster:
        yield cluster
