"""``dientap security``: attack checks against the embedded mocks or an allowlisted target."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.errors import ExitCode
from kernel.stopping import STOP
from kernel.terminal_text import terminal_text

if TYPE_CHECKING:
    from drills.security import SecurityCheck, SecurityTarget
    from reports.journal import Journal
    from reports.security_scorecard import SecurityCheckResult, SecurityScorecard

__all__ = ["register", "security", "SCORECARD_FILE"]

SCORECARD_FILE = "security.json"
WARM_UP_S = 10.0

EXAMPLE = """\
Example:
  dientap security --list                                   # checks and the weakness each can plant
  dientap security                                          # every check against the embedded mocks
  dientap security --checks auth.lockout,authz.bola-dossier
  dientap security --under-load smoke                       # attacks during a dry run
  STAGING_DRY_RUN_SECRET=... STAGING_ADMIN_TOKEN=... \\
    dientap security --target staging.yaml --allow-host staging-dvc.example.vn
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``security`` subcommand."""
    from dientap.commands.run_cmd import add_target_arguments

    parser = sub.add_parser(
        "security",
        help="run security checks (OWASP API Top 10 2023) and write a scorecard",
        description="Run attack checks against the embedded mocks (default) or an allowlisted target, alone or "
        "during a dry run (--under-load). Prints one line per check (ID PASS|FAIL|ERROR evidence), writes "
        f"OUT/<run-id>/{SCORECARD_FILE}, the journal's security section and report.html, and exits "
        f"{int(ExitCode.BUDGET_BREACHED)} when a check does not pass.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument("--list", action="store_true", help="list the checks and the weakness each can plant, then exit")
    parser.add_argument("--checks", type=check_ids, default=None, metavar="ID,...",
                        help="comma-separated check ids, each once (default: all; see --list)")
    parser.add_argument("--under-load", metavar="PROFILE", default=None,
                        help="run the checks during a dry run of this profile (smoke, golive, ...)")
    parser.set_defaults(func=security)


def check_ids(text: str) -> list[str]:
    """``--checks``: check ids separated by commas, in the order given; an id named twice runs
    once (it would otherwise be run, and counted, twice). Naming none is refused rather than
    read as "all": leave the flag out for every check."""
    ids = list(dict.fromkeys(i.strip() for i in text.split(",") if i.strip()))
    if not ids:
        raise argparse.ArgumentTypeError(f"{text!r} names no check; give check ids separated by commas, e.g. "
                                         "auth.lockout,authz.bola-dossier (`dientap security --list`), or leave "
                                         "--checks out for all of them")
    return ids


def list_checks() -> ExitCode:
    """Print the registry: id, weakness it can plant, OWASP item, title."""
    from drills.security import all_checks

    checks = all_checks()
    print(f"{'ID':<32} {'PLANTED WEAKNESS (--vulnerable)':<44} OWASP / RULE")
    for c in checks:
        print(f"{c.spec.id:<32} {c.spec.weakness_names:<44} {c.spec.owasp}")
        print(f"{'':<32}   {c.spec.title}")
    print(f"\n{len(checks)} checks. Pass criteria: docs in drills/security/checks_*.py (CheckSpec.passes_when).")
    _print_owasp_coverage(checks)
    return ExitCode.OK


def _print_owasp_coverage(checks: list[SecurityCheck]) -> None:
    from drills.security import OWASP_API_TOP10, owasp_coverage

    coverage = owasp_coverage(checks)
    covered = [n for n, ids in coverage.items() if ids]
    print(f"\nOWASP API Security Top 10 (2023): {len(covered)} of {len(OWASP_API_TOP10)} categories covered")
    for n, ids in coverage.items():
        label = f"API{n}:2023 {OWASP_API_TOP10[n]}"
        print(f"  {label:<62} {len(ids)} check(s)" if ids else f"  {label:<62} NOT COVERED")


def security(args: argparse.Namespace) -> ExitCode:
    """Run the selected checks and write the scorecard; non-zero exit when one does not pass."""
    if args.list:
        return list_checks()
    from dientap.commands.preflight import check_target_arguments
    from drills.security import select_checks

    checks = select_checks(args.checks)  # unknown ids fail before anything starts
    check_target_arguments(args)
    if args.under_load:
        return _under_load(args, checks)
    return _alone(args, checks)


class _Progress:
    """Prints one line per finished check and remembers when each started (for the timeline)."""

    def __init__(self) -> None:
        self.started_at: dict[str, datetime] = {}

    def __call__(self, result: SecurityCheckResult, seconds: float) -> None:
        from drills.security import console_line

        self.started_at[result.id] = datetime.now(UTC) - timedelta(seconds=seconds)
        print(console_line(result), flush=True)


def _target(args: argparse.Namespace, urls: dict[str, str] | None, admin_token: str | None,
            pki: Path | None) -> SecurityTarget:
    from drills.security import SecurityTarget, target_from_file

    if args.target == "embedded":
        assert urls is not None  # the caller started the embedded mocks  # nosec B101
        return SecurityTarget(name="embedded mocks", kind="embedded", urls=urls, dry_run_secret=DEFAULT_DRY_RUN_SECRET,
                              admin_token=admin_token, pki_dir=pki, seed=args.seed,
                              population_size=args.population_size, knows_signing_keys=True)
    return target_from_file(args.target, extra_allow_hosts=tuple(args.allow_host), seed=args.seed,
                            population_size=args.population_size)


def _alone(args: argparse.Namespace, checks: list[SecurityCheck]) -> ExitCode:
    from dientap.orchestration.dryrun import new_run_id
    from dientap.orchestration.mockcluster import MockCluster, MockClusterConfig
    from drills.security import run_suite

    run_id = new_run_id()
    run_dir = (args.out / run_id).resolve()
    started_at = datetime.now(UTC)
    cluster = None
    try:
        if args.target == "embedded":
            # The shipped defaults, as `dientap mocks` and `dientap run` start them: the scorecard
            # judges the configuration teams run, and states it (GET /admin/limits).
            config = MockClusterConfig(data_dir=run_dir / "mocks", seed=args.seed, population_size=args.population_size,
                                       readiness_file=args.readiness, log_dir=run_dir / "logs")
            print(f"starting the embedded mocks (population {args.population_size:,} citizens)...", flush=True)
            run_dir.mkdir(parents=True, exist_ok=True)
            cluster = MockCluster(config)
            cluster.start()
            target = _target(args, cluster.urls, config.admin_token, run_dir / "mocks" / "axis" / "pki")
        else:
            target = _target(args, None, None, None)
            target.check_allowed()
            run_dir.mkdir(parents=True, exist_ok=True)
        print(f"security run {run_id}: {len(checks)} checks against {target.name}", flush=True)
        progress = _Progress()
        scorecard = run_suite(target, checks, on_result=progress)
    except KeyboardInterrupt:
        _record_interruption(run_dir, run_id, args, started_at)
        raise
    finally:
        if cluster is not None:
            cluster.close()
    with _writing_records(run_dir):
        _write_new_run(run_dir, run_id, target, scorecard, started_at, progress.started_at)
        return _finish(args.out, run_dir, scorecard)


def _writing_records(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    """The records written once the checks are done: one that cannot be (the disk is full) is
    one ERROR line — each check's verdict is already on the console, one line per check."""
    from dientap.commands.results_writing import writing

    return writing(run_dir, "the security run's records (journal, scorecard, report)",
                   again="each check's verdict is printed above")


