"""The population README's table of throttle defaults and the declared defaults are one fact."""

from __future__ import annotations

import re
from pathlib import Path

from kernel.defaults import POPULATION_RATE_LIMIT_BURST, POPULATION_RATE_LIMIT_PER_S
from mocks.core.settings import ServiceSettings

README = Path(__file__).resolve().parents[3] / "mocks" / "population" / "README.md"


def _table_default(setting: str) -> float:
    """The ``default`` cell of ``setting``'s row in the README's table."""
    rows = re.findall(rf"^\| `{setting}` \| ([0-9][0-9,.]*) \|", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(rows) == 1, f"{README}: expected one table row for `{setting}`, found {len(rows)}"
    return float(rows[0].replace(",", ""))


def test_readme_states_the_declared_throttle_defaults() -> None:
    assert _table_default("rate_limit_per_s") == POPULATION_RATE_LIMIT_PER_S
    assert _table_default("rate_limit_burst") == POPULATION_RATE_LIMIT_BURST


def test_the_services_take_the_declared_defaults() -> None:
    settings = ServiceSettings()
    assert (settings.rate_limit_per_s, settings.rate_limit_burst) == (POPULATION_RATE_LIMIT_PER_S,
                                                                      POPULATION_RATE_LIMIT_BURST)


def test_no_other_figure_for_the_throttle_in_the_readme() -> None:
    # The old contradiction (500/s in the README, 5,000/s shipped, 200/s in the security run)
    # came from figures stated in prose: the table is the only place the README states them.
    text = README.read_text(encoding="utf-8")
    stated = set(re.findall(r"default (\d[\d,]*)/s", text)) | set(re.findall(r"burst (\d[\d,]*)\b", text))
    assert stated <= {f"{POPULATION_RATE_LIMIT_PER_S:g}", str(POPULATION_RATE_LIMIT_BURST)}, stated
