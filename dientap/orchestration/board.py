"""The live board as the command sees it: its socket, its URL and its feed.

The board itself (:mod:`metrics.board`) is served by the Locust process that holds the
merged figures. This side of it:

* binds the board's socket on 127.0.0.1 *before anything starts*, so a port in use is one
  ``ERROR:`` line and nothing else, and the URL (port 0 = a free port) is known before
  Locust runs — then hands the socket to the Locust local runner or master (inherited
  descriptor, ``$DIENTAP_BOARD_FD``) and closes its own copy, so the port closes when that
  process ends: the board stops with the run;
* writes the board's feed (:class:`metrics.board.BoardFeed`, ``board-feed.json`` in the run
  directory): the run's name and length, and for a drill its plan and each step's actual
  start and stop, which the drill command learns from the runner's ``on_fault`` hook — so
  the drill never talks to metrics and the board never imports the drills.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from dientap.orchestration.process import listening_socket
from kernel.defaults import BOARD_PORT
from kernel.errors import UsageError
from metrics.board import BOARD_FD_ENV, BOARD_FEED_ENV, FEED_FILE, BoardFeed, DrillFeed, FeedStep, write_feed

__all__ = ["BoardLink"]

_ACCEPTED = "a port from 1024 to 65535, or 0 for a free one"


class BoardLink:
    """The board's bound socket and its feed, from the command's side (see the module docstring)."""

    def __init__(self, sock: socket.socket, refresh_s: float) -> None:
        self.sock: socket.socket | None = sock
        self.refresh_s = refresh_s
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}/"
        self.feed: BoardFeed | None = None
        self.feed_path: Path | None = None
        self._drill: DrillFeed | None = None
        self._lock = threading.Lock()

    @classmethod
    def bind(cls, port: int, refresh_s: float) -> BoardLink:
        """Bind 127.0.0.1:``port`` (0: a free port); a refusal is a :class:`UsageError` naming the flag."""
        flag = BOARD_PORT.flag
        try:
            sock = listening_socket("127.0.0.1", port, backlog=64)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "is in use"
            elif exc.errno == errno.EACCES:
                why = "is not open to this user (ports below 1024 need privileges)"
            else:
                why = f"cannot be bound ({exc.strerror or exc})"
            raise UsageError(f"argument {flag}: port {port} on 127.0.0.1 {why}; give {_ACCEPTED}") from None
        return cls(sock, refresh_s)

    def env(self) -> dict[str, str]:
        """What the Locust process needs to serve the board (call after :meth:`start`)."""
        env = {BOARD_FD_ENV: str(self.sock.fileno())} if self.sock is not None else {}
        if self.feed_path is not None:
            env[BOARD_FEED_ENV] = str(self.feed_path)
        return env

    def start(self, run_dir: Path, *, run_id: str, profile: str, duration_s: float) -> None:
        """Write the run's feed (with the drill's plan, if one was given)."""
        with self._lock:
            self.feed_path = run_dir / FEED_FILE
            self.feed = BoardFeed(run_id=run_id, profile=profile, command="drill" if self._drill else "run",
                                  duration_s=duration_s, refresh_s=self.refresh_s, drill=self._drill)
            write_feed(self.feed_path, self.feed)

    def plan_drill(self, name: str, title: str, steps: Iterable[FeedStep]) -> None:
        """The drill running under this load, before it starts (call before :meth:`start`)."""
        with self._lock:
            self._drill = DrillFeed(name=name, title=title, steps=list(steps))

    def fault_changed(self, name: str, kind: str, active: bool) -> None:
        """The drill's ``on_fault`` hook: step ``name`` (of ``kind``) started or stopped now."""
        at = time.time()
        with self._lock:
            if self._drill is None:
                return
            for step in self._drill.steps:
                if step.name != name or step.kind != kind:
                    continue
                if active and step.started_at is None:
                    step.started_at = at
                    break
                if not active and step.started_at is not None and step.stopped_at is None:
                    step.stopped_at = at
                    break
            if self.feed is not None and self.feed_path is not None:
                self.feed = self.feed.model_copy(update={"drill": self._drill})
                write_feed(self.feed_path, self.feed)

    def handed_over(self) -> None:
        """The Locust process has the socket now: close this process's copy (idempotent)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def close(self) -> None:
        """Release the socket if it was never handed over (idempotent)."""
        self.handed_over()
