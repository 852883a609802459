"""``dientap run``: the nationwide dry run — every active commune goes live at once."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

from dientap.credentials import DEFAULT_DRY_RUN_SECRET
from dientap.errors import ExitCode, UsageError
from dientap.orchestration import MockCluster, MockClusterConfig
from dientap.orchestration.locust_procs import LocustPlan, run_locust

__all__ = ["register", "run", "prepare_run"]

EXAMPLE = """\
Example:
  dientap run smoke                              # embedded mocks, one Locust process
  dientap run golive --workers 2 --scale 0.5     # Locust master + 2 local workers
  dientap run peak --target targets.yaml --allow-host staging-dvc.example.vn
  dientap run smoke --budgets reports/budgets.yaml --junit gate.xml
"""


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
    parser.add_argument("profile", nargs="?", default="smoke", help="shipped profile name (smoke, golive, peak, soak) or a YAML path")
    parser.add_argument("--target", default="embedded", help="'embedded' (default) or a targets.yaml file")
    parser.add_argument("--allow-host", action="append", default=[], help="allow traffic to this host besides loopback (repeatable)")
    parser.add_argument("--duration", type=float, default=None, help="override the profile's duration (seconds)")
    parser.add_argument("--scale", type=float, default=None, help="multiply officers per commune and citizen arrivals")
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes (0 = one local process)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic population and arrivals")
    parser.add_argument("--population-size", type=int, default=100_000, help="citizens in the embedded population mock")
    parser.add_argument("--readiness", type=Path, default=None, help="embedded: readiness profile of the mocks")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where run directories go (default runs/)")
    parser.add_argument("--budgets", type=Path, default=None, help="apply the latency-budget gate at the end")
    parser.add_argument("--baseline", type=Path, default=None, help="with --budgets: baseline run directory")
    parser.add_argument("--junit", type=Path, default=None, help="with --budgets: write JUnit XML here")
    parser.add_argument("--prometheus", action="store_true", help="start a Prometheus server on loopback for the run")
    parser.set_defaults(func=run)


def new_run_id() -> str:
    """A sortable, unique run id."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def prepare_run(args: argparse.Namespace, run_dir: Path):
    """Profile, target and run config for ``args`` (shared with drills)."""
    from scenarios.profile import resolve_profile

    profile = resolve_profile(args.profile).scaled(args.scale, args.duration)
    if args.workers < 0:
        raise UsageError(f"--workers must be ≥ 0, got {args.workers}")
    return profile


def run(args: argparse.Namespace) -> ExitCode:
    """Run the dry run end to end and print where the results are."""
    from scenarios.communes import officer_slots
    from scenarios.runconfig import RUN_CONFIG_ENV, SECRET_ENV, RunConfig
    from scenarios.targets import load_targets

    profile = prepare_run(args, Path())
    run_id = new_run_id()
    run_dir = (args.out / run_id).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    cluster = None
    started = time.monotonic()
    try:
        if args.target == "embedded":
            config = MockClusterConfig(
                data_dir=run_dir / "mocks", seed=args.seed, population_size=args.population_size,
                readiness_file=args.readiness, log_dir=run_dir / "logs",
            )
            print(f"starting the embedded mocks (population {args.population_size:,} citizens)...", flush=True)
            cluster = MockCluster(config)
            cluster.start()
            urls, secret, pki_dir, target_name, kind = cluster.urls, DEFAULT_DRY_RUN_SECRET, run_dir / "mocks" / "axis" / "pki", "embedded mocks", "embedded"
            admin_token = config.admin_token
        else:
            target = load_targets(args.target, extra_allow_hosts=tuple(args.allow_host))
            urls, secret, pki_dir, target_name, kind = target.urls, target.dry_run_secret, target.pki_dir, target.name, "file"
            admin_token = target.admin_token
        run_config = RunConfig(
            run_id=run_id, run_dir=run_dir, profile=profile, seed=args.seed, population_size=args.population_size,
            urls=urls, pki_dir=pki_dir, workers=args.workers, target_kind=kind, target_name=target_name,
            command_line=["dientap", *sys.argv[1:]],
        )
        config_path = run_dir / "run-config.json"
        run_config.write(config_path)
        slots = len(officer_slots(profile))
        agencies = len({s.commune.province_code for s in officer_slots(profile)}) if profile.agencies.enabled else 0
        print(
            f"run {run_id}: profile {profile.name} ×{profile.scale:g}, {profile.duration_s:g} s, "
            f"{slots:,} officers + {agencies} agencies, citizens {profile.citizen_base_rate:g}/s, "
            f"{'local process' if args.workers == 0 else f'{args.workers} workers'}",
            flush=True,
        )
        env = {RUN_CONFIG_ENV: str(config_path), SECRET_ENV: secret}
        if admin_token:
            env["DIENTAP_ADMIN_TOKEN"] = admin_token
        code = run_locust(LocustPlan(
            users=slots + agencies, spawn_rate=profile.spawn_rate, run_time_s=profile.duration_s, workers=args.workers,
            env=env, log_dir=run_dir / "logs",
        ))
    finally:
        if cluster is not None:
            cluster.close()
    return _finish(args, run_dir, code, time.monotonic() - started)


def _finish(args: argparse.Namespace, run_dir: Path, locust_code: int, elapsed: float) -> ExitCode:
    from reports.journal import load_summary, update_latest_symlink

    if not (run_dir / "summary.json").exists():
        print(f"ERROR: the run wrote no summary (Locust exited with {locust_code}); logs in {run_dir / 'logs'}", file=sys.stderr)
        return ExitCode.INTERNAL_ERROR
    update_latest_symlink(args.out, run_dir)
    summary = load_summary(run_dir)
    active_provinces = sum(1 for p in summary.provinces if p.requests)
    print(
        f"\n{summary.requests.total:,} requests ({summary.requests.failed:,} failed, {summary.requests.rps:.1f}/s) "
        f"from {summary.communes.active:,}/{summary.communes.total:,} communes in {active_provinces}/34 provinces"
    )
    if not summary.generator.trustworthy:
        print("WARNING: the load generator fell behind; latency figures are not trustworthy: " + "; ".join(summary.generator.reasons))
    report = _render_report(run_dir)
    verdict = ExitCode.OK
    if args.budgets is not None:
        from dientap.commands.gate_cmd import apply_gate

        verdict = apply_gate(run_dir, args.budgets, args.baseline, args.junit)
        report = _render_report(run_dir) or report  # re-render with the gate's verdicts
    print(f"results: {run_dir}")
    if report:
        print(f"report:  {report}")
    print(f"took {elapsed:.0f} s")
    if summary.abort.aborted:
        print(f"ABORTED: {summary.abort.reason}", file=sys.stderr)
        return ExitCode.BUDGET_BREACHED
    return verdict


def _render_report(run_dir: Path) -> Path | None:
    try:
        from reports.html import render_report
    except ImportError:
        return None
    return render_report(run_dir)


_ = os
