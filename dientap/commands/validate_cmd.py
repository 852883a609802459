"""``dientap validate FILE...``: validate config files, reporting every problem with file, line and field."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from kernel.configfile import parse_yaml, read_text_file
from kernel.errors import ConfigError, ConfigProblem, ExitCode, TargetNotAllowed

__all__ = ["register", "KINDS"]

EXAMPLE = """\
Example:
  dientap validate scenarios/profiles/smoke.yaml drills/catalog/*.yaml
  dientap validate my-copy-of-smoke.yaml staging-targets.yaml   # kinds recognised from content
  dientap validate --kind readiness my-readiness.yaml
"""


def _loaders() -> dict[str, Callable[[Path], object]]:
    # Imported here: the CLI is the one place that wires the parts together. An import that
    # fails is a bug of ours, not a problem of the user's files: it is not caught.
    from dientap.commands.drill_cmd import check_drill_file
    from drills.catalog import load_drill
    from kernel.targets import load_targets
    from mocks.core.readiness import load_readiness
    from reports.budgets import load_budgets
    from scenarios.profile import load_profile

    def drill(path: Path) -> object:
        # What `dientap drill` checks before it starts anything, so that validate's OK means it.
        loaded = load_drill(path)
        check_drill_file(path, loaded)
        return loaded

    return {"readiness": load_readiness, "profile": load_profile, "targets": load_targets, "budgets": load_budgets,
            "drill": drill}


# What each kind of file holds at its top level. A file's kind is the one whose keys it
# shares most (ties broken by this order), so a renamed copy of a shipped file is still
# recognised by its content, wherever it lives.
SIGNATURES: dict[str, frozenset[str]] = {
    "drill": frozenset({"method", "steady_state_hypothesis", "rollbacks", "expectations"}),
    "targets": frozenset({"portal", "population", "axis", "allow_hosts", "credentials", "pki_dir", "adapter"}),
    "budgets": frozenset({"budgets"}),
    "readiness": frozenset({"provinces", "district_tier"}),
    "profile": frozenset({"duration_s", "spawn_rate", "communes", "officers", "agencies", "citizens", "abort"}),
}
KINDS: tuple[str, ...] = tuple(SIGNATURES)


def _detect(path: Path) -> str | None:
    """The kind of ``path`` from its top-level keys; None when it is no YAML mapping we know.

    A file that cannot be read, or is no valid YAML, is a :class:`ConfigError` saying so
    (with the line of a syntax error): "not a dientap file" would hide the real problem.
    """
    data, _ = parse_yaml(read_text_file(path), str(path))
    if not isinstance(data, dict):
        return None
    keys = {str(k) for k in data}
    best = max(SIGNATURES, key=lambda kind: len(keys & SIGNATURES[kind]))
    return best if keys & SIGNATURES[best] else None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    parser = sub.add_parser(
        "validate",
        help="validate readiness profiles, scenario profiles, drills, budgets and targets files",
        description="Validate config files. Every problem of every file is reported as FILE:LINE: FIELD: MESSAGE; "
        "the kind of file is detected from its keys unless --kind is given. Exit 0: every file is valid; "
        "3: a file is invalid; 4: the only problems are targets files naming hosts off their allowlist.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--kind", choices=sorted(KINDS), default=None,
                        help="the kind of every file (default: recognised from each file's keys)")
    parser.set_defaults(func=run)


def _allowlist_problems(path: Path, exc: TargetNotAllowed) -> list[ConfigProblem]:
    """The per-service problems of a targets file off its allowlist, one each."""
    return exc.problems or [ConfigProblem(str(path), None, "", str(exc))]


def run(args: argparse.Namespace) -> ExitCode:
    """Validate each file; print OK lines and collect all problems of all files."""
    loaders = _loaders()
    problems: list[ConfigProblem] = []
    invalid = False  # a file that is not valid at all, besides hosts off an allowlist
    for path in args.files:
        try:
            kind = args.kind or _detect(path)
        except ConfigError as exc:  # unreadable, no file at all, or invalid YAML
            problems.extend(exc.problems)
            invalid = True
            continue
        if kind is None:
            known = ", ".join(sorted(KINDS))
            problems.append(ConfigProblem(str(path), None, "", f"not a dientap file: no top-level key of a {known} "
                                          f"file; pass --kind ({known}) to check it as one"))
            invalid = True
            continue
        try:
            loaders[kind](path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            invalid = True
        except TargetNotAllowed as exc:
            problems.extend(_allowlist_problems(path, exc))
        else:
            print(f"OK {path} ({kind})")
    if problems:
        error = ConfigError(problems)
        if not invalid:
            error.exit_code = ExitCode.TARGET_NOT_ALLOWED
        raise error
    return ExitCode.OK
