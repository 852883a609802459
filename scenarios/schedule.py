"""The intended start of every scheduled request: coordinated omission, measured honestly.

A load generator that waits for a slow answer before it sends the next request sends
fewer requests exactly while the target is slow, and the requests it did not send are
missing from its latency figures (Gil Tene's *coordinated omission*). dientap records
every request twice, in the same HDR families: from its actual send (``service``) and from
the time the schedule meant it to start (``intended``). For the two columns to describe
the same requests, *every* request an actor sends on a schedule carries its intended start:

* **open-model journeys** (citizens): the first request is due at the arrival's intended
  start; each later step at its planned offset after the previous step's *intended end*
  (its intended start plus its duration). A planned pause (polling a dossier's status
  every few seconds) moves the schedule on by the pause; a wait nobody planned (a retry
  after ``Retry-After``) does not, so it shows in the next request's intended latency;
* **paced actors** (officers, agencies): each action is due on a tick of the actor's
  pacing — the previous tick plus an interval drawn from the profile's ``think_time_s`` —
  and its requests follow one another from that tick. An action that overruns its
  interval makes the next one start late (at once, not after a further wait), so a
  stalled server shows in the intended latency of every request that queued behind it,
  while the send-time latency shows it only on the request that was in flight.

Every actor runs in its own greenlet (a Locust user, or one arrival's journey), so the
HTTP layer finds the schedule of the actor it sends for with :func:`current_schedule`
(greenlet-local), stamps the request's context with :attr:`Schedule.intended` and moves
it on by the request's duration. Personas never pass intended times by hand.

**Closing.** When the run ends, a journey should stop between two steps, not in the middle
of a request: a submission killed in flight is stored by the target but never
acknowledged to the load, and the run's ledger and the target's then disagree. A journey
runs :func:`until_closed` of its scheduler's closing event; its waits (:meth:`Schedule.pause`,
:meth:`Schedule.wait`) end early with :class:`JourneyClosed` once the event is set, so a
draining scheduler sees every journey finish at its next wait, its last request answered.
"""

from __future__ import annotations

import random
import time

import gevent
from gevent.event import Event
from gevent.local import local

__all__ = ["JourneyClosed", "Pacing", "Schedule", "current_schedule", "follow", "until_closed"]

_actor = local()


class Schedule:
    """One actor's intended timeline (epoch seconds, the clock of Locust's ``start_time``)."""

    __slots__ = ("intended",)

    def __init__(self, start: float) -> None:
        self.intended = start  # the intended start of the actor's next request

    def request_done(self, duration_s: float) -> None:
        """The request just sent took ``duration_s``: the next one is due at its intended end."""
        self.intended += max(0.0, duration_s)

    def pause(self, seconds: float) -> None:
        """A planned pause of ``seconds`` (moves the schedule on, then sleeps)."""
        self.intended += seconds
        _wait(seconds)

    @staticmethod
    def wait(seconds: float) -> None:
        """A wait nobody planned (a retry's back-off): the schedule stays, so the wait
        shows in the next request's intended latency."""
        _wait(seconds)


class JourneyClosed(Exception):  # noqa: N818 - an ending, not an error
    """The run is closing: the journey ends at this wait, its last request answered."""


def _wait(seconds: float) -> None:
    closing: Event | None = getattr(_actor, "closing", None)
    if closing is None:
        gevent.sleep(seconds)
    elif closing.wait(seconds):
        raise JourneyClosed


def until_closed(closing: Event | None) -> None:
    """The waits of this greenlet's actor end with :class:`JourneyClosed` once ``closing`` is set."""
    _actor.closing = closing


class Pacing:
    """The ticks of a paced actor: one action per interval drawn from ``[low, high]``.

    :meth:`wait` is the actor's Locust ``wait_time``: it moves the tick on, points the
    schedule at it, and returns how long to sleep until it — nothing when the actor is
    behind its schedule.
    """

    __slots__ = ("high", "low", "rng", "schedule", "tick")

    def __init__(self, schedule: Schedule, rng: random.Random, low: float, high: float) -> None:
        if not 0 <= low <= high:
            raise ValueError(f"pacing: expected 0 <= low <= high seconds, got {low:g}..{high:g}")
        self.schedule = schedule
        self.rng = rng
        self.low, self.high = low, high
        self.tick = schedule.intended

    def wait(self) -> float:
        """Seconds until the next action is due (0 when it is already late)."""
        self.tick += self.rng.uniform(self.low, self.high)
        self.schedule.intended = self.tick
        return max(0.0, self.tick - time.time())


def follow(schedule: Schedule | None) -> None:
    """Make ``schedule`` the schedule of the actor running in this greenlet (``None``: no
    schedule; its requests carry no intended start)."""
    _actor.schedule = schedule


def current_schedule() -> Schedule | None:
    """The schedule of the actor running in this greenlet, if it has one."""
    schedule: Schedule | None = getattr(_actor, "schedule", None)
    return schedule
