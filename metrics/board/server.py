"""The live board's HTTP face: ``GET /`` (the page) and ``GET /board.json`` (its figures),
served on loopback by the Locust process that holds the merged figures — the local runner,
or the master of a distributed run; never a worker.

The listening socket is bound by the command that starts the run (``dientap run`` or
``dientap drill``, so a port in use is refused before anything starts and the URL is known
before Locust runs) and handed to the Locust process, which finds it in
``$DIENTAP_BOARD_FD``; the feed file (:mod:`metrics.board.feed`) is ``$DIENTAP_BOARD_FEED``.

Bounded: figures are computed on request, at most once per refresh interval however many
pages are open (one computation at a time; the others wait for it and share it), and never
more than :data:`WORK_SHARE` of the process's time: a snapshot that cost more is served
longer. When the
run ends (Locust's ``quitting``) the board says ``over``, waits a little for an open page to
fetch that last state — only when a page has been fetching — and stops.

Requests must name a loopback host (``Host: 127.0.0.1:…``, ``localhost``, ``[::1]``): a web
page elsewhere cannot read the board through a DNS name rebound to 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from kernel.defaults import BOARD_REFRESH_S
from kernel.hdr import SparseHistogram
from kernel.latency_records import HistogramKey
from kernel.load_observation import CommuneSketch, CommuneTally, LatencyObservation, observe
from kernel.roster import Roster
from metrics.board.feed import FeedReader
from metrics.board.figures import LiveReadiness
from metrics.board.page import PAGE_CSP, render_page
from metrics.board.snapshot import BoardSnapshot, communes_view, drill_view, matrix_view, run_state, run_view
from metrics.guarded_server import guarded_wsgi_server
from reports.readiness import ReadinessThresholds

__all__ = ["BOARD_FD_ENV", "BOARD_FEED_ENV", "JSON_PATH", "WORK_SHARE", "LiveBoard", "attach_board",
           "attach_board_from_env"]

log = logging.getLogger("dientap.metrics.board")

BOARD_FD_ENV = "DIENTAP_BOARD_FD"  # the inherited listening socket's file descriptor
BOARD_FEED_ENV = "DIENTAP_BOARD_FEED"  # the feed file the command writes
JSON_PATH = "/board.json"
# The most of its process's time the board may take while pages are open: on a single-process
# run that process is the load generator. A snapshot that took more of its own time (not
# counting the load's turns between its slices) than this share of the refresh interval is
# served until its cost is back under the share (bench/board.py; BENCHMARKS.md).
WORK_SHARE = 0.03


class _NoLoad:
    """What the board shows before the harness installed its observation: nothing yet."""

    @property
    def histograms(self) -> Mapping[HistogramKey, SparseHistogram]:
        return {}

    @property
    def key_failures(self) -> Mapping[tuple[str, str, str], int]:
        return {}

    @property
    def key_throttled(self) -> Mapping[tuple[str, str, str], int]:
        return {}

    @property
    def communes(self) -> Mapping[str, CommuneTally]:
        return {}

    def commune_sketches_now(self) -> Mapping[str, CommuneSketch]:
        return {}


class LiveBoard:
    """Computes the board's snapshot and answers its two routes (see the module docstring)."""

    def __init__(self, environment: Any, feed_path: Path | None = None, *, thresholds: ReadinessThresholds | None = None,
                 roster: Roster | None = None, pause: Callable[[], object] | None = None,
                 clock: Callable[[], float] = time.time, work_share: float = WORK_SHARE) -> None:
        self.environment = environment
        self.feed = FeedReader(feed_path)
        self.thresholds = thresholds or ReadinessThresholds()
        self._yield = pause
        self.figures = LiveReadiness(roster, self.thresholds, self._between_slices if pause is not None else None)
        self.clock = clock
        self.work_share = work_share
        self.last_work_s = 0.0  # the board's own time in the last computation (its slices, not the yields)
        self._work_s = 0.0
        self._slice_from = 0.0
        self._fresh_for_s = 0.0  # how long the last snapshot is served: the refresh, or longer when it cost more
        self.computations = 0  # snapshots computed (the rest were served from the cache)
        self.fetches = 0  # board.json answered
        self.last_fetch_at = 0.0  # monotonic
        self.over = False  # set when the run ends: the state is "over" from then on
        self.server: Any = None
        self.url: str | None = None
        self._cached: tuple[float, bytes] | None = None  # (monotonic time the computation began, JSON)
        self._busy: Any = None  # a gevent semaphore, made on first use
        self._pages: dict[float, bytes] = {}

    @property
    def refresh_s(self) -> float:
        """The page's refresh interval (from the feed; the shared default without one)."""
        feed = self.feed.read()
        return feed.refresh_s if feed is not None else BOARD_REFRESH_S.default

    def snapshot(self) -> BoardSnapshot:
        """The board now (computes; :meth:`json_body` is the cached path)."""
        load = observe(self.environment)
        recorder: LatencyObservation = load.recorder if load is not None else _NoLoad()
        feed = self.feed.read()
        runner = getattr(self.environment, "runner", None)
        state = "over" if self.over else run_state(getattr(runner, "state", None))
        started_at = load.started_at if load is not None else None
        now = self.clock()
        elapsed = None if started_at is None else max(0.0, now - started_at)
        matrix = self.figures.matrix(recorder)
        self._pause()
        communes = self.figures.communes(recorder)  # a few ms at 3,321 communes: a slice of its own
        self._pause()
        self.computations += 1
        return BoardSnapshot(
            generated_at=round(now, 3), refresh_s=self.refresh_s,
            run=run_view(feed, state, elapsed, self.figures.totals(recorder)),
            matrix=matrix_view(matrix), communes=communes_view(communes), drill=drill_view(feed, started_at),
        )

    def _pause(self) -> None:
        if self.figures.pause is not None:
            self.figures.pause()

    def _between_slices(self) -> None:
        """Yield to the load, counting only the board's own time as its work."""
        self._work_s += time.perf_counter() - self._slice_from
        if self._yield is not None:
            self._yield()
        self._slice_from = time.perf_counter()

    def json_body(self) -> bytes:
        """``board.json``: computed at most once per refresh interval, one computation at a time."""
        cached = self._fresh()
        if cached is not None:
            return cached
        if self._busy is None:
            import gevent.lock

            self._busy = gevent.lock.BoundedSemaphore()
        with self._busy:
            cached = self._fresh()  # another request may have computed it while this one waited
            if cached is not None:
                return cached
            # Aged from when the computation began: a refresh that takes a while (yielding to the
            # load between cells) must not make the next poll, one interval later, find it fresh.
            # Computed again when the run ended between two of its slices: that snapshot still
            # says "running", and the page finish() waits for would get it, cached, not the end.
            while True:
                began, over = time.monotonic(), self.over
                self._work_s, self._slice_from = 0.0, time.perf_counter()
                body = self.snapshot().model_dump_json().encode("utf-8")
                self.last_work_s = self._work_s + time.perf_counter() - self._slice_from
                if self.over == over:
                    break
            # 0.9: a page polling every refresh_s finds the previous snapshot just expired. A
            # snapshot that cost more than WORK_SHARE of that is served for longer: the board's
            # share of the process stays bounded however large the run.
            self._fresh_for_s = max(0.9 * self.refresh_s, self.last_work_s / self.work_share)
            self._cached = (began, body)
            return body

    def _fresh(self) -> bytes | None:
        if self._cached is not None and time.monotonic() - self._cached[0] < self._fresh_for_s:
            return self._cached[1]
        return None

    @property
    def fresh_for_s(self) -> float:
        """How long the last snapshot is served: the refresh (×0.9), or longer when it cost more than the board's share."""
        return self._fresh_for_s

    def page(self) -> bytes:
        """The HTML page for the current refresh interval."""
        refresh = self.refresh_s
        page = self._pages.get(refresh)
        if page is None:
            page = self._pages[refresh] = render_page(refresh, self.thresholds).encode("utf-8")
        return page

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """WSGI app: ``GET /``, ``GET /board.json``; anything else is a JSON error."""
        path = environ.get("PATH_INFO", "/")
        if not _loopback_host(environ.get("HTTP_HOST", "")):
            return _error(start_response, "403 Forbidden", "forbidden_host",
                          "the board answers requests to 127.0.0.1, localhost or [::1] only")
        if path not in ("/", JSON_PATH):
            return _error(start_response, "404 Not Found", "not_found",
                          f"no route {path}; the board is at / and its figures at {JSON_PATH}")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _error(start_response, "405 Method Not Allowed", "method_not_allowed", f"use GET {path}",
                          [("Allow", "GET, HEAD")])
        try:
            if path == JSON_PATH:
                body, headers = self.json_body(), [("Content-Type", "application/json")]
                self.fetches += 1
                self.last_fetch_at = time.monotonic()
            else:
                body = self.page()
                headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", PAGE_CSP),
                           ("Referrer-Policy", "no-referrer")]
        except Exception:  # a failing board is logged and answered, never kills the run
            log.exception("the live board failed")
            return _error(start_response, "500 Internal Server Error", "board_failed", "see the load generator's log")
        headers += [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                    ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    def serve(self, listener: socket.socket) -> str:
        """Serve on ``listener`` (a bound, listening loopback socket) in this process's gevent
        hub; returns the page's URL."""
        host, port = listener.getsockname()[:2]
        if not ip_address(host).is_loopback:
            raise ValueError(f"the live board listens on loopback only, got a socket bound to {host}")
        self.server = guarded_wsgi_server(listener, self.wsgi, log)
        self.server.start()
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/"
        return self.url

    def finish(self, linger_s: float) -> bool:
        """The run is over: from now on the board says so. When a page has been open, wait (at
        most ``linger_s``) for it to fetch that last state; True when it did. (Not only when
        it fetched recently: the load's last seconds, its users stopping, may keep the event
        loop busy past a refresh or two.)"""
        import gevent

        self.over = True
        self._cached = None
        since = time.monotonic()
        if not self.fetches:
            return False
        while time.monotonic() < since + linger_s:
            if self.last_fetch_at >= since:
                return True
            gevent.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self.server is not None:
            self.server.stop(timeout=0.2)  # then idle keep-alive handlers (a scraper, a page) are killed
            self.server = None


# A loopback name and at most a port, nothing else: "[::1]evil.example" and "localhost:80@evil.example"
# passed a check that read only the part before the port.
_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?", re.IGNORECASE)


def _loopback_host(host: str) -> bool:
    if not host:
        return True  # HTTP/1.0 without Host: nothing a browser on another site could send
    return _LOOPBACK_HOST.fullmatch(host) is not None


def _error(start_response: Any, status: str, code: str, message: str,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(extra or [])])
    return [body]


