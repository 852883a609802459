"""``dientap run``: the nationwide dry run — every active commune goes live at once."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dientap.commands.options import (
    DURATION_FORMS,
    allow_host,
    duration,
    host_port,
    non_negative_int,
    port,
    positive_float,
    positive_int,
    protocol,
    refresh_interval,
    seed,
    target,
)
from dientap.commands.preflight import check_run_arguments
from kernel.defaults import (
    BOARD_PORT,
    BOARD_REFRESH_S,
    MASTER_PORT,
    POPULATION_SIZE,
    REMOTE_WORKERS_WAIT_S,
    REQUEST_TIMEOUT_S,
    SEED,
)
from kernel.errors import ExitCode
from kernel.stopping import STOP
from kernel.terminal_text import terminal_text

if TYPE_CHECKING:  # the dry run (mocks, Locust, board) is imported when a run starts, not to parse flags
    from dientap.orchestration.dryrun import DryRun, DryRunOptions

__all__ = ["register", "run", "add_target_arguments", "add_board_arguments", "add_prometheus_argument", "options_from_args",
           "finish_run"]

EXAMPLE = """\
Example:
  dientap run smoke                              # embedded mocks, one Locust process
  dientap run golive --workers 2 --scale 0.5     # Locust master + 2 local workers
  dientap run peak --target targets.yaml --allow-host staging-dvc.example.vn
  dientap run smoke --budgets reports/budgets.yaml --junit gate.xml
  dientap run smoke --board 8089 --board-refresh 2   # the live board on http://127.0.0.1:8089/
"""


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by run, drill and security: target, load shape, output."""
    parser.add_argument("--target", type=target, default="embedded",
                        help="'embedded' (default: the mocks, started on loopback) or a targets YAML file")
    parser.add_argument("--allow-host", type=allow_host, action="append", default=[],
                        help="allow traffic to this host besides loopback (repeatable)")
    parser.add_argument("--duration", type=duration, default=None,
                        help=f"override the profile's duration: {DURATION_FORMS}")
    parser.add_argument("--scale", type=positive_float, default=None,
                        help="multiply officers per commune and citizen arrivals (> 0)")
    parser.add_argument("--workers", type=non_negative_int, default=0, help="Locust worker processes (0 = one local process)")
    parser.add_argument(SEED.flag, type=seed, default=SEED.default, help=f"{SEED.help} (default {SEED.default})")
    parser.add_argument(POPULATION_SIZE.flag, type=positive_int, default=POPULATION_SIZE.default,
                        help=f"{POPULATION_SIZE.help} (default {POPULATION_SIZE.default})")
    parser.add_argument("--readiness", type=Path, default=None, help="embedded: readiness profile of the mocks")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where run directories go (default runs/)")


def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """The live board's options (``run`` and ``drill``)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(BOARD_PORT.flag, type=port, default=BOARD_PORT.default, metavar="PORT",
                       help=f"{BOARD_PORT.help}; its URL is printed as the load starts (default {BOARD_PORT.default})")
    where.add_argument("--no-board", action="store_true", help="do not serve the live board")
    parser.add_argument(BOARD_REFRESH_S.flag, type=refresh_interval, default=BOARD_REFRESH_S.default, metavar="SECONDS",
                        help=f"{BOARD_REFRESH_S.help} (default {BOARD_REFRESH_S.default:g} s)")


def add_request_timeout_argument(parser: argparse.ArgumentParser) -> None:
    """The load clients' request timeout (``run`` and ``drill``; a drill file may set its own)."""
    parser.add_argument(REQUEST_TIMEOUT_S.flag, type=duration, default=None, metavar="S",
                        help=f"{REQUEST_TIMEOUT_S.help}: {DURATION_FORMS} (default: the drill's, "
                        f"else {REQUEST_TIMEOUT_S.default:g} s)")


