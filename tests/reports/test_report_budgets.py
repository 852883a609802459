"""budgets.yaml validation: every problem named with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError, ExitCode
from reports.budgets import DEFAULT_BUDGETS_PATH, load_budgets


def test_default_budgets_file_is_valid_and_covers_every_service() -> None:
    budgets = load_budgets()
    assert {b.service for b in budgets.budgets if b.service} == {"portal", "population", "axis"}
    assert any(b.service is None and b.endpoint is None and b.province is None for b in budgets.budgets)
    assert budgets.regression and budgets.regression[0].p95_growth == 0.10
    assert load_budgets(DEFAULT_BUDGETS_PATH) == budgets


BAD = """\
version: 1
budgets:
  - service: portal
    p95_ms: -3
    colour: red
  - p95_ms: 100
  - province: "99"
    error_rate: 2
  - service: axis
  - province: "04"
    p99_ms: 300
regression:
  - p95_growth: 0.1
    min_delta_ms: -1
  - service: portal
generator:
  require_trustworthy: maybe
"""


def test_every_problem_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_budgets(path)
    assert exc.value.exit_code == ExitCode.CONFIG_ERROR
    f = str(path)
    assert str(exc.value).splitlines() == [
        f"{f}:4: budgets[0].p95_ms: Input should be greater than 0, got -3",
        f"{f}:5: budgets[0].colour: unknown key",
        f"{f}:6: budgets[1]: a whole-run budget supports error_rate and min_throughput only; "
        "name a service or endpoint for latency limits",
        f"{f}:7: budgets[2].province: unknown province '99'; expected a 2-digit code (01 … 96) or '*'",
        f"{f}:8: budgets[2].error_rate: Input should be less than or equal to 1, got 2",
        f"{f}:9: budgets[3]: a budget needs at least one limit (p50_ms, p95_ms, p99_ms, error_rate, min_throughput)",
        f"{f}:10: budgets[4]: a province-wide budget supports p95_ms (sent) and error_rate only; "
        "name a service or endpoint for p99_ms",
        f"{f}:14: regression[0].min_delta_ms: Input should be greater than or equal to 0, got -1",
        f"{f}:15: regression[1]: a regression limit needs p50_growth, p95_growth, p99_growth or error_rate_growth",
        f"{f}:17: generator.require_trustworthy: Input should be a valid boolean, unable to interpret input, got 'maybe'",
    ]


def test_unknown_top_level_key_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("version: 1\nbudgets: []\nbaseline: runs/old\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b.yaml:3: baseline: unknown key"):
        load_budgets(path)
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found"):
        load_budgets(tmp_path / "nope.yaml")
