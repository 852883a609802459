"""What the command running the load tells the live board: the run's name, its length, the
page's refresh and, for a drill, the fault plan and when each step really started and stopped.

The board is served by the Locust process that holds the merged figures, but the drill runs
in the ``dientap`` process (the wiring), which starts Locust as a child. The wiring writes
this small file (``board-feed.json`` in the run directory, replaced atomically on each
change) and the board reads it at each refresh — so the drill never talks to metrics, and
metrics never import the drills::

    dientap drill NAME ──writes──▶ runs/<id>/board-feed.json ◀──reads── board (Locust master)
                                                                         ▲
                      load figures (kernel.load_observation) ────────────┘

Times are Unix epoch seconds (``time.time()`` in the writer); the board turns them into
offsets from the load's own start, so a step's planned and actual offsets sit side by side.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kernel.defaults import BOARD_REFRESH_S
from reports.run_files import atomic_write_text

__all__ = ["FEED_FILE", "FeedStep", "DrillFeed", "BoardFeed", "write_feed", "FeedReader"]

log = logging.getLogger("dientap.metrics.board")

FEED_FILE: Final = "board-feed.json"
MAX_REFRESH_S: Final = 3600.0


class _Strict(BaseModel):
    # NaN and infinities are refused (the reader keeps the last good feed): an infinite refresh
    # froze the board's cached figures for good and set the page polling without pause.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FeedStep(_Strict):
    """One step of a drill's plan and, once it happened, when it started and stopped."""

    name: str
    backend: str  # http, network, process, traffic
    kind: str  # the fault's kind (outage, latency, submission_probe, ...)
    target: str
    at_s: float = Field(ge=0)  # planned start, seconds after the load started
    end_s: float = Field(ge=0)  # planned end
    started_at: float | None = None  # epoch seconds, when the drill started it
    stopped_at: float | None = None  # epoch seconds, when the drill stopped it


class DrillFeed(_Strict):
    """The drill running under the load."""

    name: str
    title: str
    steps: list[FeedStep] = Field(default_factory=list)


class BoardFeed(_Strict):
    """Everything the board learns from the command (see the module docstring)."""

    version: Literal[1] = 1
    run_id: str
    profile: str
    command: Literal["run", "drill"]
    duration_s: float = Field(gt=0)
    # At most an hour: the command allows far less (--board-refresh), and a page's timer overflows
    # past 2³¹ ms (about 25 days) into polling without pause.
    refresh_s: float = Field(default=BOARD_REFRESH_S.default, gt=0, le=MAX_REFRESH_S)
    drill: DrillFeed | None = None


def write_feed(path: Path, feed: BoardFeed) -> None:
    """Replace ``path`` with ``feed`` atomically (a reader never sees half a file)."""
    atomic_write_text(path, feed.model_dump_json(indent=1))


class FeedReader:
    """Reads the feed file when it changed; keeps the last good one (None before the first)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._feed: BoardFeed | None = None

    def read(self) -> BoardFeed | None:
        """The current feed (re-read only when the file was replaced or changed)."""
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return self._feed
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            try:
                self._feed = BoardFeed.model_validate_json(self.path.read_bytes())
                self._seen = seen
            except (OSError, ValidationError) as exc:  # the board shows the last good feed, never fails
                log.warning("board feed %s unreadable: %s", self.path, exc)
        return self._feed