def _under_load(args: argparse.Namespace, checks: list[SecurityCheck]) -> ExitCode:
    from dientap.commands.run_cmd import options_from_args
    from dientap.orchestration.dryrun import DryRun
    from drills.security import run_suite
    from reports.run_files import load_journal, write_journal

    options = options_from_args(args, args.under_load)
    with DryRun(options) as dry:
        dry.check_accounts_file()  # before the run directory: what the account check would refuse later
        dry.start_target()
        pki = dry.run_dir / "mocks" / "axis" / "pki" if args.target == "embedded" else None
        target = _target(args, dry.urls, dry.admin_token, pki)
        dry.start_load()
        warm_up = min(WARM_UP_S, dry.profile.duration_s / 4)
        print(f"run {dry.run_id}: profile {dry.profile.name}, {dry.profile.duration_s:g} s; attacks start after "
              f"{warm_up:g} s of load", flush=True)
        try:
            dry.wait(warm_up)
            load_started = time.monotonic() - warm_up
            progress = _Progress()
            scorecard = run_suite(target, checks, under_load=True, on_result=progress)
            attacks_took = time.monotonic() - load_started - warm_up
            if attacks_took > dry.profile.duration_s - warm_up:
                print("WARNING: the checks outlasted the load; the later checks ran without it", file=sys.stderr)
            dry.wait()
        except KeyboardInterrupt:
            dry.stop_load()
            dry.record_interruption(STOP.signal_name or "SIGINT", STOP.requested_at or datetime.now(UTC),
                                    "checks")
            raise
        run_dir = dry.run_dir
    if not (run_dir / "journal.json").exists() or not (run_dir / "summary.json").exists():
        from dientap.commands.results_writing import full_disk_note

        print(f"ERROR: the dry run wrote no journal/summary (Locust exited with {dry.locust_exit})"
              f"{full_disk_note(run_dir)}; logs in {run_dir / 'logs'}", file=sys.stderr)
        with _writing_records(run_dir):
            _write_scorecard(run_dir, scorecard)
        return ExitCode.INTERNAL_ERROR
    journal = load_journal(run_dir)
    _add_security(journal, scorecard, progress.started_at)
    with _writing_records(run_dir):
        write_journal(run_dir, journal)
        return _finish(args.out, run_dir, scorecard)


