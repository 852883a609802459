"""``dientap validate FILE...``: validate config files, reporting every problem with file, line and field."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import yaml

from dientap.errors import ConfigError, ConfigProblem, ExitCode

__all__ = ["register", "KINDS"]

EXAMPLE = """\
Example:
  dientap validate scenarios/profiles/smoke.yaml drills/catalog/*.yaml
  dientap validate --kind readiness my-readiness.yaml
"""


def _loaders() -> dict[str, Callable[[Path], object]]:
    # Imported here: the CLI is the one place that wires the parts together.
    from mocks.core.readiness import load_readiness

    loaders: dict[str, Callable[[Path], object]] = {"readiness": load_readiness}
    try:
        from scenarios.profile import load_profile

        loaders["profile"] = load_profile
    except ImportError:
        pass
    try:
        from scenarios.targets import load_targets

        loaders["targets"] = load_targets
    except ImportError:
        pass
    try:
        from reports.budgets import load_budgets

        loaders["budgets"] = load_budgets
    except ImportError:
        pass
    try:
        from drills.catalog import load_drill

        loaders["drill"] = load_drill
    except ImportError:
        pass
    return loaders


# Top-level keys that identify each kind of file when --kind is not given.
KINDS: dict[str, str] = {
    "provinces": "readiness",
    "personas": "profile",
    "budgets": "budgets",
    "method": "drill",
    "steady_state_hypothesis": "drill",
    "targets": "targets",
}


def _detect(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        for key, kind in KINDS.items():
            if key in data:
                return kind
    parts = path.parts
    if "profiles" in parts:
        return "profile"
    if "catalog" in parts:
        return "drill"
    return None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    parser = sub.add_parser(
        "validate",
        help="validate readiness profiles, scenario profiles, drills, budgets and targets files",
        description="Validate config files. Every problem is reported as FILE:LINE: FIELD: MESSAGE; "
        "the kind of file is detected from its keys unless --kind is given.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--kind", choices=sorted(set(KINDS.values())), default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    """Validate each file; print OK lines and collect all problems."""
    loaders = _loaders()
    problems: list[ConfigProblem] = []
    for path in args.files:
        if not path.is_file():
            problems.append(ConfigProblem(str(path), None, "", "file not found"))
            continue
        kind = args.kind or _detect(path)
        if kind is None or kind not in loaders:
            known = ", ".join(sorted(loaders))
            problems.append(ConfigProblem(str(path), None, "", f"cannot tell what kind of file this is; pass --kind ({known})"))
            continue
        try:
            loaders[kind](path)
        except ConfigError as exc:
            problems.extend(exc.problems)
        else:
            print(f"OK {path} ({kind})")
    if problems:
        raise ConfigError(problems)
    return ExitCode.OK
