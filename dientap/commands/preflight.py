"""Checks of the values argparse cannot judge from their text alone: the files and folders
flags name, and flags that depend on each other.

Each runs before anything starts — no socket, no process, no run directory — so a
mistake found here leaves nothing behind. A file that is missing is one line naming the
flag, the value and what is accepted; a file that is there but invalid reports every
problem as ``file:line: field: message``, as ``dientap validate`` does (exit 3 either way)::

    ERROR: argument --readiness: 'unready.yml': file not found; give a readiness profile YAML file (README: ...)
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from dientap.commands.options import TARGET_FORMS
from dientap.commands.results_writing import os_reason as _why_not
from dientap.commands.results_writing import shown_path as _shown
from kernel.errors import ConfigError, ConfigProblem, UsageError

__all__ = [
    "JUNIT_FORMS",
    "READINESS_FORMS",
    "check_folder",
    "check_mocks_environment",
    "check_output_file",
    "check_population_size",
    "check_readiness",
    "check_remote_workers",
    "check_run_dir_writable",
    "check_runs_folder",
    "check_run_arguments",
    "check_target_arguments",
    "check_targets",
]

READINESS_FORMS = "a readiness profile YAML file (README: 'Faults, ledger, readiness')"
BUDGETS_FORMS = "a budgets YAML file, e.g. reports/budgets.yaml (README: 'Budgets and the gate')"
JUNIT_FORMS = "a file to write the JUnit XML to, in a folder that exists or can be created, e.g. gate.xml"
BASELINE_FORMS = ("the directory of an earlier run, holding its histograms/latency.hdr and load.json "
                  "(e.g. runs/20261121-093000-ab12)")


def _not_there(flag: str, value: Path | str, why: str, accepted: str) -> ConfigError:
    # The problem is where the command line says it is, not in a file: "argument --flag: 'value': why".
    return ConfigError([ConfigProblem(f"argument {flag}", None, repr(str(value)), f"{why}; give {accepted}")])


def _flag_file(flag: str, path: Path, accepted: str, load: Callable[[Path], object]) -> None:
    """The file ``flag`` names exists and ``load`` accepts it (its problems raise ConfigError)."""
    if not path.is_file():
        # A pipe or a device is there, but never read (a pipe may never answer): "not found" would mislead.
        why = ("a folder, not a file" if path.is_dir() else
               "not a regular file (a device or a pipe)" if path.exists() else "file not found")
        raise _not_there(flag, path, why, accepted)
    load(path)


def check_readiness(path: Path | None) -> None:
    """``--readiness``: a readiness profile every mock service would accept."""
    if path is None:
        return
    from mocks.core.readiness import load_readiness

    _flag_file("--readiness", path, READINESS_FORMS, load_readiness)


def check_targets(target: str, allow_hosts: list[str]) -> None:
    """``--target``: ``embedded``, or a valid targets file whose hosts are all allowed
    (``--allow-host`` counted; an off-list host is :class:`TargetNotAllowed`, exit 4)."""
    if target == "embedded":
        return
    from kernel.targets import load_targets

    _flag_file("--target", Path(target), TARGET_FORMS,
               lambda path: load_targets(path, extra_allow_hosts=tuple(allow_hosts)))


def _nearest_existing(path: Path) -> Path:
    """The deepest of ``path`` and its ancestors that exists (``.`` for a relative path at worst)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (created when missing), or ``None`` when they can.

    Creating a missing folder is the only honest test (root passes every permission check,
    yet cannot make a folder in /proc): the missing part is made and removed again, so a
    refusal found later still leaves nothing behind.
    """
    if "\0" in str(folder):  # os calls refuse it with a ValueError, not an OSError
        return f"{_shown(folder)}: a path cannot hold a NUL character"
    try:
        if folder.exists() and not folder.is_dir():
            return f"{_shown(folder)} is a file"
        existing = _nearest_existing(folder)
        if not existing.is_dir():
            return f"{_shown(folder)} is under {_shown(existing)}, a file"
        if existing == folder:
            return None if os.access(folder, os.W_OK | os.X_OK) else f"{_shown(folder)}: {_why_read_only(folder)}"
        try:
            os.makedirs(folder)
        except OSError as exc:
            return f"{_shown(folder)} cannot be created ({_why_not(exc)})"
        shutil.rmtree(existing / folder.relative_to(existing).parts[0])
    except OSError as exc:  # a name too long to be a path, say
        return f"{_shown(folder)}: {_why_not(exc)}"
    return None


def _why_read_only(folder: Path) -> str:
    """Why ``os.access`` refused writing in ``folder``: a read-only file system (a read-only
    mount, a CI artifact) refuses even root, who passes every permission check — said as such."""
    return "read-only file system" if os.statvfs(folder).f_flag & os.ST_RDONLY else "permission denied"


def check_folder(flag: str, path: Path) -> None:
    """A folder to write into (``--out``, ``--data-dir``): missing is fine, it is created; a file,
    a folder under a file, or one that cannot be created or written in is not."""
    why = _unwritable(path)
    if why is not None:
        raise UsageError(f"argument {flag}: {why}; give a folder that exists or can be created, and can be written in")


def check_runs_folder(out: Path, *, links_latest: bool = True) -> None:
    """``--out`` of run, drill and security: a folder to write run directories into, where
    ``OUT/latest`` is the link to the newest one — or nothing yet. A folder or a file named
    ``latest`` there is no link to replace: it was found only after the whole load (a
    traceback, exit 70, and no report and no gate) or, a file, silently replaced."""
    check_folder("--out", out)
    latest = out / "latest"
    if links_latest and os.path.lexists(latest) and not latest.is_symlink():
        kind = "a folder" if latest.is_dir() else "a file"
        raise UsageError(f"argument --out: {_shown(latest)} is {kind}, not the link dientap keeps to the newest run; "
                         "move it away, or give another folder for the run directories")


def check_run_dir_writable(run_dir: Path, what: str, instead: str = "") -> None:
    """RUN_DIR of ``gate`` and ``report``: they write ``what`` into it, so it must be a folder
    that can be written in (a read-only copy of a CI artifact is not). One that is missing or
    holds no run is the loaders' to refuse, naming the record (exit 3)."""
    if "\0" in str(run_dir):  # os calls refuse it with a ValueError, not an OSError
        raise UsageError(f"argument RUN_DIR: {_shown(run_dir)}: a path cannot hold a NUL character; "
                         "give the directory of a run")
    if not run_dir.is_dir():
        return
    why = _unwritable(run_dir)
    if why is not None:
        raise UsageError(f"argument RUN_DIR: {why}; {what} is written into the run directory: give one that can be "
                         f"written in{instead}")


