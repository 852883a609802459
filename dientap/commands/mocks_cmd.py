"""``dientap mocks``: run the three reference mock services on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dientap.commands.options import DURATION_FORMS, duration, officer_count, positive_int, seed
from dientap.commands.preflight import check_folder, check_mocks_environment, check_population_size, check_readiness
from kernel.credentials import default_secret_warning
from kernel.defaults import OFFICERS_PER_COMMUNE, POPULATION_SIZE, SEED
from kernel.errors import ExitCode, UsageError
from kernel.stopping import STOP

# The cluster (and the mocks' settings behind it) is imported when the command runs: every
# `dientap` command registers this one, and a refused flag of another should not pay for it.
if TYPE_CHECKING:
    from dientap.orchestration import MockCluster
    from dientap.orchestration.mockcluster import ServiceBindError

__all__ = ["register"]

EXAMPLE = """\
Example:
  dientap mocks --data-dir .dientap/data --population-size 20000
  # then, in another shell:
  curl -s http://127.0.0.1:8701/healthz
"""


def _ports(text: str) -> dict[str, int]:
    names = ("portal", "population", "axis")
    try:
        values = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ports expects three numbers PORTAL,POPULATION,AXIS, got {text!r}") from None
    if len(values) != 3 or not all(0 <= v <= 65535 for v in values):
        raise argparse.ArgumentTypeError(f"--ports expects three ports 0–65535 as PORTAL,POPULATION,AXIS, got {text!r}")
    fixed = [v for v in values if v]
    if len(set(fixed)) != len(fixed):
        raise argparse.ArgumentTypeError(f"--ports expects three different ports (0 = a free one), got {text!r}")
    return dict(zip(names, values, strict=True))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``mocks`` subcommand."""
    parser = sub.add_parser(
        "mocks",
        help="run the portal, population and axis mocks on loopback",
        description="Start the three reference mock services, wait until healthy, print their URLs "
        "and the admin token, and run until Ctrl-C.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--ports", type=_ports, default=_ports("8701,8702,8703"),
                        help="PORTAL,POPULATION,AXIS (default 8701,8702,8703; 0 = free port)")
    parser.add_argument("--data-dir", type=Path, default=Path(".dientap/data"), help="where the SQLite databases live")
    parser.add_argument("--readiness", type=Path, default=None, help="readiness profile YAML (default: all provinces ready)")
    parser.add_argument(SEED.flag, type=seed, default=SEED.default, help=f"{SEED.help} (default {SEED.default})")
    parser.add_argument(POPULATION_SIZE.flag, type=positive_int, default=POPULATION_SIZE.default,
                        help=f"{POPULATION_SIZE.help} (default {POPULATION_SIZE.default})")
    parser.add_argument("--admin-token", default=None, help="admin API token (default: random, printed)")
    parser.add_argument("--vulnerable", default="",
                        help="plant weaknesses for security drills, e.g. portal:no_lockout,axis:xxe_enabled (loopback only)")
    parser.add_argument(OFFICERS_PER_COMMUNE.flag, type=officer_count, default=OFFICERS_PER_COMMUNE.default,
                        help=f"{OFFICERS_PER_COMMUNE.help} (default {OFFICERS_PER_COMMUNE.default}; "
                        "golive --scale 10 signs in 10)")
    parser.add_argument("--duration", type=duration, default=None, help=f"stop by itself after this long: {DURATION_FORMS}")
    parser.add_argument("--tls-dir", type=Path, default=None, metavar="DIR",
                        help="serve https with certificates from a dry-run CA kept in DIR (ca/ca.pem to trust, "
                        "client.pem/.key to show): rehearse a targets file's tls options")
    parser.add_argument("--client-auth", action="store_true",
                        help="with --tls-dir: require a client certificate from the CA (mutual TLS)")
    parser.set_defaults(func=run)