def options_from_args(args: argparse.Namespace, profile: str) -> DryRunOptions:
    """Dry-run options from the shared arguments (and the board's, when the command has them)."""
    from dientap.orchestration.dryrun import DryRunOptions

    options = DryRunOptions(
        profile=profile, target=args.target, allow_hosts=tuple(args.allow_host), duration_s=args.duration,
        scale=args.scale, workers=args.workers, seed=args.seed, population_size=args.population_size,
        readiness_file=args.readiness, out=args.out,
        protocols=dict(getattr(args, "protocol", [])), mocks_tls=getattr(args, "mocks_tls", False),
    )
    if getattr(args, "request_timeout", None) is not None:
        options.request_timeout_s = args.request_timeout
    if "remote_workers" in args:
        options.remote_workers = args.remote_workers
        options.master_bind = args.master_bind
        options.remote_workers_wait_s = args.remote_workers_wait
    if "no_board" in args:
        options.board_port = None if args.no_board else args.board
        options.board_refresh_s = args.board_refresh
    return options


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    parser = sub.add_parser(
        "run",
        help="run a nationwide dry run (Locust) against the embedded mocks or a target",
        description="Run a scenario profile headless. With --target embedded (the default) the three mocks "
        "start on free loopback ports and stop afterwards. Results go to OUT/<run-id>/ "
        "(journal.json, summary.json, histograms/, report.html) and OUT/latest points at them.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("profile", nargs="?", default="smoke",
                        help="shipped profile name (smoke, golive, peak, soak, national) or a YAML path")
    add_target_arguments(parser)
    add_board_arguments(parser)
    add_request_timeout_argument(parser)
    parser.add_argument("--budgets", type=Path, default=None, help="apply the latency-budget gate at the end")
    parser.add_argument("--baseline", type=Path, default=None, help="with --budgets: baseline run directory")
    parser.add_argument("--junit", type=Path, default=None, help="with --budgets: write JUnit XML here")
    shapes = parser.add_argument_group("the embedded mocks as a staging system (README: Real targets: shapes, TLS, accounts)")
    shapes.add_argument("--protocol", type=protocol, action="append", default=[], metavar="SERVICE=SHAPE",
                        help="speak this integration shape to that mock, e.g. population=c06-soap "
                        "(repeatable; a targets file names each service's own)")
    shapes.add_argument("--mocks-tls", action="store_true",
                        help="the mocks serve https and require a client certificate (mutual TLS) from a dry-run CA "
                        "in the run's directory")
    many = parser.add_argument_group("workers on other machines (README: Many machines)")
    many.add_argument("--remote-workers", type=non_negative_int, default=0, metavar="N",
                      help="wait for N workers started elsewhere with `dientap worker --master HOST[:PORT]`, "
                      "besides the --workers started here")
    many.add_argument(MASTER_PORT.flag, type=host_port(MASTER_PORT.default), metavar="HOST[:PORT]",
                      default=("127.0.0.1", MASTER_PORT.default),
                      help=f"{MASTER_PORT.help} (default 127.0.0.1:{MASTER_PORT.default}; 0.0.0.0 for other machines)")
    many.add_argument(REMOTE_WORKERS_WAIT_S.flag, type=duration, default=REMOTE_WORKERS_WAIT_S.default, metavar="S",
                      help=f"{REMOTE_WORKERS_WAIT_S.help}: {DURATION_FORMS} (default {REMOTE_WORKERS_WAIT_S.default:g} s)")
    add_prometheus_argument(parser)
    parser.set_defaults(func=run)


def add_prometheus_argument(parser: argparse.ArgumentParser) -> None:
    """``--prometheus [BINARY]``: a real Prometheus on loopback scraping the run (run, drill)."""
    parser.add_argument("--prometheus", nargs="?", const="prometheus", default=None, metavar="BINARY",
                        help="start a Prometheus server on loopback for the run (optionally: the path of the prometheus binary)")


def run(args: argparse.Namespace) -> ExitCode:
    """Run the dry run end to end and print where the results are.

    Interrupted (Ctrl-C, SIGTERM) in any phase, the load is stopped (Locust still writes its
    results), the journal says when and in which phase, and the error propagates (exit 130).
    """
    check_run_arguments(args)  # before anything starts: no mocks, no run directory
    from dientap.orchestration.dryrun import DryRun

    started = time.monotonic()
    phase = ["starting"]  # read by the forced-exit callback, so a list it can see change
    with DryRun(options_from_args(args, args.profile)) as dry:
        dry.check_accounts_file()  # an accounts file that cannot cover the profile: before the run directory
        dry.bind_board()  # a port in use is refused here, before anything starts
        STOP.on_force_exit(lambda: _record_interruption(dry, phase[0]))
        try:
            if dry.options.target == "embedded":
                print(f"starting the embedded mocks (population {args.population_size:,} citizens)...", flush=True)
            dry.start_target()
            if args.prometheus:
                print(f"prometheus: {dry.start_prometheus(args.prometheus)}  (config {dry.run_dir / 'prometheus'})", flush=True)
            officers, agencies = dry.users
            profile = dry.profile
            print(
                f"run {dry.run_id}: profile {profile.name} ×{profile.scale:g}, {profile.duration_s:g} s, "
                f"{officers:,} officers + {agencies} agencies, citizens {profile.citizen_base_rate:g}/s, "
                f"{_workers_phrase(args)}",
                flush=True,
            )
            phase[0] = "load"
            if args.remote_workers:
                host, master_port = args.master_bind
                print(f"master: waiting up to {args.remote_workers_wait:g} s for {args.remote_workers} worker(s) on "
                      f"{host}:{master_port} — on each worker machine: dientap worker --master "
                      f"<this machine>:{master_port} --allow-host <target hosts> --pki-dir <copy of {dry.pki_dir}>",
                      flush=True)
            dry.start_load()
            dry.wait()
        except KeyboardInterrupt:
            if phase[0] == "load":
                print("interrupted: stopping the load (results are still written)...", file=sys.stderr, flush=True)
                dry.stop_load()
            _record_interruption(dry, phase[0])
            raise
    phase[0] = "report"
    try:
        return finish_run(args.out, dry.run_dir, dry.locust_exit or 0, time.monotonic() - started,
                          budgets=args.budgets, baseline=args.baseline, junit=args.junit)
    except KeyboardInterrupt:
        _record_interruption(dry, phase[0])
        raise


