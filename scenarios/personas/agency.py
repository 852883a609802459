"""Provincial agency: sends directives to its communes (fan-out), collects their status
receipts, and follows up on communes that have not answered by the deadline."""

from __future__ import annotations

import random
import time

from locust import User, task

from scenarios.dealing import AGENCY_ROLE
from scenarios.personas.documents import new_envelope, work_inbox
from scenarios.personas.officer import world_of
from scenarios.schedule import Pacing, Schedule, follow
from scenarios.world import World

__all__ = ["ProvincialAgency"]


class ProvincialAgency(User):
    """The People's Committee of one province (one user per province)."""

    fixed_count = 0  # set by locustfile.py: one per province with active communes

    def wait_time(self) -> float:
        # Paced: one action per think-time interval, on ticks (scenarios.schedule.Pacing).
        return self.pacing.wait()

    def on_start(self) -> None:
        self.world: World = world_of(self.environment)
        self.index, code = self.world.deal_province()  # run-wide: one agency per province (scenarios.dealing)
        self.province = self.world.roster.province(code)
        self.rng = random.Random(f"{self.world.config.seed}:agency:{self.province.code}")
        low, high = self.world.profile.agencies.think_time_s
        schedule = Schedule(time.time())
        follow(schedule)
        self.pacing = Pacing(schedule, self.rng, low, high)
        self.communes = [c for c in self.world.communes if c.province_code == self.province.code]
        self.gateway = self.world.adapters(self.province.code)
        self.outstanding: dict[str, tuple[float, set[str]]] = {}  # document id → (sent at, recipients)
        self.followups = 0

    def on_stop(self) -> None:
        self.world.release(AGENCY_ROLE, self.index)

    def _token(self) -> str | None:
        return self.gateway.axis.token(self.province.agency_code, self.province.code)

    @task(3)
    def send_directive(self) -> None:
        """Send one directive to ``fanout`` of the province's communes."""
        axis = self.gateway.axis
        token = self._token()
        if token is None or axis._ca is None or not self.communes:
            return
        fanout = min(self.world.profile.agencies.fanout, len(self.communes))
        recipients = [c.agency_code for c in self.rng.sample(self.communes, fanout)]
        envelope = new_envelope(self.world, self.province.agency_code, f"UBND {self.province.name}", recipients,
                                "Chỉ đạo vận hành chính quyền địa phương hai cấp", priority=1)
        reply = axis.send(token, axis.sign(envelope), self.province.code)
        if reply.ok:
            document_id = reply.data.get("document_id", envelope.message_id)
            self.world.ledger.record("documents", document_id, envelope.message_id)
            self.outstanding[document_id] = (time.monotonic(), set(recipients))

    @task(2)
    def collect_receipts(self) -> None:
        """Check receipts of directives past their deadline; follow up on silent communes."""
        axis = self.gateway.axis
        token = self._token()
        if token is None:
            return
        deadline = self.world.profile.agencies.receipt_deadline_s
        now = time.monotonic()
        for document_id, (sent_at, recipients) in list(self.outstanding.items())[:5]:
            if axis.tokens.held(self.province.agency_code):
                return  # the target throttled this agency: nothing more until its Retry-After
            if now - sent_at < deadline:
                continue
            reply = axis.receipts_of(token, document_id, self.province.code)
            if not reply.ok:
                continue
            answered = {r.get("from_code") for r in reply.data.get("receipts", [])}
            missing = recipients - answered
            del self.outstanding[document_id]
            if missing and axis._ca is not None:
                self.followups += 1
                reminder = new_envelope(self.world, self.province.agency_code, f"UBND {self.province.name}",
                                        sorted(missing), "Đôn đốc báo cáo tiếp nhận văn bản", priority=2)
                sent = axis.send(token, axis.sign(reminder), self.province.code)
                if sent.ok:
                    self.world.ledger.record("documents", sent.data.get("document_id", reminder.message_id),
                                             reminder.message_id)

    @task(1)
    def work_own_inbox(self) -> None:
        """Reports from communes arrive in the province's inbox."""
        token = self._token()
        if token is not None:
            work_inbox(self.world, self.gateway.axis, token, self.province.code, None)
