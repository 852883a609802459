"""The go-live-night actions of drill-side traffic (the ``golive-night`` drill).

Four bounded actions, run by :class:`~drills.backends.traffic.TrafficBackend` like the
others (allowlisted hosts, bounded in count and time):

* ``district_dossiers`` (before the cut-over): citizens file ``count`` dossiers at
  ``agencies`` district units (synthesized ``9PPDD``, :mod:`kernel.districts`) spread over
  the provinces, provinces send documents to the district committees (both expect 201);
  then, until the window ends, the owners keep asking for their dossiers' status
  (``GET /dossiers/{code}``, expect 200) — across the cut-over.
* ``district_cutover`` (the cut-over, as the migration job runs it): close the district
  tier on the axis and on the portal (``POST /admin/district-tier``), then migrate the
  in-flight dossiers in batches of ``count`` (``POST /admin/migrations/district-tier``)
  until none remain, then one more batch that must move nothing (idempotence).
* ``closed_district_documents`` (after): documents to the closed district committees,
  expecting 422 ``recipient_closed`` naming exactly the successors' agency codes.
* ``successor_officers`` (after): officers of every commune the journal landed a dossier
  at sign in, find each such dossier in their worklist and accept it (status 2) — or find
  that the load's own officers of that commune accepted it first (409, and the dossier's
  history shows the commune's officer accepting it after the migration): as expected too.

A request the target leaves unanswered (a transport error: the drill's own faults cause
them) is counted with its error's type (``migration batch: ReadTimeout``) and the action
goes on, as the other actions do; an answer the action cannot read still stops it
(``stopped by``), since going on would guess.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from drills.backends.traffic_outcome import TrafficOutcome, answered, failed_label, token_of
from drills.fault_model import MAX_TRAFFIC_REQUESTS, TrafficAction
from kernel.credentials import derive_password, officer_account
from kernel.districts import District, district_tier

if TYPE_CHECKING:
    from drills.backends.traffic import TrafficBackend

__all__ = ["accepted_at", "closed_district_documents", "district_cutover", "district_dossiers", "pick_districts",
           "successor_officers"]

MAX_WORKLIST_PAGES = 20  # per officer: 20 pages of 200 dossiers
MAX_BATCHES = 200  # of the cut-over's migration job: 200 batches, then the action stops
RETRY_PAUSE_S = 0.2  # after a migration batch that failed, before the job tries the next one
STATUS_QUERY_PAUSE_S = 0.05  # between two status queries of the owners (light, steady)
ACCEPTED = 2  # DossierStatus.ACCEPTED: what an officer does first with a dossier


def pick_districts(count: int) -> list[District]:
    """``count`` districts spread evenly over the 208 (so over the provinces), in tier order."""
    districts = district_tier().districts
    count = max(1, min(count, len(districts)))
    return [districts[j * len(districts) // count] for j in range(count)]


def _admin(backend: TrafficBackend) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.ctx.admin_token or ''}"}


def district_dossiers(backend: TrafficBackend, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
    """Dossiers and documents to the open district tier, then the owners' status queries until ``deadline``."""
    http, urls = backend._http, backend.ctx.urls
    districts = pick_districts(spec.agencies)
    procedures: dict[str, str] = {}
    owned: list[tuple[str, str]] = []  # (code, owner's token)
    for i in range(spec.count):
        if time.monotonic() >= deadline:
            out.notes.append("window ended before every dossier was filed")
            break
        district = districts[i % len(districts)]
        applicant = backend.applicant(13_000 + i, procedures, out, province=district.province_code)
        if applicant is None:
            continue
        token, citizen, procedure = applicant
        key = f"{backend.ctx.run_id}-district-{i}"
        started = time.perf_counter()
        response, status, label = answered(http.post, f"{urls['portal']}/dossiers",
                                           json=backend._dossier(citizen, procedure, district.unit_code),
                                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        out.record(status == 201, f"dossier: {label}", (time.perf_counter() - started) * 1000)
        if status == 201 and response is not None:
            code = response.json()["code"]
            out.acknowledged.setdefault("dossiers", {})[code] = key
            owned.append((code, token))
    _district_documents(backend, districts, out, deadline)
    _status_queries(backend, owned, out, deadline)


def _district_documents(backend: TrafficBackend, districts: list[District], out: TrafficOutcome, deadline: float) -> None:
    """One document from each district's province to the district committee (expect 201)."""
    backend.send_documents(len(districts), out, deadline, number_base=970_000, subject="Bàn giao hồ sơ trước sáp nhập",
                           address=_to_committees(backend, districts),
                           judge=lambda _n, status, label, _response: (status == 201, f"document: {label}"))


def _status_queries(backend: TrafficBackend, owned: list[tuple[str, str]], out: TrafficOutcome, deadline: float) -> None:
    """The owners ask for their dossiers' status until ``deadline`` (bounded in count): 200 every time."""
    if not owned:
        return
    moved: set[str] = set()
    for n in range(MAX_TRAFFIC_REQUESTS):
        if time.monotonic() >= deadline:
            break
        code, token = owned[n % len(owned)]
        started = time.perf_counter()
        response, status, label = answered(backend._http.get, f"{backend.ctx.urls['portal']}/dossiers/{quote(code, safe='')}",
                                           headers={"Authorization": f"Bearer {token}"})
        out.record(status == 200, f"status query: {label}", (time.perf_counter() - started) * 1000)
        if status == 200 and response is not None and response.json().get("commune_code") != code[:5]:
            moved.add(code)
        time.sleep(min(STATUS_QUERY_PAUSE_S, max(0.0, deadline - time.monotonic())))
    out.notes.append(f"owners saw {len(moved)} of {len(owned)} dossiers at their successor commune")


def district_cutover(backend: TrafficBackend, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
    """Close the tier on the axis and the portal, then migrate in batches of ``spec.count`` until none remain."""
    http, urls = backend._http, backend.ctx.urls
    for service in ("axis", "portal"):
        response, status, label = answered(http.post, f"{urls[service]}/admin/district-tier",
                                           json={"status": "closed"}, headers=_admin(backend))
        out.record(status == 200 and response is not None and response.json().get("status") == "closed",
                   f"close {service}: {label}")
    per_province: Counter[str] = Counter()
    batches = moved = lost = 0
    remaining = -1
    for _ in range(MAX_BATCHES):
        if time.monotonic() >= deadline:
            out.notes.append(f"window ended with {remaining} dossier(s) still at district units")
            break
        response, status, label = answered(http.post, f"{urls['portal']}/admin/migrations/district-tier",
                                           json={"batch_size": spec.count}, headers=_admin(backend))
        out.record(status == 200, f"migration batch: {label}")
        if status != 200 or response is None:
            if response is None:
                lost += 1
            # The job retries with the next batch (each batch takes what is still at a
            # district unit, so a retry is safe), after a pause: a portal that is down is
            # asked again five times a second at most, not in a tight loop.
            time.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - time.monotonic())))
            continue
        answer = response.json()
        remaining = int(answer["remaining"])
        if answer["batch"] is None:
            break
        batches += 1
        moved += len(answer["moved"])
        per_province.update(item["province_code"] for item in answer["moved"])
        if remaining == 0:
            break
    # Idempotence: the job re-run after it finished moves nothing.
    response, status, label = answered(http.post, f"{urls['portal']}/admin/migrations/district-tier",
                                       json={"batch_size": spec.count}, headers=_admin(backend))
    rerun_ok = status == 200 and response is not None and response.json()["batch"] is None \
        and response.json()["moved"] == []
    out.record(rerun_ok, f"re-run after the last batch: {label}" + ("" if rerun_ok or status != 200 else " (moved something)"))
    out.detail.update({"migrated": moved, "batches": batches,
                       **{f"province_{p}": n for p, n in sorted(per_province.items())}})
    out.notes.append(f"{moved} dossier(s) migrated in {batches} batch(es); per province: "
                     + ", ".join(f"{p} ×{n}" for p, n in sorted(per_province.items())))
    if lost:
        # An unanswered batch may have been applied: its dossiers moved but are not counted
        # here. The reconciliation reads the worklists, not this count.
        out.notes.append(f"{lost} batch(es) unanswered: the migrated count may be short of what moved")


