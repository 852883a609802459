"""Config files are read strictly: finite, real numbers and booleans; every key once; readable files."""

from __future__ import annotations

import pytest
from pydantic import Field

from kernel.configfile import StrictModel, load_model, parse_model, read_text_file
from kernel.errors import ConfigError


class Window(StrictModel):
    limit_ms: float | None = Field(default=None, gt=0)
    think_s: tuple[float, float] = (1.0, 2.0)
    samples: int = Field(default=30, ge=1)
    enabled: bool = True


class Plan(StrictModel):
    windows: list[Window] = []  # noqa: RUF012 - a pydantic field (StrictModel), copied per instance
    ratio: float = Field(default=0.5, ge=0)


def _raises(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_model(Plan, text, "p.yaml")
    return info.value


def _errors(text: str) -> list[str]:
    return str(_raises(text)).splitlines()


def test_infinite_and_nan_numbers_are_refused_wherever_they_are():
    assert _errors("ratio: .inf\nwindows:\n  - {limit_ms: .nan, think_s: [1, -.inf]}\n") == [
        "p.yaml:3: windows[0].limit_ms: Input should be a finite number, got nan",
        "p.yaml:3: windows[0].think_s[1]: Input should be a finite number, got -inf",
        "p.yaml:1: ratio: Input should be a finite number, got inf",
    ]


def test_a_boolean_or_a_quoted_number_is_not_a_number():
    assert _errors("windows:\n  - limit_ms: true\n    samples: false\n    think_s: ['1', 2]\nratio: '0.5'\n") == [
        "p.yaml:2: windows[0].limit_ms: Input should be a number, not a boolean, got True",
        "p.yaml:4: windows[0].think_s[0]: Input should be a number, not a string, got '1'",
        "p.yaml:3: windows[0].samples: Input should be a number, not a boolean, got False",
        "p.yaml:5: ratio: Input should be a number, not a string, got '0.5'",
    ]
    # A string that is no number keeps pydantic's message; real numbers still pass.
    assert _errors("ratio: fast\n") == ["p.yaml:1: ratio: Input should be a valid number, "
                                        "unable to parse string as a number, got 'fast'"]
    plan = parse_model(Plan, "ratio: 1\nwindows: [{limit_ms: 2.5, think_s: [0, 3], samples: 7}]\n", "p.yaml")
    assert (plan.ratio, plan.windows[0].limit_ms, plan.windows[0].think_s, plan.windows[0].samples) == (1, 2.5, (0, 3), 7)


def test_a_number_with_an_exponent_is_a_number_as_in_yaml_1_2():
    """PyYAML alone reads ``1e3`` and ``1.0e3`` as strings (YAML 1.1 wants a dot and a signed
    exponent), and the strict number check then refused them as "not a string"."""
    plan = parse_model(Plan, "ratio: 1e3\nwindows: [{limit_ms: 2.5E-1, think_s: [1.0e3, .5e1]}]\n", "p.yaml")
    assert (plan.ratio, plan.windows[0].limit_ms, plan.windows[0].think_s) == (1000.0, 0.25, (1000.0, 5.0))
    # Whole numbers stay whole (an exponent is needed to be read as a float), and quoted ones stay strings.
    assert parse_model(Plan, "windows: [{samples: 1_000}]\n", "p.yaml").windows[0].samples == 1000
    assert _errors("ratio: '1e3'\n") == ["p.yaml:1: ratio: Input should be a number, not a string, got '1e3'"]
    # A whole count may be written 1e3; a fraction is still no count.
    assert parse_model(Plan, "windows: [{samples: 1e3}]\n", "p.yaml").windows[0].samples == 1000
    assert _errors("windows: [{samples: 15e-1}]\n") == [
        "p.yaml:1: windows[0].samples: Input should be a valid integer, got a number with a fractional part: 1.5"]


def test_a_boolean_is_true_or_false_not_a_number_or_a_word_in_quotes():
    assert _errors("windows:\n  - enabled: 1\n  - enabled: 'yes'\n") == [
        "p.yaml:2: windows[0].enabled: Input should be true or false, not a number, got 1",
        "p.yaml:3: windows[1].enabled: Input should be true or false, not a string, got 'yes'",
    ]


def test_a_key_given_twice_is_refused_at_its_second_line_with_its_path():
    text = "ratio: 0.1\nwindows:\n  - {limit_ms: 5, limit_ms: 9999}\n  - samples: 3\n    samples: 4\nratio: 0.2\n"
    assert _errors(text) == [
        "p.yaml:3: windows[0].limit_ms: duplicate key (first at line 3): a key may appear once in a mapping",
        "p.yaml:5: windows[1].samples: duplicate key (first at line 4): a key may appear once in a mapping",
        "p.yaml:6: ratio: duplicate key (first at line 1): a key may appear once in a mapping",
    ]


def test_a_directory_or_a_name_too_long_is_one_problem_naming_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_model(Plan, tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory; expected a YAML file"
    long_name = tmp_path / ("x" * 5000)
    with pytest.raises(ConfigError) as info:
        read_text_file(long_name)
    assert str(info.value) == f"{long_name}: cannot read: File name too long"


def test_aliases_that_expand_past_any_config_file_are_refused_without_expanding_them():
    """Ten lines of nested aliases ("billion laughs") expand to 10⁹ values: the duplicate-key
    walk followed every alias (depth 8 had not ended after 60 s) and pydantic would have
    validated them all. Counted once per node, they are refused at once."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    assert str(_raises("\n".join(lines) + "\n")) == (  # every key, list and value counted
        "p.yaml: expands to 12,345,679,021 values through its aliases (&anchor / *alias); "
        "a config file holds at most 100,000")
    # An alias used as YAML intends — a shared block — is fine, and a key given twice inside
    # it is reported once, where the block is written.
    text = "windows:\n  - &w {limit_ms: 5, limit_ms: 6}\n  - *w\n  - *w\n"
    assert _errors(text) == ["p.yaml:2: windows[0].limit_ms: duplicate key (first at line 2): "
                             "a key may appear once in a mapping"]
    plan = parse_model(Plan, "windows:\n  - &w {limit_ms: 5}\n  - *w\n", "p.yaml")
    assert [w.limit_ms for w in plan.windows] == [5, 5]


def test_an_alias_inside_its_own_anchor_is_refused():
    assert _errors("windows: &w [*w]\n") == ["p.yaml:1: an alias (*name) refers to a node that contains it; "
                                             "a config file is a tree"]


def test_an_integer_too_long_for_python_is_a_problem_at_its_line_not_a_traceback():
    assert _errors(f"ratio: 1\nwindows: [{{samples: {'9' * 5000}}}]\n") == [
        "p.yaml:2: a number of 5,000 digits; no setting is that large"]


def test_a_device_or_an_oversized_file_is_refused_without_reading_it(tmp_path):
    """validate /dev/zero was killed for memory: a device (or a pipe) is never read."""
    with pytest.raises(ConfigError) as info:
        read_text_file("/dev/zero")
    assert str(info.value) == "/dev/zero: not a regular file (a device or a pipe); expected a YAML file"
    big = tmp_path / "big.yaml"
    with big.open("wb") as out:
        out.truncate(11 * 1024 * 1024)  # sparse: costs no disk
    with pytest.raises(ConfigError) as info:
        read_text_file(big)
    assert str(info.value) == f"{big}: is 11,534,336 bytes; a config file is at most 10,485,760"


def test_a_message_that_says_what_it_got_is_not_followed_by_a_second_got():
    assert _errors("windows: [{samples: 1.5}]\n") == [
        "p.yaml:1: windows[0].samples: Input should be a valid integer, got a number with a fractional part: 1.5"]


@pytest.mark.parametrize("key", ["url", "str", "list", "Window"])
def test_an_unknown_key_spelt_like_a_type_is_named_as_itself(key):
    # Each is also a tag pydantic-core puts in a location; "portal: unknown key" was all a
    # targets file with `url:` instead of `base_url:` got.
    assert _errors(f"windows:\n  - {{{key}: 1}}\n") == [f"p.yaml:2: windows[0].{key}: unknown key"]


def test_a_field_named_bytes_keeps_its_name():
    from kernel.configfile import data_loc

    assert data_loc(("method", 0, "network", "attributes", "bytes")) == ("method", 0, "network", "attributes", "bytes")


@pytest.mark.parametrize("depth", [100, 3000])
def test_a_document_nested_past_any_config_file_is_one_problem_not_a_recursion_error(depth):
    """3,000 nested brackets were a RecursionError traceback (exit 70) from PyYAML's composer;
    100 passed on to the recursive checks and pydantic."""
    [problem] = _errors("ratio: 1\nwindows: " + "[" * depth + "]" * depth + "\n")
    assert problem.endswith("nested more than 64 levels deep; a config file is a few levels deep"), problem
