"""Run one mock service: ``python -m mocks serve {portal|population|axis} [options]``.

``dientap mocks`` starts all three this way, one process each, so a drill can SIGKILL or
SIGSTOP one service without touching the others.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from kernel.credentials import DRY_RUN_SECRET_ENV, default_secret_warning
from kernel.defaults import POPULATION_SIZE, SEED, sqlite_synchronous
from mocks import DEFAULT_PORTS, SERVICES
from mocks.core.settings import ServiceSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mocks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve one mock service with uvicorn")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="TCP port (default: the service's own)")
    serve.add_argument("--fd", type=int, default=None, help="serve on an inherited, already bound socket")
    serve.add_argument("--data-dir", type=Path, default=Path(".dientap/data"))
    serve.add_argument(SEED.flag, type=int, default=SEED.default)
    serve.add_argument(POPULATION_SIZE.flag, type=int, default=POPULATION_SIZE.default)
    serve.add_argument("--readiness", type=Path, default=None, help="readiness profile YAML")
    serve.add_argument("--population-url", default=None, help="portal only: base URL of the population service")
    serve.add_argument("--vulnerable", default="", help="comma-separated weaknesses to plant (loopback only)")
    serve.add_argument("--settings-json", default=None, help="extra settings as a JSON object (tests, drills)")
    serve.add_argument("--tls-cert", type=Path, default=None, help="serve https with this certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, default=None, help="the certificate's unencrypted key (PEM)")
    serve.add_argument("--tls-client-ca", type=Path, default=None,
                       help="require a client certificate issued by this CA (PEM): mutual TLS")
    return parser


def _tls_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the TLS flags (None when they are usable or absent)."""
    if (args.tls_cert is None) != (args.tls_key is None):
        return "--tls-cert and --tls-key go together"
    if args.tls_client_ca is not None and args.tls_cert is None:
        return "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)"
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key), ("--tls-client-ca", args.tls_client_ca)):
        if path is not None and not path.is_file():
            return f"{flag}: no such file: {path}"
    return None


def build_settings(args: argparse.Namespace) -> ServiceSettings:
    """Settings from flags, ``DIENTAP_*`` environment variables and ``--settings-json``."""
    import json

    values: dict = {
        "host": args.host,
        "port": args.port if args.port is not None else DEFAULT_PORTS[args.service],
        "data_dir": args.data_dir,
        "seed": args.seed,
        "population_size": args.population_size,
        "readiness_file": args.readiness,
        "population_url": args.population_url,
        "vulnerable": frozenset(v.strip() for v in args.vulnerable.split(",") if v.strip()),
        "admin_token": os.environ.get("DIENTAP_ADMIN_TOKEN") or None,
        "tls_cert_file": args.tls_cert,
    }
    secret = os.environ.get(DRY_RUN_SECRET_ENV)
    if secret:
        values["dry_run_secret"] = secret
    if args.settings_json:
        values.update(json.loads(args.settings_json))
    return ServiceSettings(**values)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    listening: socket.socket | None = None
    if args.fd is not None:
        # A socket bound by the supervisor: its address is where this service is reached
        # (the portal's payment callbacks, re-scheduled at start, go there), not the
        # default port the settings would otherwise assume.
        listening = socket.socket(fileno=args.fd)
        bound = listening.getsockname()
        args.host = str(bound[0])
        if args.port is None:
            args.port = int(bound[1])
    try:
        settings = build_settings(args)
    except ValidationError as exc:
        # One line, each problem named by its setting (pydantic's own text spans lines).
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}"
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        print(f"ERROR: invalid settings for {args.service}: {problems}", file=sys.stderr)
        return 3
    except ValueError as exc:
        print(f"ERROR: invalid settings for {args.service}: {exc}", file=sys.stderr)
        return 3
    try:
        sqlite_synchronous(os.environ)
    except ValueError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 3
    problem = _tls_problem(args)
    if problem is not None:
        print(f"ERROR: {problem}", file=sys.stderr)
        return 2
    if settings.default_secret:
        print(default_secret_warning(f"the {args.service} mock"), file=sys.stderr, flush=True)
    import ssl

    import uvicorn

    from mocks.core.protocol import MockHttpProtocol

    tls: dict = {}
    if args.tls_cert is not None:
        tls = {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)}
        if args.tls_client_ca is not None:
            tls.update(ssl_ca_certs=str(args.tls_client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    app = importlib.import_module(f"mocks.{args.service}").create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=MockHttpProtocol,  # httptools, head capped at 16 KiB, protocol errors in the error form
        access_log=False,
        log_level=os.environ.get("DIENTAP_MOCK_LOG_LEVEL", "warning"),
        timeout_keep_alive=30,
        backlog=4096,
        # The mocks face their clients directly: the peer address is the truth, and a
        # client-supplied X-Forwarded-For must not replace it (uvicorn trusts it from
        # loopback by default, which would let an attacker pick its own address).
        proxy_headers=False,
        server_header=False,
        **tls,
    )
    server = _server_class()(config)
    try:
        if args.fd is not None:
            # Not uvicorn's own ``fd=``: it wraps the descriptor as AF_UNIX, so the event loop
            # never sets TCP_NODELAY and small responses wait 40 ms for a delayed ACK.
            # socket(fileno=) detects the real family (AF_INET/AF_INET6).
            assert listening is not None  # nosec B101 - made above from --fd
            server.run(sockets=[listening])
        else:
            server.run()
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C (stores closed), then raises the signal
        # again so the exit status tells it: 130 says so without a traceback.
        return 130
    return 130 if server.interrupted else 0


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, remembering a Ctrl-C itself. uvicorn raises the signal again
        after its graceful shutdown, from inside the event loop whose signal handler it has
        just restored (uvloop's own): when the loop finishes first the KeyboardInterrupt never
        comes, and a Ctrl-C exited 0 (seen under load in the suite)."""

        interrupted = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if sig == signal.SIGINT:
                self.interrupted = True
            super().handle_exit(sig, frame)

    return Server


if __name__ == "__main__":
    sys.exit(main())
