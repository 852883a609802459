"""Run settings several parts share, each declared once: its default, its flag, its key.

The CLI's flags, the mock services' settings, the Locust run config, the security target
and the drills all take their defaults from here, so "seed 42, 100,000 citizens" is one
fact, not ten copies that can drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = ["RunSetting", "SEED", "POPULATION_SIZE", "COMMUNE_P95_MIN_SAMPLES", "BOARD_PORT", "BOARD_REFRESH_S"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunSetting(Generic[T]):
    """One shared setting: where a user gives it and what it is when they do not."""

    name: str  # the key in settings objects and run files (run-config.json, mocks' settings)
    default: T
    flag: str  # the CLI flag of `dientap run/drill/security/mocks`
    help: str


SEED: Final = RunSetting("seed", 42, "--seed", "seed of the synthetic population and arrivals")
POPULATION_SIZE: Final = RunSetting("population_size", 100_000, "--population-size",
                                    "citizens in the embedded population mock")

#: The fewest requests behind a commune's p95 for a report to show it; below, it says "too
#: few". Fewer than 20 samples cannot hold a 1-in-20 tail: under 10 the p95 *is* the
#: slowest request, and one slow request moves it. The summary records the value it used.
COMMUNE_P95_MIN_SAMPLES: Final = 20

# The live national board (metrics.board): served on 127.0.0.1 by the load process that holds
# the merged figures while `dientap run` or `dientap drill` runs.
BOARD_PORT: Final = RunSetting("board_port", 0, "--board",
                               "port of the live national board on 127.0.0.1 (0: a free port)")
BOARD_REFRESH_S: Final = RunSetting("board_refresh_s", 3.0, "--board-refresh",
                                    "how often the live board's page fetches new figures")
