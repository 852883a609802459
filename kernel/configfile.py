"""Load YAML config files into pydantic models, with errors that name file, line and field.

Every config format (scenario profiles, drills, budgets, readiness profiles, targets)
goes through :func:`load_model`, so all of them report *all* problems at once in the
same shape::

    drills/catalog/axis-partition.yaml:14: method[2].duration: expected seconds > 0, got '5x'

Models derive from :class:`StrictModel`: unknown keys are errors, numbers must be finite
and a boolean or a string is never read as a number (nor a number or ``"yes"`` as a
boolean). A key given twice in one mapping is an error at the line of its second
occurrence (plain YAML would silently keep the last one). Numbers with an exponent and no
dot or sign (``1e3``) are numbers, as in YAML 1.2, not PyYAML's strings.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, GetCoreSchemaHandler, ValidationError
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

from kernel.errors import ConfigError, ConfigProblem

__all__ = ["load_model", "parse_model", "parse_yaml", "read_text_file", "field_path", "data_loc", "line_of",
           "at_their_lines", "StrictModel"]

M = TypeVar("M", bound=BaseModel)


# The strings pydantic's lax mode reads as a boolean; any other string it refuses itself.
_BOOL_WORDS = frozenset({"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"})


def _no_loose_number(value: Any) -> Any:
    # Lax pydantic reads True as 1 and "5" as 5: a budget of `p95_ms: true` would be 1 ms.
    # A string that is no number at all is left to pydantic, whose message says so.
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not a boolean")
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise PydanticCustomError("number_type", "Input should be a number, not a string")
    return value


def _no_loose_bool(value: Any) -> Any:
    # Lax pydantic reads 1, 0 and "yes" / "off" as booleans; a config file says true or false.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be true or false, not a number")
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        raise PydanticCustomError("bool_type", "Input should be true or false, not a string")
    return value


_GUARDS = {"float": _no_loose_number, "int": _no_loose_number, "bool": _no_loose_bool}


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading exponent numbers as YAML 1.2 and JSON do.

    PyYAML follows YAML 1.1, whose floats need a dot and a signed exponent: ``1e3``,
    ``1.0e3`` and ``2E5`` are strings there, so ``p95_ms: 1e3`` was refused as "not a
    string" although every YAML 1.2 reader (and JSON) reads 1000. The resolver below adds
    only forms with an exponent, so no integer changes type.
    """


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def _guard_scalars(schema: Any, model: type[BaseModel]) -> Any:
    """A copy of ``model``'s core schema whose number and boolean schemas refuse loose input.

    Other models within are left alone: each :class:`StrictModel` guards its own schema.
    """
    if isinstance(schema, list):
        return [_guard_scalars(item, model) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "model" and schema.get("cls") is not model:
        return schema
    if schema.get("type") in _GUARDS and "ref" not in schema:
        return core_schema.no_info_before_validator_function(_GUARDS[schema["type"]], schema)
    return {key: value if key == "cls" else _guard_scalars(value, model) for key, value in schema.items()}


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, values are not coerced loosely.

    Numbers must be finite (``.inf`` and ``.nan`` are refused) and real numbers: a boolean
    or a string is not read as one. Booleans must be ``true`` or ``false``, not ``1`` or
    ``"yes"``. YAML gives numbers and booleans their own types, so strictness costs a
    well-formed file nothing.
    """

    model_config = {"extra": "forbid", "frozen": True, "allow_inf_nan": False}

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /) -> CoreSchema:
        """The model's schema with every number and boolean guarded against loose input."""
        schema: CoreSchema = _guard_scalars(handler(source), cls)
        return schema


# The names pydantic-core gives the members of a union, or a validator, in an error's
# location: a type (``str``, ``bool``), a schema with its inner type in brackets
# (``function-after[...]``, ``literal['1','2']``, ``list[...]``), a constrained or lax form
# (``constrained-str``, ``lax-or-strict[...]``), or a model class name (``ThongTinKhacIn``).
# (Not "bytes": no config model has a bytes field, and a toxic's `bytes:` attribute is a name.)
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "date", "datetime", "time", "timedelta",
                        "decimal", "uuid", "url", "any", "dict", "list", "tuple", "set", "frozenset"})  # fmt: skip


