"""Abuse and rate-limit checks (OWASP API4:2023 resources, API6:2023 business flows)."""

from __future__ import annotations

import secrets
import threading
import time

import httpx

from drills.security.context import THROTTLED, UNAVAILABLE, CheckContext, SetupFailed, require_judged
from drills.security.documents import NOT_A_VERDICT_ON_THE_PACKAGE, DocumentKit
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, IncidentPhase, Outcome, PlantedWeakness

__all__: list[str] = []

API4 = "API4:2023 Unrestricted Resource Consumption"
API6 = "API6:2023 Unrestricted Access to Sensitive Business Flows"
#: Look-ups the legitimate caller must complete while the scraper is refused: a throttle
#: that refuses every client, not only the scraper, shows in them.
LEGIT_LOOKUPS_WHILE_THROTTLED = 3


class _LegitimateCaller(threading.Thread):
    """Looks citizens up at a modest pace (5/s) as another client system, timing each look-up."""

    def __init__(self, ctx: CheckContext, token: str, ids: list[str]):
        super().__init__(name="security-legit-caller", daemon=True)
        self.client = ctx.new_client("population")
        self.headers = ctx.bearer(token)
        self.ids = ids
        self.latencies_ms: list[float] = []
        self.statuses: list[int] = []
        # (monotonic start, status) of each look-up, for what happened after a given instant.
        self.started_at: list[float] = []
        self.stop = threading.Event()
        self._done = threading.Condition()

    def run(self) -> None:
        try:
            i = 0
            while not self.stop.is_set() and i < 600:  # bounded: at most 2 minutes at 5/s
                began = time.monotonic()
                started = time.perf_counter()
                try:
                    r = self.client.get(f"/citizens/{self.ids[i % len(self.ids)]}", headers=self.headers,
                                        params={"purpose": "security drill: legitimate caller"})
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                with self._done:
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                    self.started_at.append(began)
                    self.statuses.append(status)
                    self._done.notify_all()
                i += 1
                self.stop.wait(0.2)
        finally:
            self.client.close()

    def lookups_since(self, instant: float) -> int:
        """Look-ups completed that started at or after ``instant`` (monotonic)."""
        with self._done:
            return sum(1 for t in self.started_at if t >= instant)

    def wait_for_lookups_since(self, instant: float, count: int, timeout_s: float) -> int:
        """Wait until ``count`` look-ups started at or after ``instant`` are done, at most
        ``timeout_s``; how many there are then."""
        with self._done:
            self._done.wait_for(lambda: sum(1 for t in self.started_at if t >= instant) >= count,
                                timeout=max(0.0, timeout_s))
        return self.lookups_since(instant)

    def p95(self) -> float:
        """95th percentile of the look-up latencies (ms)."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


@security_check(CheckSpec(
    id="abuse.population-scraping",
    title="Bulk scraping of the population database is throttled while legitimate callers keep their budget",
    area=Area.ABUSE, owasp=API4,
    sends="one client system looks up consecutive citizens as fast as it can (at most 3,000 look-ups or 20 s) "
          "while another looks citizens up 5 times a second",
    passes_when="the scraper gets 429 with a Retry-After of at least 1 s before the bound; the legitimate caller "
                "gets no 429/5xx and its p95 stays within the budget (1,000 ms), including 3 look-ups started while "
                "the scraper is refused (waited for within the Retry-After). A scraper look-up answered 401/404/5xx "
                "(the population service not serving at all), or no legitimate look-up while the scraper is refused, "
                "is ERROR",
    weaknesses=(PlantedWeakness("population", "no_rate_limit"),),
    simulates_incident=True,
))
def population_scraping(ctx: CheckContext, out: Outcome) -> None:
    """A scraper is contained; other client systems are not collateral damage."""
    limits = ctx.limits
    scraper = ctx.bearer(ctx.population_token(ctx.target.scraper_client))
    legit_ids = [ctx.citizen().personal_id for _ in range(5)]
    legit = _LegitimateCaller(ctx, ctx.population_token(ctx.target.legitimate_client), legit_ids)
    legit.start()
    started = time.monotonic()
    refused: httpx.Response | None = None
    refused_at = 0.0
    last: httpx.Response | None = None
    sent = 0
    after_refusal = 0
    try:
        while sent < limits.scrape_max_requests and time.monotonic() - started < limits.scrape_max_s:
            c = ctx.citizen()
            r = ctx.send("population", "GET", f"/citizens/{c.personal_id}", headers=scraper,
                         params={"purpose": "bulk export"})
            sent += 1
            last = r
            if r.status_code == 429:
                refused, refused_at = r, time.monotonic()
                out.detected_after_s = round(refused_at - started, 3)
                break
            # Down, the scraper's token refused, no such route: nothing was served, so
            # "never throttled" would be no finding.
            require_judged(r, f"scraper look-up #{sent}", UNAVAILABLE | {401, 404})
        if refused is not None:
            # A throttle that refuses everyone shows only in the legitimate caller's look-ups
            # while the scraper is refused: wait for a few, at most for as long as the target
            # said the refusal lasts (its Retry-After) and the check's budget allows.
            retry = refused.headers.get("retry-after", "")
            window_s = min(float(retry) if retry.isdigit() else 0.0, ctx.time_left())
            after_refusal = legit.wait_for_lookups_since(refused_at, LEGIT_LOOKUPS_WHILE_THROTTLED, window_s)
    finally:
        legit.stop.set()
        legit.join(5)
    if refused is None:
        out.phase = IncidentPhase.TRIAGE
        out.fail(f"{sent} look-ups in {time.monotonic() - started:.1f} s by one client were never throttled",
                 ctx.excerpt(last, "the last look-up") if last is not None else None)
    else:
        out.phase = IncidentPhase.CONTAIN
        retry = refused.headers.get("retry-after", "")
        if out.expect(retry.isdigit() and int(retry) >= 1, f"429 without a usable Retry-After ({retry!r})",
                      ctx.excerpt(refused)):
            out.note(f"scraper throttled after {sent} look-ups ({out.detected_after_s:.2f} s), Retry-After {retry} s",
                     ctx.excerpt(refused, "first refusal"))
    bad = [s for s in legit.statuses if s == 429 or s == 0 or s >= 500]
    out.expect(not bad, f"the legitimate caller got {len(bad)} refusals/errors ({sorted(set(bad))})", None)
    p95 = legit.p95()
    out.expect(p95 <= limits.legit_p95_budget_ms, f"the legitimate caller's p95 was {p95:.0f} ms "
               f"(budget {limits.legit_p95_budget_ms:.0f} ms)", None)
    if out.passed and refused is not None and not after_refusal:
        raise SetupFailed(f"the legitimate caller completed no look-up in the {refused.headers.get('retry-after')} s "
                          "the scraper was refused: whether the throttle spares other clients cannot be judged")
    if not bad and p95 <= limits.legit_p95_budget_ms:
        out.note(f"legitimate caller: {len(legit.statuses)} look-ups ({after_refusal} while the scraper was refused), "
                 f"p95 {p95:.0f} ms, none refused")


@security_check(CheckSpec(
    id="abuse.idempotency-reuse",
    title="An Idempotency-Key reused with a different body is refused",
    area=Area.ABUSE, owasp=API6,
    sends="POST /dossiers with key K and body 1, again with K and body 1, then K with a different body",
    passes_when="the repeat answers the same dossier code; the changed body answers 422; exactly one dossier is "
                "added to the ledger and to the citizen's commune worklist; the repeat or the changed body throttled "
                "(429) or the citizen's token refused (401), or a worklist that answers anything but 200, is ERROR",
    weaknesses=(PlantedWeakness("portal", "idempotency_ignores_body"),),
))
def idempotency_reuse(ctx: CheckContext, out: Outcome) -> None:
    """Idempotency keys cannot be replayed for another request."""
    citizen, token = ctx.signed_in_citizen()
    key = "sec-" + secrets.token_hex(8)
    before = ctx.ledger("portal")
    own_before = ctx.own_dossiers(citizen)
    first = ctx.submit(token, ctx.dossier_body(citizen), key)
    if first.status_code != 201:
        raise SetupFailed(f"the first submission answered {first.status_code}", first)
    again = ctx.submit(token, ctx.dossier_body(citizen), key)
    require_judged(again, "the repeat with the same key and body", THROTTLED | {401})
    out.expect(again.status_code in (200, 201) and again.json().get("code") == first.json()["code"],
               f"the same key and body answered {again.status_code} {again.text[:80]}", ctx.excerpt(again))
    changed = ctx.dossier_body(citizen, fields={"reason": "a different request"})
    reuse = ctx.submit(token, changed, key)
    require_judged(reuse, "the same key with another body", THROTTLED | {401})
    out.expect(reuse.status_code == 422, f"the same key with another body answered {reuse.status_code}",
               ctx.excerpt(reuse, "key reused with another body"))
    after = ctx.ledger("portal")
    if before is not None and after is not None:
        added = after.get("dossiers", 0) - before.get("dossiers", 0)
        out.expect(added == 1, f"{added} dossiers were added, expected 1", None)
    elif why := ctx.ledger_not_compared("portal"):
        out.note(why)
    own_after = ctx.own_dossiers(citizen)
    out.expect(own_after - own_before == 1, f"the citizen has {own_after - own_before} new dossiers, expected 1", None)
    if out.passed:
        out.note("repeat replayed the same dossier; reuse with another body 422", ctx.excerpt(reuse, "key reuse"))


@security_check(CheckSpec(
    id="abuse.document-replay",
    title="A replayed document message id creates no second document",
    area=Area.ABUSE, owasp=API6,
    sends="a signed document sent twice byte for byte, then the same message id with another subject (re-signed)",
    passes_when="the replay answers 2xx with the same document_id; the changed package answers 409 (or another "
                "4xx); the ledger grows by one document and the recipient gets one delivery; the replay or the "
                "changed package answered 401/404/405/429 (no verdict on the package), or an inbox that answers "
                "anything but 200, is ERROR",
    weaknesses=(PlantedWeakness("axis", "replay_accepted"),),
))
def document_replay(ctx: CheckContext, out: Outcome) -> None:
    """Message ids are unique per sender: replays are harmless."""
    kit = DocumentKit.require(ctx)
    sender, recipient = "000.00.00.G22", ctx.citizen_commune_agency()
    before = ctx.ledger("axis")
    envelope = kit.envelope(sender, [recipient], "dientap security drill: replay")
    package = kit.package(envelope)
    first = kit.post(sender, package)
    if first.status_code != 201:
        raise SetupFailed(f"the first send answered {first.status_code}", first)
    document_id = first.json()["document_id"]
    replay = kit.post(sender, package)
    require_judged(replay, "the byte-for-byte replay", NOT_A_VERDICT_ON_THE_PACKAGE)
    out.expect(200 <= replay.status_code < 300 and replay.json().get("document_id") == document_id,
               f"the byte-for-byte replay answered {replay.status_code} {replay.text[:80]}", ctx.excerpt(replay))
    envelope.subject = "dientap security drill: replay with another subject"
    conflict = kit.post(sender, kit.package(envelope))
    # Taken for a 4xx refusal, a 429 would pass a second document stored under a new id.
    require_judged(conflict, "the same message id with another body", NOT_A_VERDICT_ON_THE_PACKAGE)
    out.expect(400 <= conflict.status_code < 500, f"the same message id with another body answered "
               f"{conflict.status_code}", ctx.excerpt(conflict, "message id reused"))
    after = ctx.ledger("axis")
    if before is not None and after is not None:
        added = after.get("documents", 0) - before.get("documents", 0)
        out.expect(added == 1, f"{added} documents were added, expected 1", None)
    elif why := ctx.ledger_not_compared("axis"):
        out.note(why)
    deliveries = kit.count_deliveries(recipient, document_id)
    out.expect(deliveries == 1, f"the recipient received {deliveries} deliveries, expected 1", None)
    if out.passed:
        out.note(f"replay answered the same document id; reuse {conflict.status_code}; one document, one delivery")