def _add_security(journal: Journal, scorecard: SecurityScorecard, started_at: dict[str, datetime]) -> None:
    """Put the scorecard in the journal and one ``security_check`` event per check on the timeline."""
    journal.security = scorecard
    for c in scorecard.checks:
        journal.add_event("security_check", c.id, t=started_at.get(c.id), status=c.verdict, owasp=c.owasp,
                          phase=c.phase, detected_after_s=c.detected_after_s)


def _record_interruption(run_dir: Path, run_id: str, args: argparse.Namespace, started_at: datetime) -> None:
    """A security-only run interrupted before its scorecard: its journal says so."""
    from dientap.orchestration.dryrun import record_interruption
    from kernel.provenance import build_provenance

    at = STOP.requested_at or datetime.now(UTC)
    embedded = args.target == "embedded"
    provenance = build_provenance(
        run_id=run_id, profile="security", seed=args.seed, target_kind="embedded" if embedded else "file",
        target_name="embedded mocks" if embedded else str(args.target),
        started_at=started_at, ended_at=at, command_line=["dientap", *sys.argv[1:]],
    )
    record_interruption(run_dir, provenance, STOP.signal_name or "SIGINT", at, "checks")


def _write_scorecard(run_dir: Path, scorecard: SecurityScorecard) -> Path:
    from reports.run_files import atomic_write_text

    return atomic_write_text(run_dir / SCORECARD_FILE, scorecard.model_dump_json(indent=2))


def _write_new_run(run_dir: Path, run_id: str, target: SecurityTarget, scorecard: SecurityScorecard,
                   started_at: datetime, check_times: dict[str, datetime]) -> None:
    """A journal and an empty-load summary for a security-only run, so the report renders."""
    from kernel.provenance import build_provenance
    from reports.journal import Journal
    from reports.run_files import write_run_dir
    from reports.summary import CommunesSummary, GeneratorHealth, RequestTotals, Summary

    ended = datetime.now(UTC)
    provenance = build_provenance(
        run_id=run_id, profile="security", seed=target.seed, target_kind=target.kind, target_name=target.name,
        urls=target.urls, started_at=started_at, ended_at=ended, command_line=["dientap", *sys.argv[1:]],
    )
    journal = Journal(provenance=provenance)
    _add_security(journal, scorecard, check_times)
    summary = Summary(run_id=run_id, profile="security", duration_s=(ended - started_at).total_seconds(),
                      requests=RequestTotals(total=0, failed=0, rps=0.0),
                      communes=CommunesSummary(total=0, active=0, with_failures=0),
                      generator=GeneratorHealth(trustworthy=True, reasons=["no load: security checks only"]))
    write_run_dir(run_dir, journal, summary)


def _finish(out: Path, run_dir: Path, scorecard: SecurityScorecard) -> ExitCode:
    from reports.html import render_report
    from reports.run_files import update_latest_symlink

    scorecard_path = _write_scorecard(run_dir, scorecard)
    update_latest_symlink(out, run_dir)
    report = render_report(run_dir)
    counts = {v: sum(c.verdict == v for c in scorecard.checks) for v in ("PASS", "FAIL", "ERROR")}
    if scorecard.target_limits is not None:
        # Read from the target's own answers: escaped, as every string it chose.
        print("\n" + terminal_text(f"target limits: {scorecard.target_limits.describe()}", one_line=True))
        unknown = {n: s for n, s in scorecard.target_limits.sources.items() if s.startswith("unknown")}
        for name, why in unknown.items():
            print(terminal_text(f"  {name}: {why}", one_line=True))
    print(f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['ERROR']} could not run "
          f"(of {len(scorecard.checks)})")
    print(f"scorecard: {scorecard_path}")
    print(f"report:    {report}")
    if counts["FAIL"] or counts["ERROR"]:
        return ExitCode.BUDGET_BREACHED
    return ExitCode.OK
