"""Authorization checks (OWASP API1:2023 BOLA, API5:2023 BFLA, API3:2023 property level)."""

from __future__ import annotations

import httpx

from drills.security.context import THROTTLED, UNAVAILABLE, CheckContext, SetupFailed, require_judged
from drills.security.documents import DocumentKit
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness
from kernel.roster import load_roster

__all__: list[str] = []

API1 = "API1:2023 Broken Object Level Authorization"
API3 = "API3:2023 Broken Object Property Level Authorization"
API5 = "API5:2023 Broken Function Level Authorization"
_DENIED = (403, 404)
#: Answers to a request with the caller's own valid token that judged nothing: throttled,
#: failing, or the token itself refused. Taken for a denial they would pass an access
#: nobody checked; taken for an allowed one, fail a target that never had to answer.
NOT_JUDGED = THROTTLED | UNAVAILABLE | {401}


def _leaks(r: httpx.Response, *secrets: str) -> bool:
    return any(s and s in r.text for s in secrets)


@security_check(CheckSpec(
    id="authz.bola-dossier",
    title="Citizen A cannot read, change or pay citizen B's dossier, even by enumerating codes",
    area=Area.AUTHZ, owasp=API1,
    sends="citizen B's token on GET /dossiers/{A's code}, POST …/transitions {to: 7}, POST …/payments, and GET on "
          "the 20 neighbouring dossier codes",
    passes_when="every request answers 403/404 without A's name or ID number, no neighbouring code answers 200, "
                "and A's dossier and the payment ledger are unchanged; B's read, change, pay or a neighbouring code, "
                "or A's own read of the dossier, answered 401/429/5xx (not judged) is ERROR",
    weaknesses=(PlantedWeakness("portal", "bola_dossier_read"),),
))
def bola_dossier(ctx: CheckContext, out: Outcome) -> None:
    """Object-level access to dossiers is the owner's (and their commune officers') only."""
    victim = ctx.victim_dossier()
    attacker = ctx.bearer(ctx.signed_in_citizen()[1])
    ledger = ctx.ledger("portal")
    owner = victim.owner
    for method, path, kw in (
        ("GET", f"/dossiers/{victim.code}", {}),
        ("POST", f"/dossiers/{victim.code}/transitions", {"json": {"to": 7, "note": "withdrawn by B"}}),
        ("POST", f"/dossiers/{victim.code}/payments", {"json": {}, "headers": {"Idempotency-Key": "bola-pay"}}),
    ):
        headers = {**attacker, **kw.pop("headers", {})}
        r = ctx.send("portal", method, path, headers=headers, **kw)
        leaked = _leaks(r, owner.personal_id, owner.full_name)
        if not leaked:
            require_judged(r, f"B's {method} {path.replace(victim.code, '{code}')}", NOT_JUDGED)
        out.expect(r.status_code in _DENIED and not leaked,
                   f"B's {method} {path.replace(victim.code, '{code}')} answered {r.status_code}", ctx.excerpt(r))
    prefix, _, seq = victim.code.rpartition("-")
    n = int(seq)
    opened = []
    for k in range(1, ctx.limits.enumeration_codes + 1):
        guess = n + (k + 1) // 2 * (1 if k % 2 else -1)
        if guess < 1:
            continue
        code = f"{prefix}-{guess:06d}"
        r = ctx.send("portal", "GET", f"/dossiers/{code}", headers=attacker)
        # Throttled, failing, or B's own token refused: the code was not found closed, only not tried.
        require_judged(r, f"B's GET of the neighbouring code {code}", NOT_JUDGED)
        if r.status_code == 200:
            opened.append(code)
            if len(opened) == 1:
                out.fail(f"enumerating codes opened another citizen's dossier {code}", ctx.excerpt(r))
    if opened:
        out.fail(f"{len(opened)} of {ctx.limits.enumeration_codes} neighbouring codes opened")
    status = ctx.dossier_status(victim)
    out.expect(status == 1, f"A's dossier status is {status} after B's attempts, expected 1 (submitted)", None)
    after = ctx.ledger("portal")
    if ledger is not None and after is not None:
        out.expect(after.get("payments") == ledger.get("payments"), "the payment ledger changed", None)
    elif why := ctx.ledger_not_compared("portal"):
        out.note(why)
    if out.passed:
        out.note(f"B got 403/404 on read/change/pay; {ctx.limits.enumeration_codes} neighbouring codes closed")


