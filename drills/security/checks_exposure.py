"""Data exposure checks (OWASP API3:2023 property level, Decree 13/2023 personal data rules)."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

import httpx

from drills.security.context import THROTTLED, CheckContext, SetupFailed, require_judged
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness
from kernel.synthetic import citizen_at

__all__: list[str] = []

API3 = "API3:2023 Broken Object Property Level Authorization"
API8 = "API8:2023 Security Misconfiguration"
# The national rule the population mock implements (mocks/population/roles.py): what each
# client system's role may see of a citizen.
ROLE_FIELDS = {
    "province-01": frozenset({"personal_id", "full_name", "birth_year", "commune_code"}),
    "portal": frozenset({"personal_id", "full_name", "date_of_birth", "commune_code"}),
}
# Markers of a stack trace, SQL or a server file path in an error body.
LEAK_MARKERS = (
    "Traceback (most recent call last)", 'File "/', "site-packages", ".py\", line", "sqlite3.", "OperationalError",
    "SELECT ", "INSERT INTO", "/usr/lib/", "/home/", "/root/", "pydantic_core", "starlette/", "uvicorn/",
)


def _lookup(ctx: CheckContext, client: str, personal_id: str, purpose: str) -> httpx.Response:
    return ctx.send("population", "GET", f"/citizens/{personal_id}", params={"purpose": purpose},
                    headers=ctx.bearer(ctx.population_token(client)))


@security_check(CheckSpec(
    id="exposure.population-fields",
    title="Population records carry only the fields the caller's role may see",
    area=Area.EXPOSURE, owasp=API3,
    sends="GET /citizens/{id} as a commune officer's province system (province-01) and as the portal",
    passes_when="province-01 sees at most personal_id, full_name, birth_year, commune_code; the portal at most "
                "personal_id, full_name, date_of_birth, commune_code (no sex, address, exact birth date for officers)",
    weaknesses=(PlantedWeakness("population", "unmasked_population"),),
))
def population_fields(ctx: CheckContext, out: Outcome) -> None:
    """Field-level masking by role."""
    citizen = ctx.citizen()
    for client, allowed in ROLE_FIELDS.items():
        r = _lookup(ctx, client, citizen.personal_id, "security drill: field masking")
        if r.status_code != 200:
            raise SetupFailed(f"{client} could not look up a citizen ({r.status_code})", r)
        extra = sorted(set(r.json()) - allowed)
        if out.expect(not extra, f"{client} received fields beyond its role: {', '.join(extra)}", ctx.excerpt(r)):
            out.note(f"{client}: {', '.join(sorted(r.json()))}")


@security_check(CheckSpec(
    id="exposure.verify-mismatch",
    title="A failed identity verification leaks nothing",
    area=Area.EXPOSURE, owasp=API3,
    sends="POST /citizens/verify with the right data (control), a wrong name, a wrong date of birth, and an ID "
          "number that is not in the register",
    passes_when="the control matches; the three others answer the same status and a byte-identical body "
                "{\"match\": false}; a mismatch throttled (429) is ERROR",
    weaknesses=(PlantedWeakness("population", "verify_leak"),),
))
def verify_mismatch(ctx: CheckContext, out: Outcome) -> None:
    """Verify answers match / no match, nothing more."""
    headers = ctx.bearer(ctx.population_token("province-01"))
    c = ctx.citizen()
    stranger = citizen_at(ctx.target.seed, ctx.target.population_size + 17)

    def verify(personal_id: str, name: str, dob: str) -> httpx.Response:
        return ctx.send("population", "POST", "/citizens/verify", headers=headers,
                        json={"personal_id": personal_id, "full_name": name, "date_of_birth": dob,
                              "purpose": "security drill: verify leak"})

    dob = c.date_of_birth.isoformat()
    control = verify(c.personal_id, c.full_name, dob)
    if control.status_code != 200 or control.json().get("match") is not True:
        raise SetupFailed(f"control: verifying correct data answered {control.status_code} {control.text[:80]}", control)
    wrong_dob = c.date_of_birth - dt.timedelta(days=1)
    answers = {
        "wrong name": verify(c.personal_id, c.full_name + " Thị", dob),
        "wrong date of birth": verify(c.personal_id, c.full_name, wrong_dob.isoformat()),
        "unknown ID number": verify(stranger.personal_id, stranger.full_name, stranger.date_of_birth.isoformat()),
    }
    for label, r in answers.items():
        # Throttled, the mismatch was never compared; a 5xx stays a finding (it tells the cases apart).
        require_judged(r, f"{label}: POST /citizens/verify", THROTTLED)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        out.expect(r.status_code == 200 and body == {"match": False},
                   f"{label}: answered {r.status_code} {r.text[:120]}", ctx.excerpt(r, label))
    bodies = {r.content for r in answers.values()}
    out.expect(len(bodies) == 1, "the three mismatches are told apart by their bodies", None)
    if out.passed:
        out.note('wrong name, wrong date and unknown ID all answer 200 {"match": false}',
                 ctx.excerpt(answers["unknown ID number"], "unknown ID"))


def _require_served(r: httpx.Response, what: str) -> None:
    """ERROR unless the access was served: throttled, failed or refused, it reached no
    personal data, and its absence from the audit log would be no finding."""
    if r.status_code != 200:
        raise SetupFailed(f"{what} answered {r.status_code}, not served: it touched no personal data, so there is "
                          "nothing to find in the audit log", r)


@security_check(CheckSpec(
    id="exposure.audit-trail",
    title="Every population look-up is in the audit log with caller and purpose",
    area=Area.EXPOSURE, owasp="Decree 13/2023 (personal data processing log)",
    sends="3 look-ups and 1 verification as province-01 with unique purposes, then GET /admin/audit (admin token)",
    passes_when="each of the 4 accesses is served (200; a refused one accessed nothing to audit: ERROR) and within "
                "5 s is in the audit log with caller province-01, its subject and its exact purpose",
    weaknesses=(PlantedWeakness("population", "audit_skips_verify"),),
))
def audit_trail(ctx: CheckContext, out: Outcome) -> None:
    """Access to personal data is accountable."""
    if not ctx.target.admin_token:
        raise SetupFailed("this check reads the audit log: the target needs an admin token")
    nonce = secrets.token_hex(4)
    expected: dict[str, str] = {}
    for i in range(3):
        c = ctx.citizen()
        purpose = f"security drill {nonce} look-up {i}"
        _require_served(_lookup(ctx, "province-01", c.personal_id, purpose), f"look-up {i + 1}")
        expected[purpose] = c.personal_id
    c = ctx.citizen()
    purpose = f"security drill {nonce} verify"
    verified = ctx.send("population", "POST", "/citizens/verify",
                        headers=ctx.bearer(ctx.population_token("province-01")),
                        json={"personal_id": c.personal_id, "full_name": c.full_name,
                              "date_of_birth": c.date_of_birth.isoformat(), "purpose": purpose})
    _require_served(verified, "the verification")
    expected[purpose] = c.personal_id
    missing = dict(expected)
    r: httpx.Response | None = None
    stop = time.monotonic() + 5.0
    while missing and time.monotonic() < stop:
        r = ctx.send("population", "GET", "/admin/audit", params={"caller": "province-01", "limit": 1000},
                     headers=ctx.bearer(ctx.target.admin_token))
        if r.status_code != 200:
            raise SetupFailed(f"the audit log answered {r.status_code}", r)
        for entry in r.json().get("entries", []):
            p = entry.get("purpose")
            if p in missing and entry.get("subject") == missing[p] and entry.get("caller") == "province-01":
                del missing[p]
        if missing:
            time.sleep(0.2)
    if out.expect(not missing, f"{len(missing)} of 4 accesses are not in the audit log with caller and purpose: "
                  f"{', '.join(sorted(missing))}", ctx.excerpt(r) if r is not None else None):
        out.note("4 of 4 accesses audited with caller province-01, subject and purpose")


@security_check(CheckSpec(
    id="exposure.error-bodies",
    title="Error bodies carry no stack traces, SQL or file paths",
    area=Area.EXPOSURE, owasp=API8,
    sends="12 malformed requests across the three services (bad JSON, wrong types, malformed ID numbers, unknown "
          "routes, broken XML, missing tokens)",
    passes_when="every answer is 4xx and no body contains a trace, SQL, or server path marker; a 429 (the request "
                "never reached the code judged), or a service whose every answer is 401/404 (no probe reached a "
                "handler that could leak: a gateway refusing everything), is ERROR",
    weaknesses=(PlantedWeakness("portal", "stack_traces"),),
))
def error_bodies(ctx: CheckContext, out: Outcome) -> None:
    """Errors are for the caller, not for an attacker's reconnaissance."""
    json_h = {"Content-Type": "application/json"}
    citizen = ctx.bearer(ctx.signed_in_citizen()[1])
    province = ctx.bearer(ctx.population_token("province-01"))
    agency = ctx.bearer(ctx.axis_token("000.00.00.G22"))
    requests: list[tuple[str, str, str, dict[str, Any]]] = [
        ("portal", "POST", "/auth/token", {"content": b"{\"kind\": ", "headers": json_h}),
        ("portal", "POST", "/auth/token", {"json": {"kind": "citizen", "personal_id": "12ab", "password": 1}}),
        ("portal", "POST", "/dossiers", {"content": b"[1,2", "headers": {**json_h, **citizen, "Idempotency-Key": "e1"}}),
        ("portal", "GET", "/dossiers/%00%27%22", {"headers": citizen}),
        ("portal", "GET", "/no/such/route", {}),
        ("population", "GET", "/citizens/12345", {"params": {"purpose": "x"}, "headers": province}),
        ("population", "POST", "/citizens/verify", {"content": b'{"personal_id": [',
                                                    "headers": {**json_h, **province}}),
        ("population", "GET", "/citizens/001099000001", {}),
        ("axis", "POST", "/documents", {"content": b"<edXML><unclosed>",
                                        "headers": {**agency, "Content-Type": "application/xml"}}),
        ("axis", "POST", "/auth/token", {"json": {"agency_code": None}}),
        ("axis", "GET", "/inbox", {"params": {"limit": "-1"}, "headers": agency}),
        ("axis", "GET", "/agencies", {"params": {"province": "1' OR '1'='1"}}),
    ]
    clean = 0
    # Per service, the answers of its probes that reached a handler: a 401 (no token) or a
    # 404 (no route) is answered before any code that could leak has run.
    reached: dict[str, list[int]] = {service: [] for service, *_ in requests}
    for service, method, path, kw in requests:
        r = ctx.send(service, method, path, **kw)
        leaked = [m for m in LEAK_MARKERS if m in r.text]
        if not leaked:
            # Throttled, the malformed request never reached the code whose errors are judged.
            require_judged(r, f"{service} {method} {path}", THROTTLED)
        if r.status_code not in (401, 404):
            reached[service].append(r.status_code)
        ok = out.expect(400 <= r.status_code < 500 and not leaked,
                        f"{service} {method} {path}: {r.status_code}"
                        + (f", body leaks {', '.join(repr(m) for m in leaked[:3])}" if leaked else ""), ctx.excerpt(r))
        clean += ok
    unreached = [service for service, statuses in reached.items() if not statuses]
    if unreached:
        raise SetupFailed(f"{', '.join(unreached)}: every malformed request answered 401 or 404, before any handler "
                          "that could leak ran: the target never judged it, so the check cannot say whether it holds")
    if out.passed:
        out.note(f"{clean} error answers, all 4xx JSON without traces, SQL or paths")
