"""``dientap drill``: run a fault drill under load and prove nothing acknowledged was lost."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dientap.commands.options import DURATION_FORMS, duration
from dientap.commands.preflight import check_prometheus_flag, check_target_arguments
from dientap.commands.run_cmd import (
    add_board_arguments,
    add_prometheus_argument,
    add_request_timeout_argument,
    add_target_arguments,
    finish_run,
    options_from_args,
)
from kernel.errors import ConfigError, ConfigProblem, ExitCode, TargetNotAllowed, UsageError
from kernel.terminal_text import terminal_text

if TYPE_CHECKING:
    from dientap.orchestration.dryrun import DryRun
    from drills.model import Drill

__all__ = ["register", "run", "check_drill_file"]

NAMED_ON_CONSOLE = 10  # lost, duplicated and unexpected items named per row (journal.json and report.html have more)
EXAMPLE = """\
exit codes: 0 the hypothesis held and nothing was lost; 1 the drill FAILED (also the
planted-defect drill lossy-axis, which must fail: it proves the checker works); 70 the
drill could not run or a planted-defect drill did not fail as it must; 130 interrupted
(every fault is still rolled back).

Example:
  dientap drill --list
  dientap drill population-outage                      # embedded mocks, smoke load underneath
  dientap drill axis-partition --duration 40 --seed 7
  dientap drill --dry portal-crash-restart             # walk the plan, send nothing
  dientap drill lossy-axis                             # expected to FAIL with the exact losses
  dientap drill population-outage --board 8089         # watch it on http://127.0.0.1:8089/
  dientap drill axis-latency-spike --prometheus        # a real Prometheus: load, mocks and the faults
  dientap drill my-drill.yaml --target targets.yaml --proxy-api http://127.0.0.1:8474
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``drill`` subcommand."""
    parser = sub.add_parser(
        "drill",
        help="run a fault drill (HTTP, network, process faults) under load, with reconciliation",
        description="Run a drill from the catalogue (or a drill YAML file): the load profile runs\n"
        "underneath, faults are injected and removed on its timeline, steady-state probes are\n"
        "read every second, every fault is rolled back at the end (also on Ctrl-C), and what\n"
        "the targets acknowledged is reconciled with what they hold (ok / lost / duplicated /\n"
        "unexpected / recovered). Results go to OUT/<run-id>/journal.json and report.html.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("drill", nargs="?", help="built-in drill name (see --list) or a drill YAML path")
    parser.add_argument("--list", action="store_true", help="list the built-in drills and exit")
    parser.add_argument("--dry", action="store_true", help="validate and walk the plan without traffic (same journal shape)")
    add_target_arguments(parser)
    add_board_arguments(parser)
    add_request_timeout_argument(parser)
    parser.add_argument("--proxy-api", default=None,
                        help="use this Toxiproxy-compatible API for network faults instead of the embedded fault proxy")
    parser.add_argument("--settle", type=duration, default=5.0,
                        help="seconds to wait before re-checking missing items during reconciliation (default 5, "
                        "at most 1h)")
    add_prometheus_argument(parser)
    parser.set_defaults(func=run)


class _DrillPrometheus:
    """``--prometheus``: a real Prometheus for the drill, started once the target is up. It
    scrapes what ``dientap run --prometheus`` scrapes, and this process's drill-fault state
    (``dientap_drill_fault_active``, job ``drills``: the dashboard's fault annotations), served
    on loopback from here because the drill runner, not the load, knows when a fault is on."""

    def __init__(self, load: DryRun, binary: str) -> None:
        self.load, self.binary = load, binary
        self._state_server: Any = None  # prometheus_client's threaded server, until close()

    def start(self) -> None:
        from metrics.drill_state_server import start_drill_state_server

        state_url, self._state_server = start_drill_state_server()
        url = self.load.start_prometheus(self.binary, also={"drills": state_url})
        print(f"prometheus: {url}  (config {self.load.run_dir / 'prometheus'}; drill faults as job drills)", flush=True)

    def close(self) -> None:
        if self._state_server is not None:
            self._state_server.shutdown()
            self._state_server = None


def _list() -> ExitCode:
    from drills.catalog import list_drills

    entries = list_drills()
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.title}")
    return ExitCode.OK


FaultHook = Callable[[str, str, bool], None]


def _drill_state_hook() -> FaultHook | None:
    """Fault start/stop → the metrics exporter's ``dientap_drill_fault_active`` gauge (when installed)."""
    try:
        from metrics.drill_state import DrillState
    except ImportError:
        return None
    return DrillState.set_active


def _fault_hooks(*hooks: FaultHook | None) -> FaultHook:
    """One ``on_fault`` telling every observer; one failing does not keep the others from hearing."""
    chosen = [hook for hook in hooks if hook is not None]

    def on_fault(name: str, kind: str, active: bool) -> None:
        for hook in chosen:
            with contextlib.suppress(Exception):  # an observer must never break a drill or its rollback
                hook(name, kind, active)

    return on_fault


def _board_plan(load, name: str, drill) -> None:  # noqa: ANN001 - DryRun, drills.model.Drill
    """Bind the live board (before anything starts) and give it the drill's plan."""
    from metrics.board import FeedStep

    if load.bind_board() is not None:
        load.board.plan_drill(name, drill.title, [
            FeedStep(name=f.name, backend=f.backend, kind=f.kind, target=f.proxy_key, at_s=f.at_s, end_s=f.end_s)
            for f in drill.method
        ])


def _board_hook(load) -> FaultHook:  # noqa: ANN001 - DryRun
    """Fault start/stop → the live board's drill timeline (once the board is bound, if it is)."""

    def on_fault(name: str, kind: str, active: bool) -> None:
        if load.board is not None:
            load.board.fault_changed(name, kind, active)

    return on_fault


def _check_drill_flags(args: argparse.Namespace) -> None:
    """The flags that stand in for a drill file's settings keep within the file's bounds
    (drills.model): a flag must not let a drill run, or wait, longer than its file could say."""
    from drills.fault_model import MAX_DRILL_SECONDS
    from drills.model import MAX_DRILL_SCALE

    for flag, seconds in (("--duration", args.duration), ("--request-timeout", args.request_timeout),
                          ("--settle", args.settle)):
        if seconds is not None and seconds > MAX_DRILL_SECONDS:
            raise UsageError(f"argument {flag}: {seconds:g} s is longer than a drill may last; give {DURATION_FORMS}, "
                             f"more than 0 and at most {MAX_DRILL_SECONDS} s (1h)")
    if args.scale is not None and args.scale > MAX_DRILL_SCALE:
        raise UsageError(f"argument --scale: {args.scale:g} is more than a drill's load may be scaled; give a number "
                         f"more than 0 and at most {MAX_DRILL_SCALE}")
    if args.proxy_api is not None:
        # The runner checks it only once the mocks are up (exit 70 then); said here, before anything starts.
        from urllib.parse import urlsplit

        from kernel.allowlist import Allowlist

        parts = urlsplit(args.proxy_api)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"argument --proxy-api: {args.proxy_api!r} is not an http(s) URL with a host; give a "
                             "Toxiproxy-compatible API's URL, e.g. http://127.0.0.1:8474")
        try:
            Allowlist(tuple(args.allow_host)).check_url(args.proxy_api, what="fault proxy API")
        except TargetNotAllowed as exc:
            raise TargetNotAllowed(f"argument --proxy-api: {exc}") from None


