"""Run-wide dealing of roles: every officer slot and every provincial agency is played by
exactly one Locust user of the whole run, however Locust spreads users over workers.

Why a dealer: Locust hands fixed-count users to workers by interleaving the classes
(its ``_kl_generator``: officer, agency, officer, agency ...) and cycling the workers
(0, 1, 0, 1 ...). With 34 officers, 34 agencies and 2 workers every officer lands on
worker 0 and every agency on worker 1. The old rule dealt a slot from the user's local
index and its worker index, assuming an even split, so worker 0's 34 officers took slots
0, 2, … 32 twice over: half the communes had two officers on one worklist (the
``409 illegal_transition`` races of 2-worker runs) and the other half had none.

Only the master sees every worker, so it deals. A worker's user asks for the lowest free
index of its role (Locust custom message ``dientap_deal``) and waits for the answer
(``dientap_dealt``); a user that stops gives its index back (``dientap_release``), so a
Locust rebalance that moves users between workers re-deals the same indices instead of
running past the end. A local runner deals in process. The master's book is cleared when
a test starts.

The master also remembers which worker holds which index. A worker that dies (SIGKILL, a
lost machine) never gives its indices back; Locust drops it a minute later and hands its
users to the workers left, whose new users would then be dealt indices past the end — slots
already played by someone else — while the dead worker's communes went unplayed for the
rest of the run. So before it deals, the master takes back every index held by a worker
Locust no longer lists, and a give-back counts only from the worker holding the index.

The master also knows each role's size (the profile's officer slots and provinces, which
:class:`scenarios.world.World` tells it; one arrival share per ``--expect-workers``) and
never deals past it. Users Locust moves to a late worker ask before the old worker's
give-backs arrive (batched every :data:`RELEASE_BATCH_S`); dealt past the end, they replayed
slots others played and the freed ones were never dealt again. Such an ask is now held until
an index frees, as long as its user waits (:data:`DEAL_TIMEOUT_S`). A worker's ask for its
share of the citizen arrivals (:data:`ARRIVAL_SHARE_ROLE`) is held as long as the test runs:
a worker beyond the expected count plays none until a share frees (its holder left), then
plays it on from that second (:attr:`Dealt.resume_at_s`) — the shares stay the one plan.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import AsyncResult

from scenarios.index_book import IndexBook

__all__ = [
    "AGENCY_ROLE",
    "ARRIVAL_SHARE_ROLE",
    "DEALT_MESSAGE",
    "DEAL_MESSAGE",
    "OFFICER_ROLE",
    "RELEASE_MESSAGE",
    "Dealt",
    "DealingTimeout",
    "RoleDealer",
    "attach_dealer",
]

log = logging.getLogger(__name__)

OFFICER_ROLE = "officer"
AGENCY_ROLE = "agency"
ARRIVAL_SHARE_ROLE = "arrival-share"  # a worker's share of the citizen arrivals (ArrivalPlan.partition)
DEAL_MESSAGE = "dientap_deal"
DEALT_MESSAGE = "dientap_dealt"
RELEASE_MESSAGE = "dientap_release"
RELEASE_BATCH_S = 0.2  # a worker sends the indices its users gave back at most this often
DEAL_TIMEOUT_S = 30.0  # a worker whose master does not answer within this is misconfigured
PARKED_RECHECK_S = 1.0  # master: how often held asks look for a departed worker's indices


@dataclass(frozen=True)
class Dealt:
    """What the master dealt one ask."""

    index: int
    size: int | None = None  # the role's size, when the dealer was told it
    # An index dealt before in this test (its holder left the run): how far into the test it
    # was dealt again, so its new holder takes up the role's schedule there. 0 for a fresh one.
    resume_at_s: float = 0.0


class DealingTimeout(RuntimeError):
    """The master did not deal an index in time (the user does not start)."""


@dataclass
class _HeldAsk:
    """Master: an ask it could not answer yet (every index of the role in use)."""

    worker: str
    ask: Any
    deadline: float  # on the dealer's clock; after it the asker no longer waits (inf: the whole test)


class RoleDealer:
    """Deals run-wide role indices on a local runner, a worker or a master.

    Use :func:`attach_dealer` to build one for an environment; users call :meth:`deal`
    in ``on_start`` and :meth:`release` in ``on_stop``; a worker's arrivals call
    :meth:`deal_share`.
    """

    def __init__(self, runner: Any = None, *, remote: bool = False, timeout_s: float = DEAL_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self.remote = remote  # a worker: the master deals
        self.timeout_s = timeout_s
        self.book = IndexBook()  # dealt here: the local runner's or the master's book
        self._clock = clock
        self._test_started = clock()  # master: when the current test started (resume_at_s)
        self._asks = itertools.count(1)
        self._waiting: dict[int, AsyncResult[Dealt]] = {}
        self._released: dict[str, list[int]] = {}  # a worker's give-backs not yet sent
        self._flusher: gevent.Greenlet | None = None
        self._held: dict[str, deque[_HeldAsk]] = {}  # master: role → asks waiting for a free index
        self._recheck: gevent.Greenlet | None = None

    def set_size(self, role: str, size: int) -> None:
        """``role`` has ``size`` indices: the master holds an ask rather than deal past them."""
        self.book.set_size(role, size)

    def reset(self) -> None:
        """A new test starts: forget every index dealt and every ask held."""
        self.book.clear()
        self.drop_held()
        self._test_started = self._clock()

    def drop_held(self) -> None:
        """The test stopped: no held ask will be answered (their askers stopped waiting)."""
        self._held.clear()
        if self._recheck is not None:
            self._recheck.kill(block=False)
            self._recheck = None

    def deal(self, role: str) -> int:
        """The run-wide index of a new player of ``role`` (0, 1, 2 … lowest free first)."""
        if not self.remote:
            return self.book.take(role)
        return self._ask(role, self.timeout_s).index

    def deal_share(self, role: str) -> Dealt:
        """A share of ``role`` for this worker, waiting as long as it takes: while every share
        is held (a worker beyond the expected count) the master answers only when one frees.
        Whoever calls it kills its greenlet when the test stops."""
        if not self.remote:
            return Dealt(self.book.take(role), self.book.size(role))
        return self._ask(role, None)

    def _ask(self, role: str, wait_s: float | None) -> Dealt:
        ask = next(self._asks)
        answer: AsyncResult[Dealt] = AsyncResult()
        self._waiting[ask] = answer
        try:
            self.runner.send_message(DEAL_MESSAGE, {"role": role, "ask": ask, "wait_s": wait_s})
            dealt = answer.get(timeout=wait_s)
        except gevent.Timeout:
            raise DealingTimeout(f"the master dealt no {role} index within {wait_s or 0:.0f} s") from None
        finally:
            self._waiting.pop(ask, None)
        if dealt is None:  # AsyncResult.get returns None only when set(None): never by on_dealt
            raise DealingTimeout(f"the master answered without a {role} index")
        return dealt

    def release(self, role: str, index: int) -> None:
        """Give ``index`` of ``role`` back (the user stopped).

        A worker gathers the indices its users give back and sends them in one message
        per :data:`RELEASE_BATCH_S`: when a national run stops, 16,000 users of a worker
        stop at once, and one message each filled ZMQ's send queue until the worker's
        final statistics could not be sent (``ZMQ sent failure``; the master then missed
        the run's last seconds)."""
        if not self.remote:
            self.book.give_back(role, index)
            return
        self._released.setdefault(role, []).append(index)
        if self._flusher is None:
            self._flusher = gevent.spawn_later(RELEASE_BATCH_S, self._send_released)

    def _send_released(self) -> None:
        released, self._released, self._flusher = self._released, {}, None
        for role, indices in released.items():
            try:
                self.runner.send_message(RELEASE_MESSAGE, {"role": role, "indices": indices})
            except Exception:  # the master is gone at the end of a run: nothing left to deal
                log.debug("could not give %d %s indices back to the master", len(indices), role, exc_info=True)

    # ---- message handlers ------------------------------------------------------------

    def on_dealt(self, environment: Any, msg: Any, **_kw: Any) -> None:
        """Worker: the master's answer to one ask."""
        data = msg.data or {}
        size = data.get("size")
        dealt = Dealt(int(data["index"]), None if size is None else int(size), float(data.get("resume_at_s", 0.0)))
        answer = self._waiting.get(int(data.get("ask", 0)))
        if answer is not None:
            answer.set(dealt)
        elif data.get("role"):
            # Dealt after its asker stopped waiting (timed out, or the test stopped): given
            # back, or the index would stay held by no one for the rest of the run.
            self.release(str(data["role"]), dealt.index)

    def on_deal(self, environment: Any, msg: Any, **_kw: Any) -> None:
        """Master: deal the lowest free index of a role to the asking worker — or, when every
        index of the role is in use, hold the ask until one frees."""
        data = msg.data or {}
        role = str(data["role"])
        wait_s = data.get("wait_s")
        deadline = math.inf if wait_s is None else self._clock() + float(wait_s)
        self._held.setdefault(role, deque()).append(_HeldAsk(msg.node_id, data["ask"], deadline))
        self.reclaim_departed()  # and answers the held asks
        if self._held[role]:
            log.debug("every %s index is in use: %s's ask waits for one to free", role, msg.node_id)
            self._recheck_later()

    def on_release(self, environment: Any, msg: Any, **_kw: Any) -> None:
        """Master: a worker's users gave their indices back; asks held for them are answered."""
        data = msg.data or {}
        role = str(data["role"])
        for index in data.get("indices", ()):
            self.book.give_back(role, int(index), msg.node_id)
        self._answer_held(role)

    def reclaim_departed(self) -> None:
        """Master: take back the indices of every worker Locust no longer lists, and answer
        the asks held while an index is free.

        Done when dealing, not only on a timer: Locust drops a dead worker from its clients
        *before* it hands that worker's users to the others, so the first new user's ask
        already finds the dead worker's indices free."""
        clients = self.runner.clients
        for holder in self.book.holders() - {""}:
            if holder not in clients:
                freed = self.book.give_back_all(holder)
                log.warning("worker %s left the run holding %d role indices; they are dealt again", holder, freed)
        for role in list(self._held):
            self._answer_held(role)

    def _answer_held(self, role: str) -> None:
        """Deal to the asks held for ``role``, oldest first, while an index is free."""
        held = self._held.get(role)
        now = self._clock()
        while held:
            waiting = held[0]
            if waiting.deadline < now or waiting.worker not in self.runner.clients:
                held.popleft()  # its asker gave up, or left the run
                continue
            dealt_before = self.book.dealt_so_far(role)
            index = self.book.take_if_free(role, waiting.worker)
            if index is None:
                return
            held.popleft()
            resume_at_s = round(now - self._test_started, 3) if index < dealt_before else 0.0
            answer = {"ask": waiting.ask, "role": role, "index": index, "size": self.book.size(role),
                      "resume_at_s": resume_at_s}
            self.runner.send_message(DEALT_MESSAGE, answer, client_id=waiting.worker)

    def _recheck_later(self) -> None:
        # A held ask waits for a give-back or for a departed worker's indices; Locust drops a
        # dead worker on its own clock, and nothing else may ask after that.
        if self._recheck is None or self._recheck.dead:
            self._recheck = gevent.spawn_later(PARKED_RECHECK_S, self._recheck_held)

    def _recheck_held(self) -> None:
        self._recheck = None
        self.reclaim_departed()
        if any(self._held.values()):
            self._recheck_later()


# One dealer per environment: Locust takes one handler per message, and both the world's
# personas and the worker's arrivals deal through it.
_DEALERS: weakref.WeakKeyDictionary[Any, RoleDealer] = weakref.WeakKeyDictionary()


def attach_dealer(environment: Any) -> RoleDealer:
    """The :class:`RoleDealer` of ``environment``'s runner, its messages registered; the same
    one on every call for one environment."""
    dealer = _DEALERS.get(environment)
    if dealer is not None:
        return dealer
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    dealer = RoleDealer(runner, remote=isinstance(runner, WorkerRunner))
    if isinstance(runner, MasterRunner):
        runner.register_message(DEAL_MESSAGE, dealer.on_deal)
        runner.register_message(RELEASE_MESSAGE, dealer.on_release)
        expected = getattr(getattr(environment, "parsed_options", None), "expect_workers", 1)
        dealer.set_size(ARRIVAL_SHARE_ROLE, max(1, int(expected or 1)))
    elif isinstance(runner, WorkerRunner):
        runner.register_message(DEALT_MESSAGE, dealer.on_dealt)
    if not isinstance(runner, WorkerRunner):
        environment.events.test_start.add_listener(lambda **_kw: dealer.reset())
        environment.events.test_stop.add_listener(lambda **_kw: dealer.drop_held())
    _DEALERS[environment] = dealer
    return dealer