def closed_district_documents(backend: TrafficBackend, spec: TrafficAction, out: TrafficOutcome, deadline: float
                              ) -> None:
    """Documents to closed district committees: 422 ``recipient_closed`` naming exactly the successors."""
    tier, roster = district_tier(), backend.roster
    districts = pick_districts(spec.agencies)

    def named_successors(i: int, status: int, label: str, response: httpx.Response | None) -> tuple[bool, str]:
        named = response.json().get("error", {}).get("successors") if status == 422 and response is not None else None
        if named != list(tier.successor_agencies(districts[i % len(districts)], roster)):
            return False, f"{label}, successors not named"
        return label == "422 recipient_closed", label

    backend.send_documents(spec.count, out, deadline, number_base=980_000,
                           subject="Văn bản gửi UBND cấp huyện đã giải thể", address=_to_committees(backend, districts),
                           judge=named_successors)


def _to_committees(backend: TrafficBackend, districts: list[District]) -> Callable[[int], tuple[str, str]]:
    """The i-th document's (sender, recipient): the district's province to the i-th district's committee, in turn."""
    roster = backend.roster

    def address(i: int) -> tuple[str, str]:
        district = districts[i % len(districts)]
        return roster.province(district.province_code).agency_code, district.agency_code

    return address


def successor_officers(backend: TrafficBackend, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
    """Officers of each landing commune find their migrated dossiers in their worklist and accept them."""
    http, urls = backend._http, backend.ctx.urls
    response, status, label = answered(http.get, f"{urls['portal']}/admin/migrations/district-tier",
                                       headers=_admin(backend))
    if status != 200 or response is None:
        out.record(False, failed_label("migration journal", status, label))
        return
    landed: dict[str, set[str]] = {}
    for landing in response.json()["landings"]:
        landed.setdefault(landing["to_commune"], set()).add(landing["code"])
    for commune, codes in sorted(landed.items()):
        if time.monotonic() >= deadline:
            out.notes.append("window ended before every landing commune was worked")
            break
        account = officer_account(commune, 1)
        token, why = token_of(answered(http.post, f"{urls['portal']}/auth/token", json={
            "kind": "officer", "account": account, "password": derive_password(backend.ctx.secret, account)}),
            "officer sign-in")
        if token is None:
            out.record(False, why)
            continue
        worklist, why = worklist_codes(http, urls["portal"], token)
        if worklist is None:
            # Each of the commune's dossiers goes unworked: one unexpected answer apiece, so
            # the ratio of answers as expected still counts dossiers.
            for _ in codes:
                out.record(False, why)
            continue
        seen = set(worklist)
        for code in sorted(codes):
            if code not in seen:
                out.record(False, "not in the landing commune's worklist")
                continue
            started = time.perf_counter()
            _, status, label = answered(http.post, f"{urls['portal']}/dossiers/{quote(code, safe='')}/transitions",
                                        json={"to": ACCEPTED, "note": "tiếp nhận hồ sơ chuyển từ cấp huyện"},
                                        headers={"Authorization": f"Bearer {token}"})
            ok, label = status == 200, f"accept: {label}"
            if status == 409 and accepted_at(http, urls["portal"], token, code, commune):
                # The load's own officers of that commune work their worklists too, and may
                # have accepted it first: found and worked where it landed all the same.
                ok, label = True, "accept: already accepted by the landing commune's officers"
                out.detail["accepted_by_the_load"] = out.detail.get("accepted_by_the_load", 0) + 1
            out.record(ok, label, (time.perf_counter() - started) * 1000)
    out.notes.append(f"{len(landed)} landing commune(s) worked")
    if out.detail.get("accepted_by_the_load"):
        out.notes.append(f"{out.detail['accepted_by_the_load']} dossier(s) already accepted by the load's officers")


def accepted_at(http: httpx.Client, portal_url: str, token: str, code: str, commune: str) -> bool:
    """Whether the dossier is at ``commune`` and one of its officers accepted it after it landed
    (an unanswered look-up: not known, so no)."""
    reply, status, _ = answered(http.get, f"{portal_url}/dossiers/{quote(code, safe='')}",
                                headers={"Authorization": f"Bearer {token}"})
    if reply is None or status != 200 or reply.json().get("commune_code") != commune:
        return False
    history = reply.json().get("history") or []
    landed = max((i for i, step in enumerate(history) if step.get("actor") == "migration"), default=None)
    return landed is not None and any(
        step.get("to") == ACCEPTED and str(step.get("actor", "")).startswith(f"officer:{commune}.")
        for step in history[landed + 1:]
    )


def worklist_codes(http: httpx.Client, portal_url: str, token: str) -> tuple[list[str] | None, str]:
    """Every dossier code of an officer's worklist, page after page (bounded); or ``None`` and
    the label to record when a page is refused or unanswered (see :func:`failed_label`)."""
    codes: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_WORKLIST_PAGES):
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        reply, status, label = answered(http.get, f"{portal_url}/dossiers", params=params,
                                        headers={"Authorization": f"Bearer {token}"})
        if reply is None or status != 200:
            return None, failed_label("worklist", status, label)
        page = reply.json()
        codes += [item["code"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return codes, ""
