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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with end-to-end tests first, the others after; each file whole and in its own order.

    ``make test`` hands whole files to two workers (``--dist loadfile``) in this order
    (``--no-loadscope-reorder``). xdist's own order puts the files with the most tests
    first, which left the long end-to-end files — one to three tests each, 20 to 170 s —
    for last: on 2026-12-07 one worker sat idle for the last 86 s of a 579-s phase. With
    them first, the hundreds of sub-second tests fill in at the end. A file is moved as a
    whole (some mix e2e and quick tests), so its module fixtures are set up once.
    """
    with_e2e = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items.sort(key=lambda item: item.path not in with_e2e)  # stable


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