def _named_file_problems(path: Path, field: str, named: Path, exc: ConfigError, hint: str) -> list[ConfigProblem]:
    """The problems of a file the drill file names: one that cannot be read at all (missing, a
    folder, a pipe, a device) is a problem of the drill file's own field, at its line; a file
    read and found invalid keeps its problems at its own lines."""
    from drills.catalog import field_problem

    return [field_problem(path, (field,), f"{str(named)!r}: {problem.message}; {hint}")
            if problem.file == str(named) and problem.line is None else problem
            for problem in exc.problems]


def check_drill_file(path: Path, drill: Drill) -> None:
    """What the drill file names that only the wiring can look up (the drills part imports neither
    the scenarios nor the mocks): its load profile, its readiness profile and its planted
    weaknesses, each a problem at its line, as `dientap validate` prints them."""
    from dientap.orchestration.mockcluster import check_weaknesses
    from drills.catalog import field_problem
    from mocks.core.readiness import load_readiness
    from scenarios.profile import resolve_profile

    problems: list[ConfigProblem] = []
    try:
        resolve_profile(drill.profile_from(path))
    except UsageError as exc:
        problems.append(field_problem(path, ("profile",), str(exc)))
    except ConfigError as exc:  # the profile's own file, when invalid, names its own lines
        problems += _named_file_problems(path, "profile", Path(drill.profile_from(path)), exc,
                                         "give a shipped profile's name or a profile YAML, relative to the drill file")
    if drill.readiness is not None:
        # Checked here, not only by `dientap drill`: validate said OK to a drill whose readiness
        # profile was missing, and the drill then refused it without its line (exit 2).
        readiness = path.parent / drill.readiness
        try:
            load_readiness(readiness)
        except ConfigError as exc:
            problems += _named_file_problems(path, "readiness", readiness, exc,
                                             "give a readiness profile YAML, relative to the drill file")
    for service, weaknesses in drill.target_weaknesses.items():
        try:
            check_weaknesses({service: weaknesses}, "127.0.0.1")  # the embedded mocks bind to loopback
        except UsageError as exc:
            problems.append(field_problem(path, ("target_weaknesses", service), str(exc)))
    if problems:
        raise ConfigError(problems)


