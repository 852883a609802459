"""Authentication and session checks (OWASP API2:2023 Broken Authentication)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from drills.security.context import THROTTLED, UNAVAILABLE, CheckContext, SetupFailed, require_judged
from drills.security.jwt_forge import make_token, mock_signing_key, split_token, tampered_tokens
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, IncidentPhase, Outcome, PlantedWeakness
from kernel.credentials import officer_account
from kernel.synthetic import citizen_at

__all__: list[str] = []

API2 = "API2:2023 Broken Authentication"
# A lock or throttle; a 5xx is no refusal but a failing service (the check cannot judge then).
_LOCKED = (423, 429)
_NO_SUCH_DOSSIER = "/dossiers/00000-000000-000000"
_NO_SUCH_DOCUMENT = "/documents/" + "0" * 32


def _rotating_ip(i: int) -> dict[str, str]:
    # TEST-NET-3 addresses (RFC 5737): never a real client.
    return {"X-Forwarded-For": f"203.0.113.{i % 250 + 1}", "X-Real-IP": f"203.0.113.{i % 250 + 1}"}


@security_check(CheckSpec(
    id="auth.no-user-enumeration",
    title="Sign-in does not reveal which accounts exist",
    area=Area.AUTH, owasp=API2,
    sends="a wrong password for an existing and for a non-existing account: portal officer, portal citizen (an ID "
          "number in the register and one that is not), axis agency; and the public status look-up of an existing "
          "and a non-existing dossier code with someone else's ID number",
    passes_when="each pair gets the same 4xx status and a byte-identical body; a pair throttled (429) or both "
                "failing (5xx) is ERROR",
    weaknesses=(PlantedWeakness("portal", "user_enumeration"),),
))
def no_user_enumeration(ctx: CheckContext, out: Outcome) -> None:
    """Known vs unknown account with a wrong password: indistinguishable answers.

    The population database's client systems (``portal``, ``police``, ``province-NN``) are
    a short public list, so their sign-in is not probed: its documented legacy error codes
    (100 vs 108) tell an unknown client from a wrong secret by design.
    """
    commune = ctx.citizen().commune_code
    pairs: list[tuple[str, Callable[[str], httpx.Response], str, str]] = [
        ("portal officer", lambda acc: ctx.officer_login(acc, "wrong-password"),
         officer_account(commune, 5), officer_account(commune, 99)),
        ("portal citizen", lambda pid: ctx.citizen_login(pid, "wrong-password"),
         ctx.citizen().personal_id, citizen_at(ctx.target.seed, ctx.target.population_size + 23).personal_id),
        ("axis agency", lambda code: ctx.send("axis", "POST", "/auth/token",
                                             json={"agency_code": code, "client_secret": "wrong-secret"}),
         "000.00.00.G22", "000.00.00.Z99"),
    ]
    victim = ctx.victim_dossier()
    stranger = ctx.citizen().personal_id
    prefix = victim.code.rsplit("-", 1)[0]
    pairs.append(("public status look-up", lambda code: ctx.send("portal", "GET", f"/public/dossiers/{code}",
                                                                 params={"personal_id": stranger}),
                  victim.code, f"{prefix}-999999"))
    for label, login, known, unknown in pairs:
        a, b = login(known), login(unknown)
        if 429 in (a.status_code, b.status_code):
            # Throttled answers are alike whatever the account: the pair would prove nothing.
            raise SetupFailed(f"{label}: sign-in is throttled for this address (429), so existing and unknown "
                              "accounts cannot be compared; run this check before credential stuffing", b)
        if a.status_code in UNAVAILABLE and b.status_code in UNAVAILABLE:
            # Both failing, neither account was judged (one 5xx alone stays a finding: it tells them apart).
            require_judged(b, f"{label}: the unknown account", UNAVAILABLE)
        same = a.status_code == b.status_code and a.content == b.content and 400 <= a.status_code < 500
        if out.expect(same, f"{label}: existing account answered {a.status_code}, unknown {b.status_code}"
                      f"{'' if a.content == b.content else ' with different bodies'}", ctx.excerpt(a, "existing account")):
            out.note(f"{label}: both {a.status_code}, same body")
        elif len(out.evidence) < 6:
            out.evidence.append(ctx.excerpt(b, "unknown account"))


@security_check(CheckSpec(
    id="auth.lockout",
    title="Per-account lockout against password guessing from rotating client addresses",
    area=Area.AUTH, owasp=API2,
    sends="up to 12 wrong passwords for one citizen account, each with a different X-Forwarded-For/X-Real-IP, "
          "then the right password from yet another address",
    passes_when="sign-in starts answering 423 (or 429 after a wrong password was judged 401) within the attempts, "
                "and the right password is refused 423/429 too while the lock lasts; 429 from the first guess with no "
                "423 after (an address throttle) or a 5xx is ERROR, not a lock",
    weaknesses=(PlantedWeakness("portal", "no_lockout"), PlantedWeakness("portal", "trust_forwarded_for")),
    simulates_incident=True,
))
def lockout(ctx: CheckContext, out: Outcome) -> None:
    """Guess one account's password from many addresses; the account must lock."""
    account = ctx.citizen().personal_id
    started = time.monotonic()
    refused_at: int | None = None
    judged = 0  # wrong passwords the target answered 401: only after one can a refusal be a lock
    last: httpx.Response | None = None
    for i in range(ctx.limits.lockout_attempts):
        last = ctx.citizen_login(account, f"wrong-password-{i}", headers=_rotating_ip(i))
        require_judged(last, f"wrong password #{i + 1}", UNAVAILABLE)
        if last.status_code == 423 or (last.status_code == 429 and judged):
            refused_at = i + 1
            out.detected_after_s = round(time.monotonic() - started, 3)
            break
        if last.status_code == 429:
            # Refused before a single guess was judged: an address throttle (say, a stuffing
            # defence still active from an earlier check), not this account's lock. Keep
            # guessing: a lock still shows as 423.
            continue
        if last.status_code != 401:
            out.fail(f"wrong password #{i + 1} answered {last.status_code}, expected 401 or a lock", ctx.excerpt(last))
            return
        judged += 1
    if refused_at is None:
        assert last is not None  # lockout_attempts >= 1  # nosec B101
        if not judged:
            raise SetupFailed(f"all {ctx.limits.lockout_attempts} sign-ins were throttled (429) from the first, "
                              "before a wrong password was judged: the account lock cannot be told from an "
                              "address throttle", last)
        out.phase = IncidentPhase.TRIAGE
        out.fail(f"{ctx.limits.lockout_attempts} wrong passwords from rotating addresses were never refused "
                 f"(no lockout)", ctx.excerpt(last, "the last guess"))
        return
    out.phase = IncidentPhase.CONTAIN
    right = ctx.citizen_login(account, headers=_rotating_ip(251))
    require_judged(right, "the right password during the lock", UNAVAILABLE)
    if out.expect(right.status_code in _LOCKED, f"the right password from a new address answered {right.status_code} "
                  "while the account should be locked", ctx.excerpt(right)):
        out.note(f"locked after {refused_at} guesses ({last.status_code if last else '?'}, "
                 f"Retry-After {last.headers.get('retry-after') if last else '?'} s); right password refused "
                 f"({right.status_code})", ctx.excerpt(right, "right password during the lock"))


