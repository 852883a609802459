"""The live national board: while ``dientap run`` or ``dientap drill`` runs, a page on
loopback shows the 34-province readiness matrix of the load so far (judged by the report's
own rule), the drill's timeline and the worst communes, refreshed every few seconds, with
no external asset.

Where things are: the page (:mod:`metrics.board.page`) reads ``board.json``
(:mod:`metrics.board.snapshot`), computed from the load's merged figures
(:mod:`metrics.board.figures`, through :mod:`kernel.load_observation`) and from what the
command tells it (:mod:`metrics.board.feed`), served by :mod:`metrics.board.server` in the
Locust process that holds the merged figures.
"""

from metrics.board.feed import FEED_FILE, BoardFeed, DrillFeed, FeedStep, write_feed
from metrics.board.server import BOARD_FD_ENV, BOARD_FEED_ENV, LiveBoard, attach_board, attach_board_from_env
from metrics.board.snapshot import BoardSnapshot

__all__ = [
    "FEED_FILE",
    "BoardFeed",
    "DrillFeed",
    "FeedStep",
    "write_feed",
    "BOARD_FD_ENV",
    "BOARD_FEED_ENV",
    "LiveBoard",
    "attach_board",
    "attach_board_from_env",
    "BoardSnapshot",
]
