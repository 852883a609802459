"""``dientap worker``: a Locust worker on this machine for a ``dientap run`` master elsewhere.

It needs only the installed package: the master hands it the run's Locust entry and
configuration (Locust's ``-f -``; see :mod:`dientap.orchestration.remote`). What it will send
traffic to is its own decision — ``--allow-host`` here, loopback by default — and so are its
secrets: the dry-run secret from ``DIENTAP_DRY_RUN_SECRET`` and the agency keys from
``--pki-dir``; nothing secret crosses the master's channel.

When a run ends (or its master goes away: Locust workers quit a minute after the master's
last heartbeat) it connects again and waits for the next master on the same address, so one
worker pool serves run after run. Bounded like every loop of dientap: at most ``--runs`` runs,
and it stops when no master has answered for ``--idle-timeout``. A refusal (versions, the
allowlist, missing keys) ends it at once: the same master would be refused again.
"""

from __future__ import annotations

import argparse
import os
import subprocess  # we launch Locust with a fixed argument list  # nosec B404
import sys
import tempfile
import time
from pathlib import Path

from dientap.commands.options import DURATION_FORMS, allow_host, duration, host_port, positive_int
from dientap.commands.preflight import check_folder
from dientap.orchestration.remote import (
    ALLOW_HOSTS_ENV,
    DEFAULT_WORKER_OUT,
    JOINED_ENV,
    PKI_DIR_ENV,
    REFUSED_EXIT,
    RESTART_EXIT,
    WORKER_OUT_ENV,
)
from kernel.allowlist import Allowlist
from kernel.defaults import MASTER_PORT
from kernel.errors import ExitCode, UsageError
from kernel.stopping import CHILDREN, STOP, stop_processes

__all__ = ["register", "worker"]


def _child_options() -> dict:
    # Imported here: dientap.orchestration.process brings httpx, which a refused flag of
    # any command (all register this one) should not pay for.
    from dientap.orchestration.process import child_process_options

    return child_process_options()

EXAMPLE = f"""\
Example:
  # the master's machine runs: dientap run golive --target targets.yaml --remote-workers 2 --master-bind 0.0.0.0
  # on each worker machine: the same dientap version, a copy of the run's dry-run CA,
  # and the dry-run secret in DIENTAP_DRY_RUN_SECRET
  dientap worker --master master.example.vn:{MASTER_PORT.default} --allow-host staging-dvc.example.vn \\
      --allow-host staging-dc.example.vn --allow-host staging-truc.example.vn --pki-dir dry-run-pki/
"""