def check_output_file(flag: str, path: Path, accepted: str) -> None:
    """A file a flag writes (``--junit``, ``--output``): not a folder, and in a folder that exists
    or can be created, and can be written in (the file is written whole, by a rename there).
    Said before anything runs, not after the load it reports on."""
    if "\0" in str(path):  # os calls refuse it with a ValueError, not an OSError
        raise UsageError(f"argument {flag}: {_shown(path)}: a path cannot hold a NUL character; give {accepted}")
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise UsageError(f"argument {flag}: {_shown(path)}: {_why_not(exc)}; give {accepted}") from None
    if is_dir:
        raise UsageError(f"argument {flag}: {_shown(path)} is a folder; give {accepted}")
    why = _unwritable(path.parent)
    if why is not None:
        raise UsageError(f"argument {flag}: {_shown(path)}: {why}; give {accepted}")


def check_population_size(population_size: int) -> None:
    """``--population-size`` for the embedded mocks: no more citizens than the population mock
    seeds (more made it exit while starting, exit 70, once the other services were up)."""
    from kernel.synthetic import MAX_POPULATION

    if population_size > MAX_POPULATION:
        raise UsageError(f"argument --population-size: {population_size:,} citizens are more than the population "
                         f"mock seeds; give a whole number from 1 to {MAX_POPULATION:,}")


def check_mocks_environment() -> None:
    """The environment the embedded mocks read, before they start: a durability setting they do
    not know (``FUL``) would make each mock refuse to start once the others were up."""
    from kernel.defaults import sqlite_synchronous

    try:
        sqlite_synchronous(os.environ)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_target_arguments(args: argparse.Namespace) -> None:
    """The options ``run``, ``drill`` and ``security`` share (``add_target_arguments``)."""
    if args.target == "embedded":
        check_population_size(args.population_size)
        check_mocks_environment()
    check_targets(args.target, args.allow_host)
    check_readiness(args.readiness)
    check_runs_folder(args.out, links_latest=not getattr(args, "dry", False))  # a dry drill links no run