@security_check(CheckSpec(
    id="auth.credential-stuffing",
    title="Credential stuffing (many accounts, few tries each) detected and throttled",
    area=Area.AUTH, owasp=API2,
    sends="2 wrong passwords for each of 60 citizen accounts in a burst, from rotating X-Forwarded-For addresses",
    passes_when="sign-in starts answering 429/423 (throttled) before the burst ends, but not at its first sign-in "
                "(already throttled: ERROR); detection time recorded; a 5xx is ERROR",
    simulates_incident=True,
    weaknesses=(PlantedWeakness("portal", "no_lockout"),),
))
def credential_stuffing(ctx: CheckContext, out: Outcome) -> None:
    """Spray wrong passwords across many accounts; the target must start refusing."""
    started = time.monotonic()
    sent = 0
    last: httpx.Response | None = None
    for a in range(ctx.limits.stuffing_accounts):
        account = ctx.citizen().personal_id
        for t in range(ctx.limits.stuffing_tries_per_account):
            last = ctx.citizen_login(account, f"Summer2025!{t}", headers=_rotating_ip(a * 7 + t))
            sent += 1
            require_judged(last, f"failed sign-in #{sent}", UNAVAILABLE)
            if last.status_code in _LOCKED and sent == 1:
                # Refused before the burst began: throttled already (an earlier check, a
                # previous run), so nothing here was detected.
                raise SetupFailed(f"the first sign-in of the burst was already refused ({last.status_code}): "
                                  "this address is throttled, so detection of this burst cannot be judged", last)
            if last.status_code in _LOCKED:
                out.detected_after_s = round(time.monotonic() - started, 3)
                out.phase = IncidentPhase.CONTAIN
                out.note(f"throttled after {sent} sign-ins over {a + 1} accounts ({last.status_code})",
                         ctx.excerpt(last, "first refusal"))
                return
    out.phase = IncidentPhase.TRIAGE
    out.fail(f"{sent} failed sign-ins over {ctx.limits.stuffing_accounts} accounts in "
             f"{time.monotonic() - started:.2f} s were never throttled",
             ctx.excerpt(last, "the last attempt") if last is not None else None)