def attach_board(environment: Any, listener: socket.socket, feed_path: Path | None = None) -> str | None:
    """Serve the live board from this Locust process on ``listener``; returns its URL.

    Returns ``None`` on a worker (workers ship their figures to the master, which serves
    them). On ``quitting`` the board says the run is over, lingers (bounded by one refresh
    interval and a second) while an open page fetches that, and stops.
    """
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        return None
    import gevent

    board = LiveBoard(environment, feed_path, pause=lambda: gevent.sleep(0))
    url = board.serve(listener)

    def on_quitting(**_kw: Any) -> None:
        board.finish(board.refresh_s + 1.0)
        board.stop()

    environment.events.quitting.add_listener(on_quitting)
    log.info("live board at %s", url)
    return url


def attach_board_from_env(environment: Any) -> str | None:
    """:func:`attach_board` on the socket ``$DIENTAP_BOARD_FD`` names, when it is set (a
    worker never touches it: the descriptor was handed to the master only)."""
    from locust.runners import WorkerRunner

    fd = os.environ.get(BOARD_FD_ENV)
    if not fd or isinstance(environment.runner, WorkerRunner):
        return None
    if not fd.isdigit():
        raise ValueError(f"{BOARD_FD_ENV}: expected a file descriptor number, got {fd!r}")
    feed = os.environ.get(BOARD_FEED_ENV)
    return attach_board(environment, socket.socket(fileno=int(fd)), Path(feed) if feed else None)
