"""Opens N keep-alive HTTP clients in one process and makes R requests on each.

    python tests/scenarios/keepalive_client.py BASE_URL N R fix|nofix

Prints one JSON line: {"fix_installed": bool, "max_fd": int, "requests": int, "errors": int}.
Run as a subprocess so that patching (or not) geventhttpclient stays in this process.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent.pool  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402
from geventhttpclient.url import URL  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scenarios.connections import install_keepalive_fix  # noqa: E402


def main() -> None:
    base, clients, rounds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    fixed = install_keepalive_fix() if mode == "fix" else False
    url = URL(base)
    pool = [HTTPClient(url.host, port=url.port, concurrency=1, connection_timeout=10, network_timeout=10) for _ in range(clients)]
    stats = {"requests": 0, "errors": 0, "max_fd": 0}

    def one(client: HTTPClient) -> None:
        try:
            resp = client.get("/ok")
            resp.read()
            stats["requests"] += 1
        except Exception:  # noqa: BLE001 - counted, the test asserts on it
            stats["errors"] += 1

    group = gevent.pool.Pool(300)
    for _ in range(rounds):
        group.map(one, pool)
        fds = [s.fileno() for c in pool for s in list(c._connection_pool._socket_queue.queue)]
        stats["max_fd"] = max([stats["max_fd"], *fds])
    print(json.dumps({"fix_installed": fixed, **stats}), flush=True)


if __name__ == "__main__":
    main()