RETRY_S = (1.0, 10.0)  # the wait between two attempts to reach a master: doubles from 1 s to 10 s


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``worker`` subcommand."""
    parser = sub.add_parser(
        "worker",
        help="a Locust worker for a dientap run master on another machine",
        description="Join the dientap run master at HOST[:PORT]: fetch its Locust entry and run configuration, "
        "refuse any target outside this worker's own allowlist, play its share of the load, then wait for "
        "the next run.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--master", required=True, type=host_port(MASTER_PORT.default), metavar="HOST[:PORT]",
                        help=f"the master's address (port default {MASTER_PORT.default})")
    parser.add_argument("--allow-host", type=allow_host, action="append", default=[],
                        help="a host this worker may send traffic to besides loopback (repeatable); whatever "
                        "the master's run names, a host not given here is refused before any traffic")
    parser.add_argument("--pki-dir", type=Path, default=None,
                        help="this machine's copy of the run's dry-run CA directory (signs axis documents)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_WORKER_OUT),
                        help=f"where this worker keeps a copy of what it shipped, per run (default {DEFAULT_WORKER_OUT}/)")
    parser.add_argument("--runs", type=positive_int, default=100, metavar="N",
                        help="stop after N runs (default 100)")
    parser.add_argument("--idle-timeout", type=duration, default=3600.0, metavar="S",
                        help=f"stop when no master has answered for this long: {DURATION_FORMS} (default 1h)")
    parser.set_defaults(func=worker)


def _check(args: argparse.Namespace) -> None:
    if args.pki_dir is not None and not (args.pki_dir / "ca.pem").is_file():
        raise UsageError(f"argument --pki-dir: {str(args.pki_dir)!r} holds no dry-run CA (ca.pem, ca.key); give a "
                         "copy of the directory the master's run signs with (the axis mock's pki/)")
    check_folder("--out", args.out)


def worker(args: argparse.Namespace) -> ExitCode:
    """Serve run after run of the master at ``--master`` until a bound is reached."""
    _check(args)
    host, port = args.master
    allow = Allowlist(args.allow_host)
    env = {**os.environ, ALLOW_HOSTS_ENV: ",".join(sorted(allow.extra_hosts)), WORKER_OUT_ENV: str(args.out.resolve())}
    if args.pki_dir is not None:
        env[PKI_DIR_ENV] = str(args.pki_dir.resolve())
    listed = ", ".join(sorted(allow.extra_hosts)) or "none"
    print(f"worker: master {host}:{port}; allowlist loopback + {listed}; copies in {args.out}/", flush=True)
    command = [sys.executable, "-m", "locust", "-f", "-", "--worker", "--master-host", host, "--master-port", str(port),
               "--loglevel", "WARNING"]
    with tempfile.TemporaryDirectory(prefix="dientap-worker-") as scratch:
        joined = Path(scratch) / "joined"
        env[JOINED_ENV] = str(joined)
        return _serve(args, command, env, joined, f"{host}:{port}")


def _serve(args: argparse.Namespace, command: list[str], env: dict[str, str], joined: Path, master: str) -> ExitCode:
    runs, wait_s, idle_since = 0, RETRY_S[0], time.monotonic()
    while runs < args.runs:
        joined.unlink(missing_ok=True)
        proc = subprocess.Popen(command, env=env, **_child_options())  # nosec B603 - fixed argument list
        CHILDREN.add(proc)
        # Locust's worker waits 300 s for a master to hand it the entry: the idle bound
        # must hold during that wait, not only between attempts.
        code = _wait(proc, idle_until=idle_since + args.idle_timeout, joined=joined)
        if code == REFUSED_EXIT:
            return ExitCode.TARGET_NOT_ALLOWED  # the child said why, in one ERROR: line
        if joined.exists():  # a master answered: whatever the run's end, the worker was not idle
            idle_since, wait_s = time.monotonic(), RETRY_S[0]
            if code in (0, RESTART_EXIT):
                runs += 1
                print(f"worker: run {runs} over (exit {code}); waiting for the next master on {master}", flush=True)
                continue
        if time.monotonic() - idle_since >= args.idle_timeout:
            print(f"worker: no master on {master} for {args.idle_timeout:g} s; stopping", flush=True)
            return ExitCode.OK
        STOP.sleep(min(wait_s, max(0.0, idle_since + args.idle_timeout - time.monotonic())))
        wait_s = min(RETRY_S[1], wait_s * 2)
    print(f"worker: stopping after {runs} run(s)", flush=True)
    return ExitCode.OK


def _wait(proc: subprocess.Popen, *, idle_until: float, joined: Path) -> int | None:
    """The worker's exit code; None when no master handed it an entry by ``idle_until``
    (it is then stopped). On Ctrl-C or SIGTERM (a ``KeyboardInterrupt`` from
    :data:`STOP`) it is stopped — SIGTERM makes a Locust worker stop its users and tell the
    master — and the stop propagates (exit 130)."""
    try:
        while proc.poll() is None:
            if time.monotonic() >= idle_until and not joined.exists():
                stop_processes([proc], 5.0)
                return None
            time.sleep(0.2)
    except KeyboardInterrupt:
        stop_processes([proc], 15.0)
        raise
    return proc.wait()