def _probes(ctx: CheckContext) -> list[tuple[str, str, Callable[[str], httpx.Response]]]:
    """(service, valid token, request with a given token) for each service's protected read."""
    _, portal = ctx.signed_in_citizen()
    looked_up = ctx.citizen().personal_id
    population = ctx.population_token("province-01")
    axis = ctx.axis_token("000.00.00.G22")
    return [
        ("portal", portal, lambda t: ctx.send("portal", "GET", _NO_SUCH_DOSSIER, headers=ctx.bearer(t))),
        ("population", population, lambda t: ctx.send("population", "GET", f"/citizens/{looked_up}",
                                                      params={"purpose": "security drill: token check"},
                                                      headers=ctx.bearer(t))),
        ("axis", axis, lambda t: ctx.send("axis", "GET", _NO_SUCH_DOCUMENT, headers=ctx.bearer(t))),
    ]


def _public_key_pem(ctx: CheckContext) -> bytes:
    ca = ctx.ca
    if ca is not None:
        return ca.certificate_pem
    from kernel.pki import make_untrusted_ca

    return make_untrusted_ca().certificate_pem


@security_check(CheckSpec(
    id="auth.jwt-tampering",
    title="Tampered bearer tokens are refused",
    area=Area.AUTH, owasp=API2,
    sends="each service's own valid token altered: modified payload, alg none (4 casings, 2 forms), stripped "
          "signature, HS256 re-signed with a public key (the CA certificate), injected jwk (oct and EC) and jku "
          "headers, kid path traversal",
    passes_when="the valid token is accepted and every altered one answers 401; the valid token refused (401), "
                "throttled (429) or failing (5xx), or an altered one throttled (429), is ERROR",
    weaknesses=(PlantedWeakness("population", "jwt_alg_none"),),
))
def jwt_tampering(ctx: CheckContext, out: Outcome) -> None:
    """Every tampering of a valid token is 401 at every service."""
    pem = _public_key_pem(ctx)
    for service, token, call in _probes(ctx):
        baseline = call(token)
        if baseline.status_code == 401:
            raise SetupFailed(f"{service} refused its own valid token", baseline)
        # Throttled or failing, the service judged no token: every forged one would "fail" alike.
        require_judged(baseline, f"{service}'s own valid token", THROTTLED | UNAVAILABLE)
        bad = 0
        for label, forged in tampered_tokens(token, pem, "000000000000"):
            r = call(forged)
            # A 5xx stays a finding (the forged token broke the verifier); a 429 judged nothing.
            require_judged(r, f"{service}: {label}", THROTTLED)
            if r.status_code != 401:
                bad += 1
                out.fail(f"{service}: {label} answered {r.status_code}, expected 401", ctx.excerpt(r, label))
        if not bad:
            out.note(f"{service}: 12 tampered tokens all 401")


