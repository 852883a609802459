from pathlib import Path

import pytest
from pydantic import Field

from kernel.configfile import StrictModel, at_their_lines, load_model, parse_model
from kernel.errors import ConfigError, ConfigProblem


class Step(StrictModel):
    name: str
    duration: float = Field(gt=0)


class Plan(StrictModel):
    title: str
    method: list[Step]


def test_every_problem_is_reported_with_file_line_and_field():
    text = "title: x\nmethod:\n  - name: a\n    duration: 1\n  - name: b\n    duration: 5x\n    extra: 1\nbogus: 2\n"
    with pytest.raises(ConfigError) as info:
        parse_model(Plan, text, "drills/catalog/x.yaml")
    lines = str(info.value).splitlines()
    assert lines == [
        "drills/catalog/x.yaml:6: method[1].duration: Input should be a valid number, "
        "unable to parse string as a number, got '5x'",
        "drills/catalog/x.yaml:7: method[1].extra: unknown key",
        "drills/catalog/x.yaml:8: bogus: unknown key",
    ]


def test_missing_keys_point_at_their_parent():
    with pytest.raises(ConfigError) as info:
        parse_model(Plan, "method: []\n", "p.yaml")
    assert str(info.value) == "p.yaml:1: title: required key is missing"


def test_yaml_syntax_errors_name_the_line():
    with pytest.raises(ConfigError) as info:
        parse_model(Plan, "title: x\nmethod: [\n", "bad.yaml")
    assert str(info.value).startswith("bad.yaml:3: invalid YAML")


def test_top_level_must_be_a_mapping_and_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_model(Plan, "- 1\n", "list.yaml")
    with pytest.raises(ConfigError, match="file not found"):
        load_model(Plan, tmp_path / "absent.yaml")


def test_problems_found_after_validation_are_given_the_line_of_their_field_or_its_parent(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: x\nportal:\n  base_url: http://a\n  tls:\n    ca_bundle: ca.pem\nhosts:\n  - a\n  - b\n")
    found = at_their_lines([
        ConfigProblem(str(path), None, "portal.tls.ca_bundle", "no such file"),
        ConfigProblem(str(path), None, "portal.tls.client_key", "goes with client_cert"),  # absent: the tls block's
        ConfigProblem(str(path), None, "hosts[1]", "not a host"),
        ConfigProblem(str(path), 9, "name", "kept as given"),
        ConfigProblem("other.csv", None, "accounts_file", "another file's problem"),
    ], path)
    assert [(p.file, p.line) for p in found] == [(str(path), 5), (str(path), 5), (str(path), 8), (str(path), 9),
                                                ("other.csv", None)]
    assert found[0].message == "no such file"

