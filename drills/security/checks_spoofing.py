"""Spoofing checks: client-supplied addresses and identity headers change nothing (API2/API5:2023)."""

from __future__ import annotations

from drills.security.checks_exposure import ROLE_FIELDS
from drills.security.context import THROTTLED, UNAVAILABLE, CheckContext, SetupFailed, require_judged
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, IncidentPhase, Outcome, PlantedWeakness

__all__: list[str] = []

IDENTITY_HEADERS = {
    "X-Forwarded-For": "127.0.0.1",
    "X-Real-IP": "127.0.0.1",
    "True-Client-IP": "127.0.0.1",
    "Forwarded": "for=127.0.0.1;proto=https",
    "X-Forwarded-User": "admin",
    "X-Remote-User": "admin",
    "X-User": "admin",
    "X-Role": "police",
    "X-User-Role": "officer",
    "X-Client-Id": "police",
    "X-Agency-Code": "000.00.00.G22",
    "X-Personal-Id": "001099000001",
    "X-Original-URL": "/admin/ledger",
    "X-Rewrite-URL": "/admin/ledger",
}


@security_check(CheckSpec(
    id="spoof.forwarded-for-lockout",
    title="A client-supplied X-Forwarded-For does not lift an account lock",
    area=Area.SPOOFING, owasp="API2:2023 Broken Authentication",
    sends="wrong passwords for one citizen from a fixed X-Forwarded-For until the account locks, then the right "
          "password with X-Forwarded-For/X-Real-IP/Forwarded naming other addresses (127.0.0.1, 10.0.0.1)",
    passes_when="the account locks (423, or 429 after a wrong password was judged 401) and every later sign-in, "
                "whatever the claimed address, is refused; sign-ins throttled from the first guess or a 5xx: ERROR",
    weaknesses=(PlantedWeakness("portal", "trust_forwarded_for"),),
    simulates_incident=True,
))
def forwarded_for_lockout(ctx: CheckContext, out: Outcome) -> None:
    """Locks are per account, not per claimed address."""
    account = ctx.citizen().personal_id
    fixed = {"X-Forwarded-For": "198.51.100.7"}
    locked = None
    throttled = None
    judged = 0  # guesses the target answered other than 429 (401, or worse: 200)
    r = None
    for i in range(ctx.limits.lockout_attempts):
        r = ctx.citizen_login(account, f"wrong-{i}", headers=fixed)
        require_judged(r, f"wrong password #{i + 1}", UNAVAILABLE)
        if r.status_code == 423:
            locked = r
            break
        if r.status_code == 429 and throttled is None and judged:
            # A 429 after the target judged this account's guesses may be its lock. A 429
            # before any was judged is an address throttle (e.g. a credential-stuffing
            # defence still active from an earlier check): keep guessing until the lock.
            throttled = r
        judged += r.status_code != 429
    locked = locked or throttled
    if locked is None and not judged:
        raise SetupFailed(f"all {ctx.limits.lockout_attempts} sign-ins were throttled (429) from the first, before a "
                          "wrong password was judged: an address throttle hides whether the account locks", r)
    if locked is None:
        out.fail(f"the account never locked after {ctx.limits.lockout_attempts} wrong passwords, so any claimed "
                 "address may keep guessing (see auth.lockout)", ctx.excerpt(r, "the last guess") if r is not None else None)
        return
    out.phase = IncidentPhase.CONTAIN
    for headers in ({"X-Forwarded-For": "127.0.0.1"}, {"X-Forwarded-For": "10.0.0.1", "X-Real-IP": "10.0.0.1"},
                    {"Forwarded": "for=192.0.2.60"}, {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}):
        r = ctx.citizen_login(account, headers=headers)
        require_judged(r, f"the right password with {headers}", UNAVAILABLE)
        out.expect(r.status_code in (423, 429), f"right password with {headers} answered {r.status_code} during "
                   "the lock", ctx.excerpt(r, f"spoofed {', '.join(headers)}"))
    if out.passed:
        out.note("lock held against 4 spoofed client addresses", ctx.excerpt(locked, "lock"))


@security_check(CheckSpec(
    id="spoof.identity-headers",
    title="Identity and routing headers supplied by the client change nothing",
    area=Area.SPOOFING, owasp="API5:2023 Broken Function Level Authorization",
    sends=f"{len(IDENTITY_HEADERS)} headers (X-Forwarded-User: admin, X-Role: police, X-Agency-Code, X-Original-URL, "
          "X-Forwarded-For: 127.0.0.1, …) on requests without a token, with a citizen token on the officer worklist, "
          "and with a province token on a population look-up",
    passes_when="no token → 401 (admin routes 401/404); citizen on the worklist → 403; the province system still "
                "sees only its role's fields; any request throttled (429), or the citizen's worklist request or the "
                "province look-up failing (5xx) or its token refused (401), is ERROR",
    weaknesses=(PlantedWeakness("population", "trust_role_header"),),
))
def identity_headers(ctx: CheckContext, out: Outcome) -> None:
    """Identity comes from the token only."""
    h = IDENTITY_HEADERS
    looked_up = ctx.citizen().personal_id
    for service, path, kw in (
        ("portal", "/dossiers", {}),
        ("population", f"/citizens/{looked_up}", {"params": {"purpose": "spoof"}}),
        ("axis", "/inbox", {}),
    ):
        r = ctx.send(service, "GET", path, headers=h, **kw)
        require_judged(r, f"{service} {path.split('/')[1]} without a token", THROTTLED)
        out.expect(r.status_code == 401, f"{service} {path.split('/')[1]} without a token answered {r.status_code}",
                   ctx.excerpt(r))
        r = ctx.send(service, "GET", "/admin/ledger", headers=h)
        require_judged(r, f"{service} /admin/ledger without a token", THROTTLED)
        out.expect(r.status_code in (401, 404), f"{service} /admin/ledger without a token answered {r.status_code}",
                   ctx.excerpt(r))
    citizen = ctx.bearer(ctx.signed_in_citizen()[1])
    r = ctx.send("portal", "GET", "/dossiers", headers={**h, **citizen})
    require_judged(r, "the citizen with identity headers on the worklist", THROTTLED | UNAVAILABLE | {401})
    out.expect(r.status_code == 403, f"citizen + identity headers on the worklist answered {r.status_code}",
               ctx.excerpt(r))
    province = ctx.bearer(ctx.population_token("province-01"))
    r = ctx.send("population", "GET", f"/citizens/{looked_up}", params={"purpose": "spoof"},
                 headers={**h, **province})
    require_judged(r, "the province look-up with identity headers", THROTTLED | UNAVAILABLE | {401})
    if r.status_code == 200:
        extra = sorted(set(r.json()) - ROLE_FIELDS["province-01"])
        out.expect(not extra, f"X-Role: police widened province-01's view: {', '.join(extra)}", ctx.excerpt(r))
    else:
        out.fail(f"province look-up with identity headers answered {r.status_code}", ctx.excerpt(r))
    if out.passed:
        out.note(f"{len(h)} spoofed headers ignored: 401 without token, 403 for the citizen, masked fields kept")
