"""Commune officer: signs in at opening time (the login storm), works the commune's
queue through the official status codes, checks applicants against the population
database, reports to the province over the axis and works the commune's inbox."""

from __future__ import annotations

import random
import time
import zlib

import gevent
from locust import User, task

from scenarios.dealing import OFFICER_ROLE
from scenarios.personas.documents import new_envelope, work_inbox
from scenarios.schedule import Pacing, Schedule, follow
from scenarios.world import World

__all__ = ["CommuneOfficer", "world_of"]

# Statuses an officer moves a dossier out of, visited in turn (one stage per action).
_STAGES = (1, 2, 4, 5, 9)


def world_of(environment) -> World:
    """The :class:`World` of this Locust environment, held by the harness's one extension
    object (``environment.dientap``, ``scenarios.harness.HarnessState``)."""
    world: World = environment.dientap.world
    return world


class CommuneOfficer(User):
    """One officer of one commune's Public Administrative Service Centre."""

    fixed_count = 0  # set by locustfile.py from the profile: every slot of every active commune

    def wait_time(self) -> float:
        # Paced: one action per think-time interval, on ticks (scenarios.schedule.Pacing).
        return self.pacing.wait()

    def on_start(self) -> None:
        self.world = world_of(self.environment)
        # Dealt run-wide, so no commune has two officers of one number on two workers.
        self.index, self.slot = self.world.deal_slot()
        self.rng = random.Random(f"{self.world.config.seed}:{self.slot.account}")
        self.commune = self.slot.commune
        self.province = self.commune.province_code
        self.gateway = self.world.adapters(self.province)
        self._stage = self.rng.randrange(len(_STAGES))
        # The login storm: every officer signs in within the window after the doors open,
        # and acts on the ticks of its pacing from then on.
        started = self.environment.dientap.started_at or time.time()
        sign_in_at = started + self.rng.uniform(0, self.world.profile.officers.login_window_s)
        schedule = Schedule(sign_in_at)
        follow(schedule)
        low, high = self.world.profile.officers.think_time_s
        self.pacing = Pacing(schedule, self.rng, low, high)
        if sign_in_at > time.time():
            gevent.sleep(sign_in_at - time.time())
        self.gateway.portal.officer_token(self.slot.account, self.province, self.commune.code)

    def on_stop(self) -> None:
        self.world.release(OFFICER_ROLE, self.index)

    @task(6)
    def work_queue(self) -> None:
        """Move the next batch of one stage's dossiers along the official status codes."""
        portal = self.gateway.portal
        token = portal.officer_token(self.slot.account, self.province, self.commune.code)
        if token is None:
            return
        stage = _STAGES[self._stage % len(_STAGES)]
        self._stage += 1
        # A page deep enough to hold about a batch of this officer's own dossiers (_assigned).
        batch = min(self.world.profile.officers.worklist_batch * self.world.profile.officers_per_commune, 200)
        listing = portal.worklist(token, self.province, self.commune.code, status=stage, limit=batch)
        if not listing.ok:
            return
        for item in listing.data.get("items", []):
            if portal.tokens.held(self.slot.account):
                return  # the target throttled this officer mid-batch: nothing more until its Retry-After
            if self._assigned(item["code"]):
                self._advance(token, item["code"], stage)

    def _assigned(self, code: str) -> bool:
        """Whether this officer handles dossier ``code``.

        A commune's officers share one worklist; a one-stop centre assigns each dossier
        to one officer. Without the assignment two officers of a commune would move the
        same dossier at once, and the second's 409 ``illegal_transition`` would be a race
        the harness made, not the target's (issue #18: 13 of them at golive ×10). The
        split is by a stable hash of the code, so it needs no coordination across workers.
        """
        officers = self.world.profile.officers_per_commune
        return officers == 1 or zlib.crc32(code.encode()) % officers == self.slot.number - 1

    def _advance(self, token: str, code: str, status: int) -> None:
        portal = self.gateway.portal
        if status == 1:
            detail = portal.dossier(token, code, self.province, self.commune.code)
            if not detail.ok:
                return
            applicant = detail.data.get("applicant") or {}
            target = 2 if self._applicant_verified(applicant) else 3
        elif status == 2:
            target = 4
        elif status == 4:
            detail = portal.dossier(token, code, self.province, self.commune.code)
            if not detail.ok:
                return
            if self.rng.random() < 0.05:
                target = 5  # more documents requested
            else:
                target = 6 if (detail.data.get("fee_vnd") or 0) > 0 and not detail.data.get("paid") else 9
        elif status == 5:
            target = 4
        else:
            target = 10
        portal.transition(token, code, target, self.province, self.commune.code)

    def _applicant_verified(self, applicant: dict) -> bool:
        """Check the applicant against the population database through the province's system."""
        import datetime as dt

        population = self.gateway.population
        token = population.token(f"province-{self.province}", self.province)
        if token is None or not applicant.get("personal_id"):
            return True  # population unreachable: the portal already verified at submission
        try:
            dob = dt.date.fromisoformat(str(applicant.get("date_of_birth")))
        except ValueError:
            return False
        reply = population.verify(token, applicant["personal_id"], applicant.get("full_name", ""), dob,
                                  "Tiếp nhận hồ sơ TTHC", self.province, self.commune.code)
        return (not reply.ok) or bool(reply.data.get("match"))

    @task(2)
    def exchange_documents(self) -> None:
        """Work the commune's inbox; now and then report to the province."""
        axis = self.gateway.axis
        token = axis.token(self.commune.agency_code, self.province, self.commune.code)
        if token is None:
            return
        work_inbox(self.world, axis, token, self.province, self.commune.code)
        if self.slot.number == 1 and self.rng.random() < 0.2 and axis._ca is not None:
            province = self.world.roster.province(self.province)
            envelope = new_envelope(self.world, self.commune.agency_code, f"UBND {self.commune.name}",
                                    [province.agency_code], f"Báo cáo tình hình vận hành ngày đầu - {self.commune.name}")
            sent = axis.send(token, axis.sign(envelope), self.province, self.commune.code)
            if sent.ok:
                self.world.ledger.record("documents", sent.data.get("document_id", envelope.message_id), envelope.message_id)