@security_check(CheckSpec(
    id="auth.token-claims",
    title="Expired, not-yet-valid and wrong-audience tokens are refused",
    area=Area.AUTH, owasp=API2,
    sends="tokens with exp in the past, nbf in the future and another audience (re-signed with the service's key "
          "when the target is the embedded mocks), and each service's token presented to the other services",
    passes_when="each service accepts its own valid token (refused 401, throttled 429 or failing 5xx: ERROR) and "
                "every such token answers 401 (and a re-minted token with valid claims is accepted, proving the probe "
                "itself is sound); any of them throttled (429), or the re-minted control failing (5xx), is ERROR",
    weaknesses=(PlantedWeakness("population", "token_claims_unchecked"),),
))
def token_claims(ctx: CheckContext, out: Outcome) -> None:
    """Claims are enforced: exp, nbf, aud; a token of one service is not valid at another."""
    probes = _probes(ctx)
    issuers = {"portal": "dientap-portal", "population": "dientap-population", "axis": "dientap-axis"}
    now = int(time.time())
    for service, token, call in probes:
        # A service that refuses every token would refuse the others' too: without this
        # control, "other service's token → 401" passes a service that accepts nothing.
        baseline = call(token)
        if baseline.status_code == 401:
            raise SetupFailed(f"{service} refused its own valid token", baseline)
        # Throttled or failing, the service judged no token: the others' would "fail" alike.
        require_judged(baseline, f"{service}'s own valid token", THROTTLED | UNAVAILABLE)
        for other, other_token, _ in probes:
            if other == service:
                continue
            r = call(other_token)
            # A 5xx stays a finding (the foreign token broke the verifier); a 429 judged nothing.
            require_judged(r, f"{service}: a {other} token", THROTTLED)
            out.expect(r.status_code == 401, f"{service}: a {other} token answered {r.status_code}, expected 401",
                       ctx.excerpt(r, f"{other} token at {service}"))
        if not ctx.target.knows_signing_keys:
            continue
        header, claims, _ = split_token(token)
        key = mock_signing_key(ctx.target.dry_run_secret, issuers[service])
        control = call(make_token(header, {**claims, "jti": claims["jti"] + "c"}, key))
        require_judged(control, f"{service}: the re-minted control token", THROTTLED | UNAVAILABLE)
        if control.status_code == 401:
            out.note(f"{service}: re-minted control token refused; claim cases not tested (signing key unknown)")
            continue
        cases: dict[str, dict[str, object]] = {
            "expired (exp 60 s ago)": {"exp": now - 60, "iat": now - 960, "nbf": now - 960},
            "not yet valid (nbf in 1 h)": {"nbf": now + 3600, "iat": now + 3600, "exp": now + 7200},
            "wrong audience": {"aud": "someone-else"},
        }
        for label, change in cases.items():
            r = call(make_token(header, {**claims, **change}, key))
            require_judged(r, f"{service}: {label} token", THROTTLED)
            out.expect(r.status_code == 401, f"{service}: {label} token answered {r.status_code}, expected 401",
                       ctx.excerpt(r, label))
    if out.passed:
        out.note("cross-service tokens 401" + ("; expired/nbf/aud tokens 401" if ctx.target.knows_signing_keys else
                                              " (claim cases need the embedded mocks' keys)"))


@security_check(CheckSpec(
    id="auth.logout-revokes",
    title="A token used after logout is refused",
    area=Area.AUTH, owasp=API2,
    sends="sign in as a citizen, POST /auth/logout, then read a dossier with the same token",
    passes_when="logout answers 2xx and the token then answers 401; the read before logout refused (401), or either "
                "read throttled (429) or failing (5xx), is ERROR",
    weaknesses=(PlantedWeakness("portal", "logout_not_revoked"),),
))
def logout_revokes(ctx: CheckContext, out: Outcome) -> None:
    """Logout must revoke the token server-side."""
    _, token = ctx.signed_in_citizen()
    before = ctx.send("portal", "GET", _NO_SUCH_DOSSIER, headers=ctx.bearer(token))
    if before.status_code == 401:
        raise SetupFailed("a fresh citizen token was refused", before)
    # Throttled or failing, the control says nothing of the token: a later 401 would prove no revocation.
    require_judged(before, "the read before logout", THROTTLED | UNAVAILABLE)
    bye = ctx.send("portal", "POST", "/auth/logout", headers=ctx.bearer(token))
    if not 200 <= bye.status_code < 300:
        raise SetupFailed(f"logout answered {bye.status_code}", bye)
    after = ctx.send("portal", "GET", _NO_SUCH_DOSSIER, headers=ctx.bearer(token))
    # A throttle or a failing service never looked at the token: neither revoked nor still valid.
    require_judged(after, "the read after logout", THROTTLED | UNAVAILABLE)
    if out.expect(after.status_code == 401, f"the token still works after logout ({after.status_code})",
                  ctx.excerpt(after, "after logout")):
        out.note("token refused after logout (401)", ctx.excerpt(after, "after logout"))