@security_check(CheckSpec(
    id="authz.bfla",
    title="A citizen token cannot use officer or admin functions",
    area=Area.AUTHZ, owasp=API5,
    sends="citizen token on GET /dossiers (officer worklist) and on an officer move of their own dossier "
          "(1→2 accepted); citizen and client-system tokens on GET /admin/ledger, /admin/faults, /admin/audit; "
          "an officer token on POST /dossiers (citizen function)",
    passes_when="worklist and officer move 403; admin routes 401/403 (404 when the admin API is off); the officer's "
                "submission 403; the dossier stays at status 1; any of them throttled (429) or failing (5xx), or a "
                "caller's own token refused (401) where 403 is expected, is ERROR",
    weaknesses=(PlantedWeakness("portal", "citizen_accepts_own"),),
))
def bfla(ctx: CheckContext, out: Outcome) -> None:
    """Function-level authorization: roles cannot reach each other's functions."""
    victim = ctx.victim_dossier()
    citizen = ctx.bearer(victim.owner_token)
    r = ctx.send("portal", "GET", "/dossiers", headers=citizen)
    require_judged(r, "the citizen on the officer worklist", NOT_JUDGED)
    out.expect(r.status_code == 403, f"citizen on the officer worklist answered {r.status_code}", ctx.excerpt(r))
    r = ctx.send("portal", "POST", f"/dossiers/{victim.code}/transitions", headers=citizen, json={"to": 2})
    require_judged(r, "the citizen accepting their own dossier", NOT_JUDGED)
    out.expect(r.status_code == 403, f"citizen accepting their own dossier answered {r.status_code}", ctx.excerpt(r))
    province_token = ctx.bearer(ctx.population_token("province-01"))
    for service, path, headers in (
        ("portal", "/admin/ledger", citizen), ("portal", "/admin/faults", citizen),
        ("population", "/admin/audit", province_token), ("population", "/admin/ledger", province_token),
    ):
        r = ctx.send(service, "GET", path, headers=headers)
        require_judged(r, f"{service} {path} with a non-admin token", THROTTLED | UNAVAILABLE)
        out.expect(r.status_code in (401, 403, 404), f"{service} {path} with a non-admin token answered "
                   f"{r.status_code}", ctx.excerpt(r))
    officer = ctx.bearer(ctx.officer_token(victim.owner.commune_code, 2))
    r = ctx.submit(officer["Authorization"].split(" ", 1)[1], ctx.dossier_body(victim.owner))
    require_judged(r, "an officer submitting a dossier", NOT_JUDGED)
    out.expect(r.status_code == 403, f"an officer submitting a dossier answered {r.status_code}", ctx.excerpt(r))
    status = ctx.dossier_status(victim)
    out.expect(status == 1, f"the dossier moved to status {status}", None)
    if out.passed:
        out.note("officer and admin functions refused to a citizen (403/401); citizen function refused to an officer")


