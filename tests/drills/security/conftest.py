"""Fixtures of the security-drill tests: embedded clusters shared by a whole module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dientap.orchestration import MockCluster, MockClusterConfig
from tests.drills.security.clusters import POPULATION


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MockCluster]]:
    """Factory: ``start(vulnerable={...})`` → a started cluster, stopped when the module ends."""
    started: list[MockCluster] = []

    def start(vulnerable: dict[str, list[str]] | None = None) -> MockCluster:
        base: Path = tmp_path_factory.mktemp("security-cluster")
        config = MockClusterConfig(data_dir=base / "data", population_size=POPULATION, log_dir=base / "logs",
                                   vulnerable=vulnerable or {})  # the shipped limits
        cluster = MockCluster(config)
        started.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in started:
        cluster.close()
