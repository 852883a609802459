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
    # The shipped regression floors are the compare defaults (set by measuring identical runs).
    assert budgets.regression and budgets.regression[0].p95_growth == 1.0 and budgets.regression[0].min_delta_ms == 20
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
        f"{f}:6: budgets[1]: a whole-run budget supports error_rate, max_throttled_rate and min_throughput only; "
        "name a service or endpoint for latency limits",
        f"{f}:7: budgets[2].province: unknown province '99'; expected a 2-digit code (01 … 96) or '*'",
        f"{f}:8: budgets[2].error_rate: Input should be less than or equal to 1, got 2",
        f"{f}:9: budgets[3]: a budget needs at least one limit "
        "(p50_ms, p95_ms, p99_ms, error_rate, max_throttled_rate, min_throughput)",
        f"{f}:10: budgets[4]: a province-wide budget supports p95_ms (sent), error_rate and max_throttled_rate only; "
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


SELECTOR_MISFITS = """\
budgets:
  - province: "*"
    measure: intended
    p95_ms: 900
  - service: portal
    province: "04"
    min_throughput: 0.9
  - province: "01"
    p95_ms: 900
    p50_ms: 100
    min_throughput: 0.9
  - {service: axis, error_rate: 0.01, measure: exact}
regression:
  - {p95_growth: -0.1}
readiness:
  amber_factor: 0.5
  p95_ms: {sign_in: 0, coffee: 3}
"""


def test_limits_that_do_not_fit_the_selector_are_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(SELECTOR_MISFITS, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_budgets(path)
    f = str(path)
    assert str(exc.value).splitlines() == [
        f"{f}:2: budgets[0]: a province-wide budget supports p95_ms (sent), error_rate and max_throttled_rate only; "
        "name a service or endpoint for measure: intended",
        f"{f}:5: budgets[1]: min_throughput is not measured per province; remove province or min_throughput",
        f"{f}:8: budgets[2]: a province-wide budget supports p95_ms (sent), error_rate and max_throttled_rate only; "
        "name a service or endpoint for p50_ms, min_throughput",
        f"{f}:12: budgets[3].measure: Input should be 'sent' or 'intended', got 'exact'",
        f"{f}:14: regression[0].p95_growth: Input should be greater than or equal to 0, got -0.1",
        f"{f}:16: readiness.amber_factor: Input should be greater than or equal to 1, got 0.5",
        f"{f}:17: readiness.p95_ms.sign_in: Input should be greater than 0, got 0",
        f"{f}:17: readiness.p95_ms.coffee: unknown key",
    ]


def test_labels_default_to_the_position_and_readiness_thresholds_are_read(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("budgets:\n  - {service: axis, p95_ms: 10}\n  - {name: named, error_rate: 0.1}\n"
                    "regression:\n  - {p99_growth: 0.2}\nreadiness:\n  p95_ms: {catalogue: 50}\n", encoding="utf-8")
    b = load_budgets(path)
    assert [line.label(i) for i, line in enumerate(b.budgets)] == ["budgets[0]", "named"]
    assert b.regression[0].label(0) == "regression[0]" and b.regression[0].min_delta_ms == 5.0
    assert (b.readiness.p95_ms.catalogue, b.readiness.p95_ms.sign_in) == (50.0, 1000.0)
    assert b.generator.require_trustworthy and b.generator.fail_on_abort
