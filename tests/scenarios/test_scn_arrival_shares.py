"""Which worker plays which share of the citizen arrivals, in process: workers' and a
master's :class:`RoleDealer` joined by stand-ins for Locust's runners (no locust import: it
would monkey-patch pytest's process). The shares are ``ArrivalPlan.partition(share, N)``
for N expected workers, dealt by the master — not Locust's worker index, which is never
reused: a worker replacing a dead one took ``partition(N, N + 1)``, overlapping the others'
communes while the dead one's went unplayed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gevent

from scenarios.arrival_plan import ArrivalPlan, CommuneRate, RateCurve
from scenarios.arrivals import ArrivalScheduler, start_dealt_share
from scenarios.dealing import ARRIVAL_SHARE_ROLE, DEAL_MESSAGE, DEALT_MESSAGE, RELEASE_MESSAGE, RoleDealer

PLAN = ArrivalPlan([CommuneRate(f"{i:05d}", f"{i % 5 + 1:02d}", 0.1 + (i % 4) * 0.05) for i in range(30)],
                   RateCurve.constant(), seed=9, duration_s=120)


@dataclass
class _Message:
    node_id: str
    data: Any


class _Run:
    """A master and its workers, messages delivered at once."""

    def __init__(self, expected_workers: int) -> None:
        self.now = 100.0
        self.clients: dict[str, object] = {}  # what Locust lists
        self.workers: dict[str, RoleDealer] = {}
        self.master = RoleDealer(self, clock=lambda: self.now)
        self.master.set_size(ARRIVAL_SHARE_ROLE, expected_workers)
        self.master.reset()  # test_start

    def send_message(self, kind: str, data: Any, client_id: str) -> None:  # the master's
        assert kind == DEALT_MESSAGE
        self.workers[client_id].on_dealt(None, _Message("master", data))

    def join(self, name: str) -> RoleDealer:
        run = self

        class Worker:
            def send_message(self, kind: str, data: Any) -> None:
                handler = {DEAL_MESSAGE: run.master.on_deal, RELEASE_MESSAGE: run.master.on_release}[kind]
                handler(None, _Message(name, data))

        self.clients[name] = object()
        self.workers[name] = RoleDealer(Worker(), remote=True)
        return self.workers[name]


class _Share:
    """What start_dealt_share builds and starts (the real scheduler walks it in real time)."""

    def __init__(self, index: int, count: int) -> None:
        self.index, self.count, self.plan = index, count, PLAN.partition(index, count)
        self.resumed_at: float | None = None

    def start(self, resume_at_s: float = 0.0) -> None:
        self.resumed_at = resume_at_s


def _play(worker: RoleDealer, expected_workers: int = 2) -> gevent.Greenlet:
    return gevent.spawn(start_dealt_share, worker, _Share, expected_workers)


def _share(greenlet: gevent.Greenlet) -> tuple[int, int, float | None]:
    share = greenlet.get(timeout=10)  # a guard against a hang, not a timing
    return share.index, share.count, share.resumed_at


def test_a_replacement_worker_plays_the_dead_workers_share_and_a_surplus_one_plays_none() -> None:
    run = _Run(expected_workers=2)
    first = [_play(run.join(w)) for w in ("a", "b")]
    assert [_share(g) for g in first] == [(0, 2, 0.0), (1, 2, 0.0)]
    run.now += 60.0
    del run.clients["b"]  # killed; Locust dropped it and started the replacement's users
    replacement = _play(run.join("c"))  # Locust's worker index 2: it took partition(2, 3)
    assert _share(replacement) == (1, 2, 60.0)  # b's share, from where the test is
    surplus = _play(run.join("d"))
    gevent.sleep(0)
    assert not surplus.ready()  # both shares held: it waits and plays none
    run.now += 30.0
    del run.clients["a"]
    run.master.reclaim_departed()  # what the master's recheck does every second while an ask waits
    assert _share(surplus) == (0, 2, 90.0)
    # What the workers left play is the one seeded plan: disjoint shares, every arrival once.
    playing = [replacement.get().plan, surplus.get().plan]
    merged = sorted((t, c.commune_code, s) for plan in playing for t, c, s in plan.offsets())
    assert merged == sorted((t, c.commune_code, s) for t, c, s in PLAN.offsets())
    run.master.reset()  # stops the recheck


def test_a_share_taken_over_mid_test_plays_on_from_there_and_counts_only_its_own() -> None:
    plan = ArrivalPlan([CommuneRate("00004", "01", 40.0), CommuneRate("26734", "79", 40.0)],
                       RateCurve.constant(), seed=3, duration_s=30.1)
    seen: list[tuple[str, int]] = []
    scheduler = ArrivalScheduler(plan, lambda arrival: seen.append((arrival.commune_code, arrival.seq)))
    scheduler.start(resume_at_s=30.0)  # its previous holder played (or lost) the first 30 s
    scheduler.join(timeout=10)
    after = [(c.commune_code, s) for t, c, s in plan.offsets() if t >= 30.0]
    assert sorted(seen) == sorted(after) and after
    assert scheduler.stats.due == scheduler.stats.started == len(after) and scheduler.stats.dropped_late == 0