def _workers_phrase(args: argparse.Namespace) -> str:
    if args.workers == 0 and args.remote_workers == 0:
        return "local process"
    if args.remote_workers == 0:
        return f"{args.workers} workers"
    return f"{args.workers} local + {args.remote_workers} remote workers"


def _record_interruption(dry: DryRun, phase: str) -> None:
    dry.record_interruption(STOP.signal_name or "SIGINT", STOP.requested_at or datetime.now(UTC), phase)


def print_process_growth(run_dir: Path) -> None:
    """Each process's memory, open files and CPU after the warm-up (from the run's samples)."""
    from reports.process_growth import growth_line, load_process_samples, process_growth

    rows = process_growth(load_process_samples(run_dir))
    if rows:
        print("memory, open files and CPU after the warm-up (least-squares slope; CPU: mean share of a core):")
        for row in rows:
            print(f"  {growth_line(row)}")


def finish_run(out: Path, run_dir: Path, locust_code: int, elapsed: float, *, budgets: Path | None = None,
               baseline: Path | None = None, junit: Path | None = None) -> ExitCode:
    """Point ``latest`` at the run, print its headline, render the report, apply the gate."""
    from dientap.commands.results_writing import writing
    from reports.html import REPORT_FILE
    from reports.run_files import load_summary, update_latest_symlink

    if not (run_dir / "summary.json").exists():
        from dientap.commands.results_writing import full_disk_note

        print(f"ERROR: the run wrote no summary (Locust exited with {locust_code}){full_disk_note(run_dir)}; logs in "
              f"{run_dir / 'logs'}", file=sys.stderr)
        return ExitCode.INTERNAL_ERROR
    # What cannot be written now (the disk filled during the load) is one ERROR line, not a
    # traceback; the records the load wrote stay, and the report and gate can be run again.
    kept = f"the run's records are kept in {run_dir}: once there is room, run `dientap report {run_dir}`"
    with writing(out / "latest", "the link to the newest run", again=f"the run's records are kept in {run_dir}"):
        update_latest_symlink(out, run_dir)
    summary = load_summary(run_dir)
    active_provinces = sum(1 for p in summary.provinces if p.requests)
    # Throttled by the target (423/429 with Retry-After) is not a failure: said apart, when there is any.
    throttled = f", {summary.requests.throttled:,} throttled by the target" if summary.requests.throttled else ""
    print(
        f"\n{summary.requests.total:,} requests ({summary.requests.failed:,} failed{throttled}, {summary.requests.rps:.1f}/s) "
        f"from {summary.communes.active:,}/{summary.communes.total:,} communes in {active_provinces}/34 provinces"
    )
    print_process_growth(run_dir)
    if not summary.generator.trustworthy:
        print(terminal_text("WARNING: the load generator fell behind; latency figures are not trustworthy: "
                            + "; ".join(summary.generator.reasons), one_line=True))
    verdict = ExitCode.OK
    if budgets is not None:
        from dientap.commands.gate_cmd import apply_gate

        verdict = apply_gate(run_dir, budgets, baseline, junit, again=f"the run's records are kept in {run_dir}: once "
                             f"there is room, run `dientap gate {run_dir} --budgets {budgets}`")
    from reports.html import render_report

    with writing(run_dir / REPORT_FILE, "the report", again=kept):
        report = render_report(run_dir)
    print(f"results: {run_dir}")
    print(f"report:  {report}")
    print(f"took {elapsed:.0f} s")
    if summary.abort.aborted:
        # The reason may quote the target's answer (the record keeps it as it was).
        print(terminal_text(f"ABORTED: {summary.abort.reason}", one_line=True), file=sys.stderr)
        return ExitCode.BUDGET_BREACHED
    if not summary.requests.total:
        # Nothing was measured, so nothing passed: every actor stopped before its first request.
        print(f"ERROR: the load sent no request — every actor stopped before its first one; see {run_dir / 'logs'}",
              file=sys.stderr)
        return ExitCode.BUDGET_BREACHED
    return verdict