@security_check(CheckSpec(
    id="authz.officer-other-commune",
    title="An officer of commune X cannot see or move a dossier of commune Y",
    area=Area.AUTHZ, owasp=API1,
    sends="an officer of another commune: GET the dossier, POST transition 1→2, and their worklist; then the "
          "dossier's own commune officer makes the same move (control)",
    passes_when="the foreign officer gets 403/404 and never sees the code in the worklist, which answers 200 (an "
                "unreadable worklist hides nothing: ERROR); the dossier stays at 1 until its own officer moves it "
                "(control succeeds); the foreign read or move, or the owner's read, answered 401/429/5xx (not "
                "judged) is ERROR",
    weaknesses=(PlantedWeakness("portal", "officer_any_commune"),),
))
def officer_other_commune(ctx: CheckContext, out: Outcome) -> None:
    """Officers act on their own commune's dossiers only."""
    victim = ctx.victim_dossier()
    other = ctx.citizen().commune_code
    tries = 0
    while other == victim.owner.commune_code and tries < 20:
        other, tries = ctx.citizen().commune_code, tries + 1
    foreign = ctx.bearer(ctx.officer_token(other, 3))
    r = ctx.send("portal", "GET", f"/dossiers/{victim.code}", headers=foreign)
    require_judged(r, "the foreign officer's read", NOT_JUDGED)
    out.expect(r.status_code in _DENIED, f"foreign officer read answered {r.status_code}", ctx.excerpt(r))
    r = ctx.send("portal", "POST", f"/dossiers/{victim.code}/transitions", headers=foreign, json={"to": 2})
    require_judged(r, "the foreign officer's move", NOT_JUDGED)
    out.expect(r.status_code in _DENIED, f"foreign officer move answered {r.status_code}", ctx.excerpt(r))
    r = ctx.send("portal", "GET", "/dossiers", headers=foreign, params={"limit": 200})
    if r.status_code != 200:
        raise SetupFailed(f"the foreign officer's worklist answered {r.status_code}: the dossier's absence from a list "
                          "that could not be read proves nothing", r)
    out.expect(victim.code not in r.text, "the dossier appears in the foreign officer's worklist", ctx.excerpt(r))
    status = ctx.dossier_status(victim)
    out.expect(status == 1, f"the dossier moved to status {status} after the foreign officer's attempt", None)
    own = ctx.bearer(ctx.officer_token(victim.owner.commune_code, 3))
    r = ctx.send("portal", "POST", f"/dossiers/{victim.code}/transitions", headers=own, json={"to": 2})
    if r.status_code != 200:
        raise SetupFailed(f"control: the dossier's own officer could not accept it ({r.status_code})", r)
    if out.passed:
        out.note(f"officer of {other} refused (403/404); own officer of {victim.owner.commune_code} accepted it")


@security_check(CheckSpec(
    id="authz.mass-assignment",
    title="Mass assignment of status, owner or role on submission has no effect",
    area=Area.AUTHZ, owasp=API3,
    sends="three submissions, each a valid body plus one of status: 10, owner: <another citizen>, role: officer",
    passes_when="each is refused 4xx, or accepted with status 1 and readable by its submitter only; 401/429 (not a "
                "refusal of the property), or the other citizen's read answered 401/429/5xx, is ERROR",
    weaknesses=(PlantedWeakness("portal", "mass_assignment"),),
))
def mass_assignment(ctx: CheckContext, out: Outcome) -> None:
    """Server-controlled properties cannot be set by the client."""
    citizen, token = ctx.signed_in_citizen()
    other, other_bearer = ctx.signed_in_citizen()
    other_token = ctx.bearer(other_bearer)
    for key, value in (("status", 10), ("owner", other.personal_id), ("role", "officer")):
        r = ctx.submit(token, ctx.dossier_body(citizen, **{key: value}))
        # Throttled, or the submitter's fresh token refused: a 4xx, but not a refusal of the property.
        require_judged(r, f"the submission with {key}", THROTTLED | {401})
        if 400 <= r.status_code < 500:
            out.note(f"{key}: refused {r.status_code}")
            continue
        if r.status_code != 201:
            out.fail(f"{key}: submission answered {r.status_code}", ctx.excerpt(r))
            continue
        code = r.json().get("code", "")
        status = r.json().get("status")
        out.expect(status == 1, f"{key}={value!r} was honoured: the new dossier has status {status}", ctx.excerpt(r))
        seen = ctx.send("portal", "GET", f"/dossiers/{code}", headers=other_token)
        require_judged(seen, f"{key}: another citizen reading the dossier", NOT_JUDGED)
        out.expect(seen.status_code in _DENIED, f"{key}={value!r}: another citizen can read the dossier "
                   f"({seen.status_code})", ctx.excerpt(seen))
        if status == 1 and seen.status_code in _DENIED:
            out.note(f"{key}: ignored (status 1, owner unchanged)")


