"""A budgets file that would let a run through unjudged is refused: infinite or loose limits,
a limit given twice, no budget line at all, readiness colours out of order."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from reports.budgets import load_budgets


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "b.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_budgets(path)
    return [line.removeprefix(str(path)) for line in str(info.value).splitlines()]


def test_an_infinite_limit_is_refused_not_written_as_a_null_limit(tmp_path: Path) -> None:
    text = ("version: 1\nbudgets:\n  - {service: portal, p95_ms: .inf}\n  - {service: axis, error_rate: .nan}\n"
            "regression:\n  - {p95_growth: .inf}\nreadiness:\n  p95_ms: {sign_in: .inf}\n")
    assert _errors(tmp_path, text) == [
        ":3: budgets[0].p95_ms: Input should be a finite number, got inf",
        ":4: budgets[1].error_rate: Input should be a finite number, got nan",
        ":6: regression[0].p95_growth: Input should be a finite number, got inf",
        ":8: readiness.p95_ms.sign_in: Input should be a finite number, got inf",
    ]


def test_a_boolean_is_not_a_limit_and_a_key_given_twice_is_not_the_last_one_wins(tmp_path: Path) -> None:
    assert _errors(tmp_path, "budgets:\n  - {service: portal, p95_ms: true}\n") == [
        ":2: budgets[0].p95_ms: Input should be a number, not a boolean, got True"]
    assert _errors(tmp_path, "budgets:\n  - {service: portal, p95_ms: 5, p95_ms: 9999}\n") == [
        ":2: budgets[0].p95_ms: duplicate key (first at line 2): a key may appear once in a mapping"]


def test_a_file_without_a_budget_line_is_refused_naming_the_file(tmp_path: Path) -> None:
    message = ("no budget lines: a budgets file needs version: 1 and at least one line under budgets: or "
               "regression: (or readiness: thresholds for the report)")
    # An empty document has no line to point at; a file with keys points at its first.
    for text, where in (("", ""), ("# budgets to come\n", ""), ("version: 1\n", ":1"), ("version: 1\nbudgets: []\n", ":1")):
        assert _errors(tmp_path, text) == [f"{where}: {message}"], text
    # Regression lines alone judge a run against a baseline; `dientap report --budgets`
    # reads a file's readiness thresholds, budget lines or not.
    path = tmp_path / "b.yaml"
    path.write_text("version: 1\nregression:\n  - {p95_growth: 0.1}\n", encoding="utf-8")
    assert load_budgets(path).regression[0].p95_growth == 0.1
    path.write_text("version: 1\nbudgets: []\nreadiness: {amber_factor: 1.5}\n", encoding="utf-8")
    assert load_budgets(path).readiness.amber_factor == 1.5


def test_a_green_error_rate_above_the_amber_one_is_refused(tmp_path: Path) -> None:
    text = "budgets:\n  - {error_rate: 0.1}\nreadiness:\n  error_rate_green: 0.5\n  error_rate_amber: 0.01\n"
    assert _errors(tmp_path, text) == [
        ":4: readiness: error_rate_green (0.5) is above error_rate_amber (0.01); "
        "expected error_rate_green <= error_rate_amber"]