def check_profile_flags(args: argparse.Namespace) -> None:
    """The profile with ``--scale`` and ``--duration`` applied, within a profile file's bounds;
    with the embedded mocks, no more officers per commune than they provision (the portal
    refused to start, after the population service had)."""
    from kernel.defaults import MAX_OFFICERS_PER_COMMUNE
    from scenarios.profile import resolve_profile

    profile = resolve_profile(args.profile).scaled(args.scale, args.duration)
    if args.target == "embedded" and profile.officers_per_commune > MAX_OFFICERS_PER_COMMUNE:
        most = MAX_OFFICERS_PER_COMMUNE / profile.officers.per_commune
        raise UsageError(f"argument --scale: profile {profile.name} at scale {profile.scale:g} signs in "
                         f"{profile.officers_per_commune:,} officers per commune; the embedded mocks provision at most "
                         f"{MAX_OFFICERS_PER_COMMUNE}, so give --scale {most:g} or less")


def check_run_arguments(args: argparse.Namespace) -> None:
    """``dientap run``: the shared options, then the gate's files and the Prometheus binary, so
    that a typo is not found only after the whole load has run."""
    check_target_arguments(args)
    check_profile_flags(args)
    if args.target != "embedded":
        for flag, given in (("--protocol", args.protocol), ("--mocks-tls", args.mocks_tls)):
            if given:
                raise UsageError(f"argument {flag}: only with the embedded mocks; with --target FILE the targets file "
                                 "names each service's protocol and tls")
    if args.junit is not None:
        if args.budgets is None:
            raise UsageError("argument --junit: only with --budgets (the gate writes it); add --budgets FILE, "
                             "e.g. --budgets reports/budgets.yaml")
        check_output_file("--junit", args.junit, JUNIT_FORMS)
    if args.budgets is not None:
        from reports.budgets import load_gate_budgets

        with_baseline = args.baseline is not None
        _flag_file("--budgets", args.budgets, BUDGETS_FORMS,
                   lambda path: load_gate_budgets(path, with_baseline=with_baseline))
    if args.baseline is not None:
        from reports.compared_run import load_compared_run

        if args.budgets is None:
            # Only the budgets file's regression limits read a baseline: without it the baseline
            # would be ignored and a run the user meant to compare would pass unchecked.
            raise UsageError("argument --baseline: only with --budgets (its regression limits compare the baseline); "
                             "add --budgets FILE, e.g. --budgets reports/budgets.yaml")

        if not args.baseline.is_dir():
            why = "a file, not a run directory" if args.baseline.exists() else "not found"
            raise _not_there("--baseline", args.baseline, why, BASELINE_FORMS)
        load_compared_run(args.baseline)  # the records the regression limits compare, each checked
    check_prometheus_flag(args)
    check_remote_workers(args)


def check_prometheus_flag(args: argparse.Namespace) -> None:
    """``--prometheus [BINARY]`` (run, drill): the binary is found before anything starts."""
    if args.prometheus:
        from dientap.orchestration.prometheus import find_prometheus

        try:
            find_prometheus(args.prometheus)
        except UsageError as exc:
            raise UsageError(f"argument --prometheus: {exc}") from None


def check_remote_workers(args: argparse.Namespace) -> None:
    """``--remote-workers``: the embedded mocks listen on this machine's loopback, which a
    worker on another machine cannot reach — nor may it send there (its own loopback is
    another system). With a master bound to loopback the workers are on this machine."""
    from kernel.allowlist import is_loopback_host
    from kernel.defaults import MASTER_PORT

    host = args.master_bind[0]
    if args.remote_workers and args.target == "embedded" and not is_loopback_host(host):
        raise UsageError(
            f"argument --remote-workers: {args.remote_workers} workers on other machines cannot reach the embedded "
            f"mocks (they listen on this machine's loopback); start `dientap mocks --host ADDRESS` and give "
            f"--target FILE with its URLs, or bind the master to loopback (--master-bind 127.0.0.1) for workers "
            f"on this machine"
        )
    if not args.remote_workers and tuple(args.master_bind) != ("127.0.0.1", MASTER_PORT.default):
        raise UsageError(f"argument --master-bind: {host}:{args.master_bind[1]} given, but no worker will connect; "
                         "add --remote-workers N (local --workers use a free loopback port of their own)")
