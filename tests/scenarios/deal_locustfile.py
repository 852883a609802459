"""Locustfile for the dealing test: two fixed-count classes (as the dry run has officers
and agencies), each user taking a run-wide index from the dealer, whose master knows each
role's size (as the world tells it); every worker writes what its users were dealt, with
its own per-class user counts, and the share of the citizen arrivals it was dealt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gevent
from locust import User, constant, events, task
from locust.runners import WorkerRunner

from scenarios.arrival_plan import ArrivalPlan, RateCurve
from scenarios.arrivals import ArrivalScheduler, attach_arrivals
from scenarios.dealing import RoleDealer, attach_dealer

OUT = Path(os.environ["DIENTAP_TEST_OUT"])
OFFICERS = int(os.environ.get("DIENTAP_TEST_OFFICERS", "10"))
AGENCIES = int(os.environ.get("DIENTAP_TEST_AGENCIES", "4"))
DEALER: RoleDealer | None = None
DEALT: list[tuple[str, int]] = []
SHARES: list[tuple[int, int]] = []  # (share, of) of the citizen arrivals


def make_scheduler(share: int, count: int) -> ArrivalScheduler:
    SHARES.append((share, count))
    return ArrivalScheduler(ArrivalPlan([], RateCurve.constant(), seed=1, duration_s=1.0), lambda arrival: None)


@events.init.add_listener
def on_init(environment, **_kw):
    global DEALER
    DEALER = attach_dealer(environment)
    DEALER.set_size("officer", OFFICERS)
    DEALER.set_size("agency", AGENCIES)
    attach_arrivals(environment, make_scheduler)  # deals through the same dealer


@events.quitting.add_listener
def on_quitting(environment, **_kw):
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        path = OUT / f"worker-{runner.worker_index}.json"
        path.write_text(json.dumps({"worker": runner.worker_index, "dealt": DEALT, "shares": SHARES}), encoding="utf-8")


class _Player(User):
    abstract = True
    role = ""
    wait_time = constant(0.2)

    def on_start(self):
        assert DEALER is not None
        self.index = DEALER.deal(self.role)
        DEALT.append((self.role, self.index))

    @task
    def idle(self):
        gevent.sleep(0)


class Officer(_Player):
    role = "officer"
    fixed_count = OFFICERS


class Agency(_Player):
    role = "agency"
    fixed_count = AGENCIES
