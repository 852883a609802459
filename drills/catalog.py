"""The drill catalogue: load and validate drill files, list and resolve the built-in drills.

Built-in drills live in ``drills/catalog/<name>.yaml`` (a data directory beside this
module); a drill can also be any YAML path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drills.model import Drill, Fault, fault_id
from kernel.configfile import field_path, line_of, load_model, parse_yaml, read_text_file
from kernel.errors import ConfigError, ConfigProblem, UsageError

__all__ = ["CATALOG_DIR", "CatalogEntry", "load_drill", "list_drills", "resolve_drill", "drill_name", "field_problem"]

CATALOG_DIR = Path(__file__).parent / "catalog"


@dataclass(frozen=True)
class CatalogEntry:
    """A built-in drill: its name (the file stem), title and file."""

    name: str
    title: str
    path: Path


def load_drill(path: str | Path) -> Drill:
    """Validate and load one drill file; every problem is a ``file:line: field: message``."""
    drill = load_model(Drill, path)
    problems = []
    if drill.duration_s is not None:
        for index, fault in enumerate(drill.method):
            if fault.at_s >= drill.duration_s:
                problems.append(field_problem(path, ("method", index, "at_s"),
                                              f"starts at {fault.at_s:g} s, after the load ends ({drill.duration_s:g} s)"))
    problems += _same_ids(path, drill) + _overlaps(path, drill)
    if problems:
        raise ConfigError(problems)
    return drill


def _same_ids(path: str | Path, drill: Drill) -> list[ConfigProblem]:
    """Steps whose names give one id on the target (``a b`` and ``a-b``): the target keeps one
    rule or toxic of an id, so the second step replaced the first and one removal ended both."""
    first: dict[str, tuple[int, str]] = {}
    problems = []
    for index, fault in enumerate(drill.method):
        step_id = fault_id(fault)
        if step_id in first:
            other, name = first[step_id]
            problems.append(field_problem(path, ("method", index, "name"),
                                          f"gives the target the same id as method[{other}] {name!r} ({step_id}); "
                                          "name the steps apart by more than spaces and punctuation"))
        else:
            first[step_id] = (index, fault.name)
    return problems


def _exclusive_key(fault: Fault) -> str | None:
    """What a fault holds alone while in force: a service's process (killed or paused) or a
    proxy taken down. Two such faults overlapping on one of them undo each other: the first
    removal restarts, resumes or brings up what the other still says is down."""
    if fault.process is not None:
        return f"the {fault.target} process"
    if fault.network is not None and fault.network.toxic == "down":
        return f"the {fault.proxy_key} proxy (down)"
    return None


def _overlaps(path: str | Path, drill: Drill) -> list[ConfigProblem]:
    """A problem for each step that overlaps an earlier one on what both hold alone."""
    problems = []
    for index, fault in enumerate(drill.method):
        key = _exclusive_key(fault)
        if key is None:
            continue
        for other_index, other in enumerate(drill.method[:index]):
            if _exclusive_key(other) == key and fault.at_s < other.end_s and other.at_s < fault.end_s:
                problems.append(field_problem(
                    path, ("method", index, "at_s"),
                    f"{fault.at_s:g}–{fault.end_s:g} s overlaps method[{other_index}] {other.name!r} "
                    f"({other.at_s:g}–{other.end_s:g} s) on {key}; start it at {other.end_s:g} s or later"))
                break
    return problems


def field_problem(path: str | Path, loc: tuple[str | int, ...], message: str) -> ConfigProblem:
    """A problem with the field at ``loc`` of the drill file at ``path``
    (``("method", 2, "at_s")`` → ``method[2].at_s``), at that field's line."""
    return ConfigProblem(str(path), _line_of(Path(path), loc), field_path(loc), message)


def _line_of(path: Path, loc: tuple[str | int, ...]) -> int | None:
    """The line of the key at ``loc`` (or of its nearest existing parent); None when unreadable."""
    try:
        _, node = parse_yaml(read_text_file(path), str(path))
    except ConfigError:
        return None
    return line_of(node, loc)


def drill_name(path: str | Path) -> str:
    """A drill's name: the file stem (``axis-partition``)."""
    return Path(path).stem


def list_drills() -> list[CatalogEntry]:
    """The built-in drills, sorted by name (a broken file is listed with its error as title)."""
    entries = []
    for path in sorted(CATALOG_DIR.glob("*.yaml")):
        try:
            title = load_drill(path).title
        except ConfigError as exc:
            title = f"INVALID: {exc.problems[0]}"
        entries.append(CatalogEntry(path.stem, title, path))
    return entries


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 200 else f"{text[:60]!r}… ({len(text):,} characters)"


def resolve_drill(name_or_path: str) -> tuple[str, Path, Drill]:
    """A built-in drill by name, or a drill file by path → (name, path, drill)."""
    path = Path(name_or_path)
    candidate = CATALOG_DIR / f"{name_or_path}.yaml"
    try:
        exists, built_in = path.exists(), candidate.is_file()
    except OSError as exc:  # a name too long to be a path, say: not a file, and no drill's name either
        raise UsageError(f"drill {_shown(name_or_path)}: {(exc.strerror or str(exc)).lower()}; give a built-in "
                         "drill's name or a drill YAML file; run `dientap drill --list`") from None
    if path.suffix in (".yaml", ".yml") or exists:
        # Not a regular file (missing, a folder, a device, a symlink loop): read_text_file says which.
        return drill_name(path), path, load_drill(path)
    # A built-in drill is a file of the catalogue itself: "readiness/old-tier" is none.
    if not built_in or candidate.parent != CATALOG_DIR:
        known = ", ".join(e.name for e in list_drills())
        raise UsageError(f"unknown drill {_shown(name_or_path)}; known drills: {known}; run `dientap drill --list`")
    return name_or_path, candidate, load_drill(candidate)
