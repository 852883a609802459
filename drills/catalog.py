"""The drill catalogue: load and validate drill files, list and resolve the built-in drills.

Built-in drills live in ``drills/catalog/<name>.yaml`` (a data directory beside this
module); a drill can also be any YAML path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drills.model import Drill
from kernel.configfile import load_model
from kernel.errors import ConfigError, ConfigProblem, UsageError

__all__ = ["CATALOG_DIR", "CatalogEntry", "load_drill", "list_drills", "resolve_drill", "drill_name"]

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
                problems.append(
                    ConfigProblem(
                        str(path), _line_of_fault(Path(path), index), f"method[{index}].at_s",
                        f"starts at {fault.at_s:g} s, after the load ends ({drill.duration_s:g} s)",
                    )
                )
    if problems:
        raise ConfigError(problems)
    return drill


def _line_of_fault(path: Path, index: int) -> int | None:
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if key.value == "method" and isinstance(value, yaml.SequenceNode) and index < len(value.value):
            item = value.value[index]
            if isinstance(item, yaml.MappingNode):
                for k, _v in item.value:
                    if k.value == "at_s":
                        return k.start_mark.line + 1
            return item.start_mark.line + 1
    return None


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
        is_file, exists, built_in = path.is_file(), path.exists(), candidate.is_file()
    except OSError as exc:  # a name too long to be a path, say: not a file, and no drill's name either
        raise UsageError(f"drill {_shown(name_or_path)}: {(exc.strerror or str(exc)).lower()}; give a built-in "
                         "drill's name or a drill YAML file; run `dientap drill --list`") from None
    if path.suffix in (".yaml", ".yml") or exists:
        if not is_file:
            raise ConfigError([ConfigProblem(str(path), None, "", "file not found")])
        return drill_name(path), path, load_drill(path)
    if not built_in:
        known = ", ".join(e.name for e in list_drills())
        raise UsageError(f"unknown drill {_shown(name_or_path)}; known drills: {known}; run `dientap drill --list`")
    return name_or_path, candidate, load_drill(candidate)
