"""Citizen: signs in with VNeID-style credentials, browses the catalogue, submits a
dossier, polls its status, pays when fees are due, sometimes sends feedback or withdraws.

Citizens are an open model: each arrival is one session started on schedule by
:mod:`scenarios.arrivals`, whatever the target's speed. The journey follows a
:class:`~scenarios.schedule.Schedule` that begins at the arrival's intended start, so
every request carries its intended start and coordinated omission is measured, not hidden.
"""

from __future__ import annotations

import random

from kernel.ack_ledger import REPLAYED_DOSSIERS, RETRIED_DOSSIERS
from scenarios.adapters import Reply
from scenarios.arrival_plan import Arrival
from scenarios.retry_after import MAX_RETRY_WAIT_S, retry_wait
from scenarios.schedule import Schedule, follow
from scenarios.world import World

__all__ = ["citizen_journey", "SUBMIT_RETRIES"]

SUBMIT_RETRIES = 3  # a timed-out or refused submission is retried with the same key
STATUS_FEES_DUE = 6
STATUS_WITHDRAWN = 7


def _waited_out(schedule: Schedule, reply: Reply, rng: random.Random, fallback_s: float) -> bool:
    """Wait before trying again: the reply's Retry-After × jitter (never earlier than the
    target asked), or ``fallback_s`` when it named none. False, without waiting, when the
    target asked for longer than a citizen waits (:data:`MAX_RETRY_WAIT_S`): the citizen
    gives up this visit rather than come back early. The wait ends with the run."""
    wait = retry_wait(reply.retry_after, rng) if reply.retry_after is not None else fallback_s
    if wait > MAX_RETRY_WAIT_S:
        return False
    # Not a planned pause: the wait shows in the retry's intended latency.
    schedule.wait(wait)
    return True


def citizen_journey(world: World, arrival: Arrival) -> None:
    """Play one citizen session (bounded: a fixed number of requests, then it ends)."""
    rng = arrival.rng()
    citizen = world.citizen(rng)
    # Since 2025 a procedure may be filed at any commune, whatever the applicant's residence:
    # the arrival's commune (from the schedule) receives it, the citizen comes from anywhere.
    province, commune = arrival.province_code, arrival.commune_code
    portal = world.adapters(province).portal
    journey = world.profile.citizens.journey
    schedule = Schedule(arrival.intended_start)
    follow(schedule)
    reply = portal.sign_in_citizen(citizen, province, commune)
    if not reply.ok:
        return
    token = reply.data["access_token"]

    if rng.random() < journey.browse_share:
        browsed = portal.procedures(province, token=token, commune=commune)
        if browsed.ok:
            world.remember_catalogue(province, list(browsed.data.get("procedures", [])))
    procedures = world.catalogue(province)
    if not procedures:
        return  # the province has not published its catalogue: nothing to apply for
    procedure = rng.choice(procedures)
    key = f"{world.config.run_id}-{arrival.commune_code}-{arrival.seq}"
    fields = {"purpose": "Thực hiện thủ tục trực tuyến", "contact_phone": f"09{rng.randrange(10**8):08d}"}

    if journey.fill_s:
        schedule.pause(journey.fill_s)
    dossier = None
    attempts = 0
    for attempt in range(SUBMIT_RETRIES):
        attempts += 1
        dossier = portal.submit_dossier(token, citizen, procedure["code"], key, province, commune, fields=fields)
        if dossier.ok or not (dossier.transport_error or dossier.status in (429, 503)):
            break
        if attempt + 1 == SUBMIT_RETRIES or not _waited_out(schedule, dossier, rng, min(1.0 * (attempt + 1), 5.0)):
            break
    if dossier is None or not dossier.ok:
        return
    code = dossier.data["code"]
    world.ledger.record("dossiers", code, key)
    if attempts > 1:
        # Acknowledged only after a timed-out or refused attempt: what a drill checks was not
        # stored twice. A replayed answer says the portal had stored an earlier attempt's key.
        world.ledger.record(RETRIED_DOSSIERS, code, key)
        if dossier.replayed:
            world.ledger.record(REPLAYED_DOSSIERS, code, key)

    if rng.random() < journey.withdraw_share:
        portal.transition(token, code, STATUS_WITHDRAWN, province, commune, note="Người nộp rút hồ sơ")
        return
    for _ in range(journey.status_polls):
        schedule.pause(journey.poll_interval_s)
        status = portal.dossier(token, code, province, commune)
        if status.retry_after is not None and not _waited_out(schedule, status, rng, 0.0):
            return
        if status.ok and status.data.get("status") == STATUS_FEES_DUE:
            paid = portal.pay(token, code, f"{key}-pay", province, commune)
            if paid.ok:
                world.ledger.record("payments", str(paid.data.get("payment_id")), f"{key}-pay")
            break
    if rng.random() < journey.feedback_share:
        portal.feedback(token, province, commune, "Góp ý về thủ tục", "Thời gian xử lý hồ sơ cần được rút ngắn.")