def _models() -> list[type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__name__ not in models:
                models[sub.__name__] = sub
                stack.append(sub)
    return list(models.values())


def _is_tag(part: str, model_names: frozenset[str], field_names: frozenset[str]) -> bool:
    if part == "[key]" or "[" in part or part.startswith("constrained-"):
        return True
    if part in field_names:  # a model's own field ("url" of an attachment) is a name, whatever it spells
        return False
    return part in _TYPE_TAGS or part in model_names


def data_loc(loc: tuple[Any, ...], kind: str | None = None) -> tuple[Any, ...]:
    """A pydantic error location as a path in the data: the union-member and validator tags
    pydantic-core puts between field names (``ThongTinKhac.ThongTinKhacIn.NgaySinh``,
    ``isUpdating.bool``) and the ``[key]`` of a mapping's key are dropped. A field of a model
    is never taken for a tag, nor is the key an error of ``kind`` ``extra_forbidden`` or
    ``missing`` is about (the last part): an unknown key ``url`` is named as ``url``."""
    # The models are walked (once) only when a part could be a type's or a model's name.
    maybe_tags = any(isinstance(part, str) and (part in _TYPE_TAGS or part[:1].isupper()) for part in loc)
    models = _models() if maybe_tags else []
    model_names = frozenset(model.__name__ for model in models)
    field_names = frozenset(name for model in models for field, info in model.model_fields.items()
                            for name in (field, info.alias) if name)
    keep_last = kind in ("extra_forbidden", "missing")
    return tuple(part for i, part in enumerate(loc)
                 if not (isinstance(part, str) and not (keep_last and i == len(loc) - 1)
                         and _is_tag(part, model_names, field_names)))


def field_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as ``method[2].duration``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
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
            line = child.start_mark.line + 1  # an item's own line (a scalar item has no key to name it)
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
        # "…, got a number with a fractional part" already says what it got, not the value.
        return f"{msg}: {err['input']!r}" if ", got " in msg else f"{msg}, got {err['input']!r}"
    return msg


# What a config file may hold once its aliases are expanded: far past any real file (the
# shipped ones hold a few hundred values), far below what pydantic would take minutes to
# validate. Ten lines of nested aliases ("billion laughs") expand to 10⁹.
MAX_VALUES = 100_000
# Python reads no integer longer than this (sys.get_int_max_str_digits); no setting is near it.
MAX_INT_DIGITS = 4300
# The deepest a config file nests (the shipped ones: 5 levels). PyYAML composes and the checks
# below walk a document recursively: 3,000 nested brackets were a RecursionError traceback.
MAX_DEPTH = 64
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep; a config file is a few levels deep"


def _shape_problems(root: yaml.Node, source: str) -> list[ConfigProblem]:
    """What makes a document unreadable before it is built: an alias that contains itself, more
    than :data:`MAX_VALUES` values once aliases are expanded, an integer too long for Python.
    Each node is walked once (a node an alias repeats is counted, not walked again)."""
    sizes: dict[int, int] = {}
    problems: list[ConfigProblem] = []

    def size(node: yaml.Node, depth: int = 0) -> int:
        if depth > MAX_DEPTH:
            raise ConfigError([ConfigProblem(source, node.start_mark.line + 1, "", _TOO_DEEP)])
        key = id(node)
        if key in sizes:
            if sizes[key] < 0:  # still being counted: the alias is inside its own anchor
                raise ConfigError([ConfigProblem(source, node.start_mark.line + 1, "",
                                                 "an alias (*name) refers to a node that contains it; "
                                                 "a config file is a tree")])
            return sizes[key]
        sizes[key] = -1
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item, depth + 1) for item in node.value)
        elif node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_INT_DIGITS:
            problems.append(ConfigProblem(source, node.start_mark.line + 1, "",
                                          f"a number of {len(node.value):,} digits; no setting is that large"))
        sizes[key] = total
        return total

    total = size(root)
    if total > MAX_VALUES:
        problems.append(ConfigProblem(source, None, "", f"expands to {total:,} values through its aliases "
                                      f"(&anchor / *alias); a config file holds at most {MAX_VALUES:,}"))
    return problems