@security_check(CheckSpec(
    id="authz.axis-agency-isolation",
    title="Agency Z cannot read, receipt or acknowledge a document sent from X to Y",
    area=Area.AUTHZ, owasp=API1,
    sends="X sends a signed document to Y; Z: GET /documents/{id}, POST …/receipts, POST /inbox/{Y's delivery}/ack, "
          "GET /inbox; then Y reads and acknowledges it (control)",
    passes_when="Z gets 403/404 everywhere and never sees the document in its inbox, which answers 200 (an "
                "unreadable inbox hides nothing: ERROR); Y can read and acknowledge it; Z's read, receipt or ack, or "
                "Y's ack, answered 401/429/5xx (not judged) is ERROR",
    weaknesses=(PlantedWeakness("axis", "axis_bola"),),
))
def axis_agency_isolation(ctx: CheckContext, out: Outcome) -> None:
    """Documents are visible to their sender and recipients only."""
    kit = DocumentKit.require(ctx)
    communes = load_roster().communes_of(ctx.citizen().province_code)
    x, y, z = (c.agency_code for c in communes[:3])
    document_id = kit.send_ok(x, [y], "dientap security drill: agency isolation")
    intruder = ctx.bearer(ctx.axis_token(z))
    r = ctx.send("axis", "GET", f"/documents/{document_id}", headers=intruder)
    require_judged(r, "Z reading the document", NOT_JUDGED)
    out.expect(r.status_code in _DENIED, f"Z reading the document answered {r.status_code}", ctx.excerpt(r))
    r = ctx.send("axis", "POST", f"/documents/{document_id}/receipts", headers=intruder, json={"status_code": "01"})
    require_judged(r, "Z sending a receipt", NOT_JUDGED)
    out.expect(r.status_code in _DENIED, f"Z sending a receipt answered {r.status_code}", ctx.excerpt(r))
    delivery = kit.find_delivery(y, document_id)
    if delivery is None:
        raise SetupFailed("control: the recipient's inbox does not hold the document")
    r = ctx.send("axis", "POST", f"/inbox/{delivery}/ack", headers=intruder)
    require_judged(r, "Z acknowledging Y's delivery", NOT_JUDGED)
    out.expect(r.status_code in _DENIED, f"Z acknowledging Y's delivery answered {r.status_code}", ctx.excerpt(r))
    r = ctx.send("axis", "GET", "/inbox", headers=intruder, params={"limit": 100})
    if r.status_code != 200:
        raise SetupFailed(f"Z's inbox answered {r.status_code}: the document's absence from an inbox that could not "
                          "be read proves nothing", r)
    out.expect(document_id not in r.text, "the document appears in Z's inbox", ctx.excerpt(r))
    owner = ctx.bearer(ctx.axis_token(y))
    if ctx.send("axis", "GET", f"/documents/{document_id}", headers=owner).status_code != 200:
        raise SetupFailed("control: the recipient cannot read its own document")
    ack = ctx.send("axis", "POST", f"/inbox/{delivery}/ack", headers=owner)
    require_judged(ack, "Y's own acknowledgement", NOT_JUDGED)
    out.expect(ack.status_code == 200 and not ack.json().get("already_acked", False),
               f"Y's own acknowledgement answered {ack.status_code} {ack.text[:80]} (was it acknowledged by Z?)",
               ctx.excerpt(ack))
    if out.passed:
        out.note("Z got 403/404 on read, receipt and ack; Y read and acknowledged its document")
