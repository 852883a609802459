"""Load YAML config files into pydantic models, with errors that name file, line and field.

Every config format (scenario profiles, drills, budgets, readiness profiles, targets)
goes through :func:`load_model`, so all of them report *all* problems at once in the
same shape::

    drills/catalog/axis-partition.yaml:14: method[2].duration: expected seconds > 0, got '5x'

Models should set ``model_config = ConfigDict(extra="forbid")`` so unknown keys are
errors too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kernel.errors import ConfigError, ConfigProblem

__all__ = ["load_model", "parse_model", "read_text_file", "field_path", "data_loc", "StrictModel"]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are not coerced loosely."""

    model_config = {"extra": "forbid", "frozen": True}


# The names pydantic-core gives the members of a union, or a validator, in an error's
# location: a type (``str``, ``bool``), a schema with its inner type in brackets
# (``function-after[...]``, ``literal['1','2']``, ``list[...]``), a constrained or lax form
# (``constrained-str``, ``lax-or-strict[...]``), or a model class name (``ThongTinKhacIn``).
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "bytes", "date", "datetime", "time", "timedelta",
                        "decimal", "uuid", "url", "any", "dict", "list", "tuple", "set", "frozenset"})  # fmt: skip


def _model_names() -> frozenset[str]:
    names: set[str] = set()
    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__name__ not in names:
                names.add(sub.__name__)
                stack.append(sub)
    return frozenset(names)


def _is_tag(part: str) -> bool:
    if part in _TYPE_TAGS or part == "[key]" or "[" in part or part.startswith("constrained-"):
        return True
    return part[:1].isupper() and part in _model_names()


def data_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location as a path in the data: the union-member and validator tags
    pydantic-core puts between field names (``ThongTinKhac.ThongTinKhacIn.NgaySinh``,
    ``isUpdating.bool``) and the ``[key]`` of a mapping's key are dropped."""
    return tuple(part for part in loc if not (isinstance(part, str) and _is_tag(part)))


def field_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as ``method[2].duration``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1 if not isinstance(node, yaml.ScalarNode) else line
    return line


def _message(err: ErrorDetails) -> str:
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err["type"] in ("value_error", "assertion_error"):
        return msg
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    if "input" in err and not isinstance(err["input"], dict | list):
        return f"{msg}, got {err['input']!r}"
    return msg


def parse_model(model: type[M], text: str, source: str) -> M:
    """Validate YAML ``text`` against ``model``; ``source`` names the file in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(source, line, "", f"invalid YAML: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(source, 1, "", "expected a mapping at the top level")])
    try:
        return model.model_validate(data, context={"source": source})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # ("[key]" marks an error in a mapping's key rather than its value.)
            loc = data_loc(tuple(err["loc"]))
            problems.append(ConfigProblem(source, _line_of(node, loc), field_path(loc), _message(err)))
        raise ConfigError(problems) from None


def read_text_file(path: str | Path) -> str:
    """A UTF-8 file's text; a missing or unreadable file is a ConfigError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from None


def load_model(model: type[M], path: str | Path) -> M:
    """Read and validate the YAML file at ``path`` against ``model``."""
    return parse_model(model, read_text_file(path), str(path))