def _duplicate_keys(node: yaml.Node, path: tuple[Any, ...], source: str,
                    seen: set[int] | None = None) -> list[ConfigProblem]:
    """A problem for each key given twice in one mapping of ``node``, at its second line (a
    node an alias repeats is checked once, where it first appears)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return []
    seen.add(id(node))
    problems: list[ConfigProblem] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            line = key.start_mark.line + 1
            if (key.tag, key.value) in first:
                problems.append(ConfigProblem(source, line, field_path((*path, key.value)),
                                              f"duplicate key (first at line {first[key.tag, key.value]}): "
                                              "a key may appear once in a mapping"))
            else:
                first[key.tag, key.value] = line
            problems.extend(_duplicate_keys(value, (*path, key.value), source, seen))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, (*path, index), source, seen))
    return problems


def parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The data of the YAML document ``text`` and its node tree (None for an empty document).

    Invalid YAML and keys given twice in one mapping (which plain YAML resolves silently,
    the last one winning) are a :class:`ConfigError` naming ``source`` and the line.
    """
    loader = _ConfigLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # PyYAML composes recursively: far deeper than MAX_DEPTH
            raise ConfigError([ConfigProblem(source, None, "", _TOO_DEEP)]) from None
        if node is not None and (shape := _shape_problems(node, source)):
            raise ConfigError(shape)
        if node is not None and (duplicates := _duplicate_keys(node, (), source)):
            raise ConfigError(sorted(duplicates, key=lambda problem: problem.line or 0))
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(source, line, "", f"invalid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    return data, node


def parse_model(model: type[M], text: str, source: str) -> M:
    """Validate YAML ``text`` against ``model``; ``source`` names the file in errors.

    An empty document (nothing but comments, say) is validated as an empty mapping: the
    model decides whether its defaults alone make a meaningful file.
    """
    data, node = parse_yaml(text, source)
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
            loc = data_loc(tuple(err["loc"]), err["type"])
            problems.append(ConfigProblem(source, line_of(node, loc), field_path(loc), _message(err)))
        raise ConfigError(problems) from None


MAX_FILE_BYTES = 10 * 1024 * 1024  # far past any config file (the largest shipped one is a few kB)


def read_text_file(path: str | Path) -> str:
    """A UTF-8 file's text; a missing or unreadable file is a ConfigError naming it."""
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
            raise ConfigError([ConfigProblem(str(path), None, "", f"is {info.st_size:,} bytes; a config file is at "
                                             f"most {MAX_FILE_BYTES:,}")])
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            # Never read: /dev/zero never ends (validate was killed for memory), a pipe may never answer.
            raise ConfigError([ConfigProblem(str(path), None, "", "not a regular file (a device or a pipe); "
                                             "expected a YAML file")])
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), None, "", "file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigProblem(str(path), None, "", "is a directory; expected a YAML file")]) from None
    except OSError as exc:
        # strerror, not str(exc): the latter repeats the path, which may be thousands of characters.
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from None


def load_model(model: type[M], path: str | Path) -> M:
    """Read and validate the YAML file at ``path`` against ``model``."""
    return parse_model(model, read_text_file(path), str(path))


_FIELD_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def at_their_lines(problems: list[ConfigProblem], path: str | Path) -> list[ConfigProblem]:
    """``problems`` found after the file at ``path`` validated (a file it names is missing, an
    environment variable it names is unset...), each given the line of its field in that file
    — or of the field's nearest parent there — so they read ``file:line: field`` as the
    model's own problems do. Reads the file again: called only on the way to an error."""
    source = str(path)
    try:
        _data, node = parse_yaml(read_text_file(path), source)
    except ConfigError:  # changed under us since it validated: the problems stand as they are
        return problems
    located = []
    for problem in problems:
        if problem.file == source and problem.line is None and problem.field:
            loc = tuple(int(index) if index else name for name, index in _FIELD_PART.findall(problem.field))
            problem = ConfigProblem(problem.file, line_of(node, loc), problem.field, problem.message)
        located.append(problem)
    return located
