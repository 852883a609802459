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
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Any

import gevent
from gevent.event import AsyncResult

__all__ = [
    "AGENCY_ROLE",
    "DEALT_MESSAGE",
    "DEAL_MESSAGE",
    "OFFICER_ROLE",
    "RELEASE_MESSAGE",
    "DealingTimeout",
    "IndexBook",
    "RoleDealer",
    "attach_dealer",
]

log = logging.getLogger(__name__)

OFFICER_ROLE = "officer"
AGENCY_ROLE = "agency"
DEAL_MESSAGE = "dientap_deal"
DEALT_MESSAGE = "dientap_dealt"
RELEASE_MESSAGE = "dientap_release"
RELEASE_BATCH_S = 0.2  # a worker sends the indices its users gave back at most this often
DEAL_TIMEOUT_S = 30.0  # a worker whose master does not answer within this is misconfigured


class DealingTimeout(RuntimeError):
    """The master did not deal an index in time (the user does not start)."""


class IndexBook:
    """Indices in use per role, and who holds each; hands out the lowest free one."""

    def __init__(self) -> None:
        self._taken: dict[str, dict[int, str]] = {}  # role → index → holder ("" in process)
        # holder → its (role, index) pairs: the master checks the holders before every deal,
        # so that check must cost the number of workers, not the number of players.
        self._held: dict[str, set[tuple[str, int]]] = {}
        # The lowest free index without a scan (a scan made dealing national's 26,568
        # officers cost the master 22 s of CPU): every index from _fresh[role] up was never
        # dealt; below it, the free ones are in the heap _freed[role].
        self._fresh: dict[str, int] = {}
        self._freed: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def take(self, role: str, holder: str = "") -> int:
        """The lowest index of ``role`` not in use, now held by ``holder``."""
        with self._lock:
            taken = self._taken.setdefault(role, {})
            freed = self._freed.setdefault(role, [])
            if freed:
                index = heapq.heappop(freed)
            else:
                index = self._fresh.get(role, 0)
                self._fresh[role] = index + 1
            taken[index] = holder
            self._held.setdefault(holder, set()).add((role, index))
            return index

    def give_back(self, role: str, index: int, holder: str | None = None) -> None:
        """``index`` of ``role`` is free again — unless ``holder`` is given and does not hold
        it (a late give-back from a worker whose indices went to another). Unknown indices
        are ignored."""
        with self._lock:
            owner = self._taken.get(role, {}).get(index)
            if owner is not None and (holder is None or owner == holder):
                self._free(role, index, owner)

    def give_back_all(self, holder: str) -> int:
        """Free every index ``holder`` holds (it left the run); how many were freed."""
        with self._lock:
            held = list(self._held.get(holder, ()))
            for role, index in held:
                self._free(role, index, holder)
            return len(held)

    def _free(self, role: str, index: int, holder: str) -> None:
        del self._taken[role][index]
        heapq.heappush(self._freed.setdefault(role, []), index)
        held = self._held[holder]
        held.discard((role, index))
        if not held:
            del self._held[holder]

    def holders(self) -> set[str]:
        """Everyone holding an index of any role."""
        with self._lock:
            return set(self._held)

    def clear(self) -> None:
        """Forget every index (a new test starts)."""
        with self._lock:
            self._taken.clear()
            self._held.clear()
            self._fresh.clear()
            self._freed.clear()

    def in_use(self, role: str) -> set[int]:
        """The indices of ``role`` in use."""
        with self._lock:
            return set(self._taken.get(role, {}))


class RoleDealer:
    """Deals run-wide role indices on a local runner, a worker or a master.

    Use :func:`attach_dealer` to build one for an environment; users call :meth:`deal`
    in ``on_start`` and :meth:`release` in ``on_stop``.
    """

    def __init__(self, runner: Any = None, *, remote: bool = False, timeout_s: float = DEAL_TIMEOUT_S) -> None:
        self.runner = runner
        self.remote = remote  # a worker: the master deals
        self.timeout_s = timeout_s
        self.book = IndexBook()  # dealt here: the local runner's or the master's book
        self._asks = itertools.count(1)
        self._waiting: dict[int, AsyncResult[int]] = {}
        self._released: dict[str, list[int]] = {}  # a worker's give-backs not yet sent
        self._flusher: gevent.Greenlet | None = None

    def deal(self, role: str) -> int:
        """The run-wide index of a new player of ``role`` (0, 1, 2 … lowest free first)."""
        if not self.remote:
            return self.book.take(role)
        ask = next(self._asks)
        answer: AsyncResult[int] = AsyncResult()
        self._waiting[ask] = answer
        try:
            self.runner.send_message(DEAL_MESSAGE, {"role": role, "ask": ask})
            index = answer.get(timeout=self.timeout_s)
        except gevent.Timeout:
            raise DealingTimeout(f"the master dealt no {role} index within {self.timeout_s:.0f} s") from None
        finally:
            self._waiting.pop(ask, None)
        if index is None:  # AsyncResult.get returns None only when set(None): never by on_dealt
            raise DealingTimeout(f"the master answered without a {role} index")
        return index

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
        answer = self._waiting.get(int(data.get("ask", 0)))
        if answer is not None:
            answer.set(int(data["index"]))

    def on_deal(self, environment: Any, msg: Any, **_kw: Any) -> None:
        """Master: deal the next index of a role to the asking worker."""
        data = msg.data or {}
        self.reclaim_departed()
        index = self.book.take(str(data["role"]), msg.node_id)
        self.runner.send_message(DEALT_MESSAGE, {"ask": data["ask"], "index": index}, client_id=msg.node_id)

    def on_release(self, environment: Any, msg: Any, **_kw: Any) -> None:
        """Master: a worker's users gave their indices back."""
        data = msg.data or {}
        for index in data.get("indices", ()):
            self.book.give_back(str(data["role"]), int(index), msg.node_id)

    def reclaim_departed(self) -> None:
        """Master: take back the indices of every worker Locust no longer lists.

        Done when dealing, not on a timer: Locust drops a dead worker from its clients
        *before* it hands that worker's users to the others, so the first new user's ask
        already finds the dead worker's indices free."""
        clients = self.runner.clients
        for holder in self.book.holders() - {""}:
            if holder not in clients:
                freed = self.book.give_back_all(holder)
                log.warning("worker %s left the run holding %d role indices; they are dealt again", holder, freed)


def attach_dealer(environment: Any) -> RoleDealer:
    """A :class:`RoleDealer` for ``environment``'s runner, its messages registered."""
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    dealer = RoleDealer(runner, remote=isinstance(runner, WorkerRunner))
    if isinstance(runner, MasterRunner):
        runner.register_message(DEAL_MESSAGE, dealer.on_deal)
        runner.register_message(RELEASE_MESSAGE, dealer.on_release)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(DEALT_MESSAGE, dealer.on_dealt)
    if not isinstance(runner, WorkerRunner):
        environment.events.test_start.add_listener(lambda **_kw: dealer.book.clear())
    return dealer
