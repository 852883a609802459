"""The drill's fault state served on its own: ``dientap_drill_fault_active`` from a process
that is not the Locust one (``dientap drill --prometheus``), so the dashboard's fault
annotations have data while a drill runs beside a load in other processes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from metrics.exporter import DrillStateCollector
from metrics.guarded_server import check_listen_host, guarded_wsgi_server

__all__ = ["start_drill_state_server"]

log = logging.getLogger("dientap.metrics")


def start_drill_state_server(port: int = 0, host: str = "127.0.0.1") -> tuple[str, Any]:
    """Serve only ``dientap_drill_fault_active`` from this process (a drill runner outside
    the Locust process, ``dientap drill --prometheus``); returns ``(url, server)`` — call
    ``server.shutdown()`` to stop.

    The same :func:`guarded_wsgi_server` as the load's faces, with its bounds and its JSON
    refusals, on a gevent hub of its own in a background thread: this process is not a gevent
    one. (prometheus_client's threaded server had no bound, and printed a traceback for a
    client that stalled; a hand-bounded copy of it would be a second, weaker mechanism.)"""
    from prometheus_client import make_wsgi_app

    check_listen_host(host, allow_remote=False)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DrillStateCollector())
    return _DrillStateServer(host, port, make_wsgi_app(registry)).started()


class _DrillStateServer:
    """A guarded gevent server serving on its own thread's hub until :meth:`shutdown`."""

    POLL_S = 0.1  # how often the serving thread looks for a stop (a threading.Event, not a greenlet's)

    def __init__(self, host: str, port: int, app: Callable[..., Any]) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._bound: tuple[str, int] = (host, port)
        self._app = app
        self._thread = threading.Thread(target=self._serve, name="drill-state", daemon=True)

    def started(self) -> tuple[str, _DrillStateServer]:
        self._thread.start()
        self._ready.wait(30)
        if self._failed is not None:
            raise self._failed
        host, port = self._bound
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/metrics", self

    def _serve(self) -> None:
        import gevent  # this thread's hub: gevent makes one per thread on first use

        try:
            server = guarded_wsgi_server(self._bound, self._app, log)
            server.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread, which raises it
            self._failed = exc
            self._ready.set()
            return
        self._bound = (self._bound[0], server.server_port)
        self._ready.set()
        while not self._stop.is_set():  # bounded by the drill: shutdown() ends it
            gevent.sleep(self.POLL_S)
        server.stop(timeout=0.2)

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(5)
