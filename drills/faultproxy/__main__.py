"""``python -m drills.faultproxy --api 127.0.0.1:8474 [--config proxies.json]``: run the fault proxy.

Example:
    python -m drills.faultproxy --api 127.0.0.1:8474 --config proxies.json --max-hold-s 120
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from drills.faultproxy.errors import FaultProxyApiError
from drills.faultproxy.proxy import split_host_port
from drills.faultproxy.server import FaultProxyServer
from kernel.errors import DientapError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m drills.faultproxy",
        description="TCP fault proxy speaking Toxiproxy's HTTP API (loopback only unless allowed).",
        epilog="Example: python -m drills.faultproxy --api 127.0.0.1:8474 --config proxies.json",
    )
    parser.add_argument("--api", default="127.0.0.1:8474", help="host:port of the HTTP API (default %(default)s)")
    parser.add_argument("--config", type=Path, help="JSON list of proxies to create at start (Toxiproxy -config)")
    parser.add_argument(
        "--allow-host", action="append", default=[], metavar="HOST", help="allow an upstream host besides loopback"
    )
    parser.add_argument(
        "--allow-public-listen", action="store_true", help="allow the API and proxies to listen off loopback"
    )
    parser.add_argument(
        "--max-hold-s", type=float, default=300.0, help="upper bound of every hold/delay (default %(default)s)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; exit codes follow :class:`kernel.errors.ExitCode`."""
    args = _parser().parse_args(argv)
    try:
        host, port = split_host_port(args.api, "--api")
        server = FaultProxyServer(
            host,
            port,
            allow_hosts=args.allow_host,
            allow_public_listen=args.allow_public_listen,
            max_hold_s=args.max_hold_s,
            config=args.config,
        )
        server.start()
    except FaultProxyApiError as exc:
        print(f"ERROR: {exc.message}", file=sys.stderr)
        return 2
    except DientapError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except (OSError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"fault proxy API on {server.api_url}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