def run(args: argparse.Namespace) -> ExitCode:
    """List, walk (--dry) or run one drill; the exit code follows the drill's verdict."""
    if args.list:
        if args.drill:  # `--list NAME` listed everything and ignored NAME
            raise UsageError(f"argument --list: lists every drill and takes no name (got {args.drill!r}); "
                             "run `dientap drill --list`, or `dientap drill --dry NAME` to walk one drill")
        return _list()
    if not args.drill:
        raise UsageError("name a drill (or --list); run `dientap drill --list`")
    from dientap.orchestration.dryrun import DryRun
    from drills.catalog import resolve_drill
    from drills.mode import DrillMode
    from drills.runner import DrillRunner

    _check_drill_flags(args)
    if args.dry and args.prometheus:  # it would be silently unused
        raise UsageError("argument --prometheus: a dry run starts nothing for Prometheus to scrape; drop --prometheus, "
                         "or --dry to run the drill")
    check_prometheus_flag(args)
    name, path, drill = resolve_drill(args.drill)
    check_drill_file(path, drill)
    if args.proxy_api is not None and not drill.needs("network"):  # it would be silently unused
        raise UsageError(f"argument --proxy-api: drill {name!r} has no network step, so no fault proxy is used; "
                         "drop --proxy-api")
    if drill.readiness is not None and args.readiness is not None:  # the drill's own would silently win
        raise UsageError(f"argument --readiness: drill {name!r} starts the mocks with its own readiness profile "
                         f"({drill.readiness}, beside its file); drop --readiness, or copy the drill and change it")
    check_target_arguments(args)  # before the runner starts anything (a drill reports what fails later as ERROR)
    mode = DrillMode.DRY if args.dry else DrillMode.RUN
    options = options_from_args(args, drill.profile_from(path))
    # The drill's own duration and scale unless the command line says otherwise, and the
    # weaknesses it plants in the embedded mocks: all decided before the profile is resolved,
    # once, by the load itself.
    options.duration_s = args.duration if args.duration is not None else drill.duration_s
    options.scale = args.scale if args.scale is not None else drill.scale
    if args.request_timeout is None and drill.request_timeout_s is not None:
        options.request_timeout_s = drill.request_timeout_s
    options.vulnerable = {service: list(weak) for service, weak in drill.target_weaknesses.items()}
    if drill.readiness is not None:  # the drill's readiness profile, beside its file (checked by check_drill_file)
        options.readiness_file = path.parent / drill.readiness
    load = DryRun(options)
    if mode is DrillMode.RUN:  # found later, it failed the drill (exit 70) after probing the target
        load.check_accounts_file()
    prometheus = _DrillPrometheus(load, args.prometheus) if args.prometheus else None
    runner = DrillRunner(name, drill, load, mode=mode, proxy_api=args.proxy_api, settle_s=args.settle,
                         say=lambda line: print(terminal_text(line, one_line=True), flush=True),
                         on_fault=_fault_hooks(_board_hook(load), _drill_state_hook()),
                         before_load=prometheus.start if prometheus is not None else None)
    if mode is DrillMode.RUN:
        _board_plan(load, name, drill)  # after the plan is validated: a refused plan binds nothing
    if mode is DrillMode.DRY:
        from dientap.commands.results_writing import writing

        with writing(args.out, "the dry run's journal"):  # a dry run sends nothing: what fails is a write
            outcome = runner.run()
        print(f"dry run of {name}: {len(drill.method)} step(s) planned, nothing sent")
        for fault in drill.method:
            print(f"  {fault.at_s:6.1f}–{fault.end_s:<6.1f} s  {fault.backend:<8} {fault.kind:<22} "
                  f"{fault.proxy_key:<18} {fault.name}")
        print(f"journal: {outcome.run_dir / 'journal.json'}")
        return outcome.exit_code
    started = time.monotonic()
    try:
        outcome = runner.run()
    finally:
        if prometheus is not None:
            prometheus.close()
    result = outcome.result
    if outcome.interrupted:
        print(f"interrupted; every fault was rolled back. journal: {outcome.run_dir / 'journal.json'}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    report_code = finish_run(args.out, outcome.run_dir, runner.locust_exit or 0, time.monotonic() - started)
    _print_result(result)
    if report_code == ExitCode.INTERNAL_ERROR and outcome.exit_code == ExitCode.OK:
        return ExitCode.INTERNAL_ERROR
    return outcome.exit_code


def _print_result(result) -> None:  # noqa: ANN001 - reports.drill_result.DrillResult
    def say(line: str) -> None:
        # Probe names, measured strings, dossier ids and errors may quote the target's answers:
        # escaped, none can end its line early, overwrite it, or rewrite the verdict line.
        print(terminal_text(line, one_line=True))

    for check in result.hypothesis:
        say(f"  {'ok ' if check.ok else 'NOT'} {check.phase:<6} {check.probe}: {check.measured}")
    for row in result.reconciliation:
        say(f"  {row.item_kind:<10} ok {row.ok:>6}  lost {row.lost:>4}  duplicated {row.duplicated:>3}  "
            f"unexpected {row.unexpected:>4}  recovered {row.recovered:>3}")
        for line in row.named(NAMED_ON_CONSOLE):  # every one is in journal.json (bounded there too)
            say(f"    {line}")
    if result.recovery_time_s is not None:
        say(f"  recovery after the last fault: {result.recovery_time_s:.1f} s")
    for line in result.expectations:
        say(f"  broken: {line}")
    if result.error:
        say(f"  {result.error}")
    say(f"drill {result.name}: {result.verdict}")