def _vulnerable(text: str, host: str) -> dict[str, list[str]]:
    """``--vulnerable`` as service → weaknesses, refused here as each service would refuse it."""
    from dientap.orchestration.mockcluster import check_weaknesses

    out: dict[str, list[str]] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        service, sep, weakness = item.partition(":")
        if not sep or service not in ("portal", "population", "axis"):
            raise UsageError(f"--vulnerable expects SERVICE:WEAKNESS items, got {item!r}")
        out.setdefault(service, []).append(weakness)
    try:
        check_weaknesses(out, host)
    except UsageError as exc:
        raise UsageError(f"argument --vulnerable: {exc}") from None
    return out


def _bind_refused(exc: ServiceBindError) -> UsageError:
    """The flag to change when a service's socket cannot be bound, with the value that failed."""
    if exc.bad_host:
        return UsageError(f"argument --host: cannot listen on {exc.host!r} ({exc.reason}); give an address of "
                          "this machine: 127.0.0.1 (the default), ::1, or 0.0.0.0 for all")
    return UsageError(f"argument --ports: cannot listen on port {exc.port} for the {exc.service} mock on {exc.host} "
                      f"({exc.reason}); give free ports as PORTAL,POPULATION,AXIS, or 0 for any free one")


def run(args: argparse.Namespace) -> ExitCode:
    """Start the cluster and block until interrupted (or ``--duration`` passes)."""
    from dientap.orchestration import MockCluster, MockClusterConfig
    from dientap.orchestration.mockcluster import ServiceBindError, check_secret, uses_default_secret

    # Every value is checked before anything starts (no socket, no process, no data folder).
    vulnerable = _vulnerable(args.vulnerable, args.host)
    try:
        check_secret(args.host)
    except UsageError as exc:
        raise UsageError(f"argument --host: {exc}") from None
    check_population_size(args.population_size)
    check_mocks_environment()
    check_readiness(args.readiness)
    check_folder("--data-dir", args.data_dir)
    if args.tls_dir is not None:
        check_folder("--tls-dir", args.tls_dir)
    elif args.client_auth:
        raise UsageError("argument --client-auth: mutual TLS needs TLS; add --tls-dir DIR")
    config = MockClusterConfig(
        host=args.host,
        ports=args.ports,
        data_dir=args.data_dir,
        seed=args.seed,
        population_size=args.population_size,
        readiness_file=args.readiness,
        vulnerable=vulnerable,
        log_dir=args.data_dir / "logs",
        extra_settings={"portal": {OFFICERS_PER_COMMUNE.name: args.officers_per_commune}},
        tls_dir=args.tls_dir,
        client_auth=frozenset(("portal", "population", "axis")) if args.client_auth else frozenset(),
    )
    if args.admin_token:
        config.admin_token = args.admin_token
    if uses_default_secret():  # one line for the three services (each also logs its own)
        print(default_secret_warning("the mocks"), file=sys.stderr, flush=True)
    print(f"starting the embedded mocks (population {args.population_size:,} citizens)...", flush=True)
    cluster = MockCluster(config)
    # Ctrl-C or SIGTERM before the services are ready interrupts the start (exit 130);
    # from the moment they serve it is this command's normal stop (exit 0) — already while
    # their URLs are printed, a write that blocks as long as the reader of stdout does.
    serving = False
    try:
        try:
            cluster.start()
        except ServiceBindError as exc:
            raise _bind_refused(exc) from None
        serving = True
        for name, url in cluster.urls.items():
            print(f"{name:<11} {url}")
        if cluster.tls is not None:
            tls = cluster.tls
            print(f"tls         trust {tls.ca}; client certificate {tls.client_cert}, key {tls.client_key}"
                  + (" (required)" if args.client_auth else ""))
        print(f"admin token {config.admin_token}")
        print(f"logs        {config.log_dir}")
        print("Ctrl-C to stop.", flush=True)
        STOP.sleep(args.duration)
    except KeyboardInterrupt:
        if not serving:
            raise
    finally:
        _close(cluster, serving)
    print("mocks stopped.")
    return ExitCode.OK


def _close(cluster: MockCluster, serving: bool) -> None:
    """Stop the services; a first Ctrl-C that lands while they stop after ``--duration`` asks
    for the stop under way, so it is finished (a second one escalates: kernel.stopping)."""
    try:
        cluster.close()
    except KeyboardInterrupt:
        if not serving:
            raise
        cluster.close()
