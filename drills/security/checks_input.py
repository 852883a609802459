"""Bad input and injection checks (OWASP API8:2023 Security Misconfiguration, API4:2023 resources)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from drills.security.context import THROTTLED, UNAVAILABLE, CheckContext, require_judged
from drills.security.documents import NOT_A_VERDICT_ON_THE_PACKAGE, DocumentKit
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness

__all__: list[str] = []

API8 = "API8:2023 Security Misconfiguration"
API4 = "API4:2023 Unrestricted Resource Consumption"

PAYLOADS = (
    "' OR '1'='1",
    "1; DROP TABLE dossiers;--",
    "\" UNION SELECT personal_id, full_name FROM citizens--",
    "$(id)",
    "; cat /etc/passwd",
    "`sleep 5`",
    "{{7*7}}",
    "${7*7}",
    "<%= 7*7 %>",
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "{\"$gt\": \"\"}",
    "<script>alert(1)</script>",
    "%00",
)
# Signs that a payload was executed or a file was read.
EXECUTED = ("root:x:0:0", "uid=", "[fonts]", "for 16-bit app support")
_LEDGERS = ("portal", "axis")


def _no_verdict_on_the_payload(path: str, kw: dict) -> frozenset[int]:
    """The answers to an injection probe that say nothing about its payload.

    At sign-in a 429 is a verdict: the stuffing defence refusing one more failed sign-in
    from this address (after ``auth.credential-stuffing`` the mocks answer every failed
    sign-in so) refuses the payload as it would any wrong password. Anywhere else a 429 is
    a throttle that never looked at the payload, and a 401 to the caller's own fresh token
    means the payload never got past the door.
    """
    if path == "/auth/token":
        return frozenset()
    if "Authorization" in kw.get("headers", {}):
        return THROTTLED | {401}
    return THROTTLED


def _state(ctx: CheckContext) -> dict[str, dict[str, int] | None]:
    return {s: ctx.ledger(s) for s in _LEDGERS}


def _compare_state(ctx: CheckContext, out: Outcome, before: dict[str, dict[str, int] | None]) -> None:
    after = _state(ctx)
    for service in _LEDGERS:
        if before[service] is None or after[service] is None:
            if why := ctx.ledger_not_compared(service):
                out.note(why)
        else:
            out.expect(before[service] == after[service],
                       f"{service} state changed: {before[service]} → {after[service]}", None)


@security_check(CheckSpec(
    id="input.injection",
    title="SQL, command, template and path-traversal payloads are refused or stored inertly",
    area=Area.INPUT, owasp=API8,
    sends="14 payloads in 16 fields that the services must validate (ID numbers, account, applicant name and date of "
          "birth, commune and procedure codes, dossier and document ids in paths, agency codes, query parameters) "
          "of the three services, then one dossier whose free-text field holds all payloads",
    passes_when="every identifier request answers 4xx (never 5xx), no answer shows an executed payload, the ledgers "
                "are unchanged; the free-text dossier is stored and read back byte for byte. A 429 refuses a payload "
                "only at sign-in (a throttled failed sign-in); on any other request it is ERROR, as is a 401 to a "
                "request carrying the caller's own token. The attacker's dossiers are counted in their commune's "
                "worklist before and after: a worklist that answers anything but 200 is ERROR (nothing was counted)",
    weaknesses=(PlantedWeakness("portal", "lenient_province_filter"),),
))
def injection(ctx: CheckContext, out: Outcome) -> None:
    """Injection payloads never reach an interpreter."""
    citizen, token = ctx.signed_in_citizen()
    portal = ctx.bearer(token)
    province = ctx.bearer(ctx.population_token("province-01"))
    before = _state(ctx)
    own_before = ctx.own_dossiers(citizen)
    sent = 0
    for p in PAYLOADS:
        q = quote(p, safe="")
        body = ctx.dossier_body(citizen)
        requests: list[tuple[str, str, str, dict]] = [
            ("portal", "POST", "/auth/token", {"json": {"kind": "citizen", "personal_id": p, "password": p}}),
            ("portal", "POST", "/auth/token", {"json": {"kind": "officer", "account": p, "password": p}}),
            ("portal", "GET", f"/dossiers/{q}", {"headers": portal}),
            ("portal", "GET", f"/public/dossiers/{q}", {"params": {"personal_id": p}}),
            ("portal", "GET", "/procedures", {"params": {"province": p}}),
            ("portal", "POST", "/dossiers", {"json": {**body, "commune_code": p},
                                             "headers": {**portal, "Idempotency-Key": f"inj-c-{sent}"}}),
            ("portal", "POST", "/dossiers", {"json": {**body, "procedure_code": p},
                                             "headers": {**portal, "Idempotency-Key": f"inj-p-{sent}"}}),
            ("portal", "POST", "/dossiers", {"json": {**body, "applicant": {**body["applicant"], "personal_id": p}},
                                             "headers": {**portal, "Idempotency-Key": f"inj-a-{sent}"}}),
            ("portal", "POST", "/dossiers", {"json": {**body, "applicant": {**body["applicant"], "full_name": p}},
                                             "headers": {**portal, "Idempotency-Key": f"inj-n-{sent}"}}),
            ("portal", "POST", "/dossiers", {"json": {**body, "applicant": {**body["applicant"], "date_of_birth": p}},
                                             "headers": {**portal, "Idempotency-Key": f"inj-d-{sent}"}}),
            ("portal", "POST", "/feedback", {"json": {"commune_code": p, "subject": p, "body": p}, "headers": portal}),
            ("population", "GET", f"/citizens/{q}", {"params": {"purpose": "security drill"}, "headers": province}),
            ("population", "POST", "/citizens/verify", {"json": {"personal_id": p, "full_name": p,
                                                                 "date_of_birth": "1990-01-01", "purpose": p},
                                                        "headers": province}),
            ("axis", "POST", "/auth/token", {"json": {"agency_code": p, "client_secret": p}}),
            ("axis", "GET", f"/documents/{q}", {"headers": ctx.bearer(ctx.axis_token("000.00.00.G22"))}),
            ("axis", "GET", "/agencies", {"params": {"province": p}}),
        ]
        for service, method, path, kw in requests:
            r = ctx.send(service, method, path, **kw)
            sent += 1
            executed = [m for m in EXECUTED if m in r.text]
            if not executed:
                require_judged(r, f"{service} {method} {path.split('?')[0][:40]} with {p!r}",
                               _no_verdict_on_the_payload(path, kw))
            out.expect(400 <= r.status_code < 500 and not executed,
                       f"{service} {method} {path.split('?')[0][:40]} with {p!r}: {r.status_code}"
                       + (f", shows {executed[0]!r}" if executed else ""), ctx.excerpt(r, f"payload {p!r}"))
    _compare_state(ctx, out, before)
    own_after = ctx.own_dossiers(citizen)
    out.expect(own_before == own_after, f"the attacker's dossiers went from {own_before} to {own_after}", None)
    free_text = " | ".join(PAYLOADS)[:1000]
    r = ctx.submit(token, ctx.dossier_body(citizen, fields={"reason": free_text}))
    require_judged(r, "the free-text dossier", THROTTLED | {401})
    if r.status_code == 201:
        back = ctx.send("portal", "GET", f"/dossiers/{r.json()['code']}", headers=portal)
        require_judged(back, "reading back the free-text dossier", THROTTLED | UNAVAILABLE | {401})
        stored = back.json().get("fields", {}).get("reason") if back.status_code == 200 else None
        out.expect(stored == free_text, "the free-text payloads were not stored verbatim", ctx.excerpt(back))
    else:
        out.expect(400 <= r.status_code < 500, f"free-text payloads answered {r.status_code}", ctx.excerpt(r))
    if out.passed:
        out.note(f"{sent} injection requests all 4xx, nothing executed, state unchanged; free text stored inertly")


def _billion_laughs() -> bytes:
    lines = ['<!ENTITY lol "lol">']
    for i in range(1, 10):
        lines.append(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">')
    dtd = "\n".join(lines).replace("&lol0;", "&lol;")
    return f'<?xml version="1.0"?>\n<!DOCTYPE edXML [\n{dtd}\n]>\n<edXML>&lol9;</edXML>'.encode()


#: The parameter-entity probe's two files: one every Linux host has, one no host has.
_PARAMETER_ENTITY_FILES = ("/etc/passwd", "/nonexistent/dientap-canary")


def _parameter_entity(path: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-16"?>\n'
            f'<!DOCTYPE edXML [<!ENTITY % f SYSTEM "file://{path}"> %f;]>\n<edXML/>').encode("utf-16")


@security_check(CheckSpec(
    id="input.xml-entities",
    title="XML external entities and entity expansion are refused by the axis",
    area=Area.INPUT, owasp=API8,
    sends="POST /documents: a validly signed package whose subject comes from an internal entity (canary), a "
          "package with an external entity file:///etc/passwd, a billion-laughs package, and two UTF-16 packages "
          "whose internal subset loads an external parameter entity: file:///etc/passwd and a file that does not exist",
    passes_when="all answer 4xx (never 2xx or 5xx), no answer contains the file's content, the two parameter-entity "
                "packages get the same answer (a parser that read the existing file tells the two apart), and the "
                "axis ledger is unchanged; a 401, 404, 405 or 429 (no verdict on the package) is ERROR",
    weaknesses=(PlantedWeakness("axis", "xxe_enabled"),),
))
def xml_entities(ctx: CheckContext, out: Outcome) -> None:
    """No DTD processing on the document axis."""
    before = ctx.ledger("axis")
    sender, recipient = "000.00.00.G22", ctx.citizen_commune_agency()
    headers = {**ctx.bearer(ctx.axis_token(sender)), "Content-Type": "application/xml"}
    cases: list[tuple[str, bytes]] = []
    kit = DocumentKit(ctx, ctx.ca) if ctx.ca is not None else None
    if kit is not None:
        canary = "dientapxxecanary"
        signed = kit.package(kit.envelope(sender, [recipient], canary))
        head, _, rest = signed.partition(b"?>")
        cases.append(("internal entity (signed canary)", head + b'?>\n<!DOCTYPE edXML [<!ENTITY canary "'
                      + canary.encode() + b'">]>' + rest.replace(canary.encode(), b"&canary;", 1)))
        xxe = kit.package(kit.envelope(sender, [recipient], "dientapxxefile"))
        head, _, rest = xxe.partition(b"?>")
        cases.append(("external entity file:///etc/passwd", head + b'?>\n<!DOCTYPE edXML [<!ENTITY xxe SYSTEM '
                      b'"file:///etc/passwd">]>' + rest.replace(b"dientapxxefile", b"&xxe;", 1)))
    else:
        out.note("no dry-run CA: signed canary not sent")
        cases.append(("external entity file:///etc/passwd", b'<?xml version="1.0"?>\n<!DOCTYPE edXML [<!ENTITY xxe '
                      b'SYSTEM "file:///etc/passwd">]>\n<edXML>&xxe;</edXML>'))
    cases.append(("billion laughs", _billion_laughs()))
    # libxml2 loads an external parameter entity whatever load_dtd says; in UTF-16 a byte
    # search for "<!DOCTYPE" misses it. The file's content need not be echoed to leak: an
    # existing file and a missing one answered differently is already an oracle.
    parameter = {path: _parameter_entity(path) for path in _PARAMETER_ENTITY_FILES}
    cases += [(f"UTF-16 parameter entity {path}", body) for path, body in parameter.items()]
    answers: dict[str, tuple[int, str]] = {}
    for label, body in cases:
        try:
            r = ctx.send("axis", "POST", "/documents", content=body, headers=headers)
            require_judged(r, f"{label}: POST /documents", NOT_A_VERDICT_ON_THE_PACKAGE)
            if kit is not None and b"<DocumentId>" in body:
                message_id = body.split(b"<DocumentId>", 1)[1].split(b"</DocumentId>", 1)[0].decode()
                n = kit.count_deliveries(recipient, message_id, key="message_id")
                out.expect(n == 0, f"{label}: the recipient received the document ({n}×)", None)
        except httpx.TimeoutException:
            out.fail(f"{label}: the axis did not answer within {ctx.limits.request_timeout_s:g} s")
            continue
        ok = 400 <= r.status_code < 500 and "root:x:0:0" not in r.text
        out.expect(ok, f"{label}: answered {r.status_code}" + (" with /etc/passwd content" if "root:x" in r.text else ""),
                   ctx.excerpt(r, label))
        for path in _PARAMETER_ENTITY_FILES:
            if label.endswith(path):
                answers[path] = (r.status_code, r.text.replace(path, "<file>").replace(path.rpartition("/")[2], "<file>"))
    if len(answers) == len(_PARAMETER_ENTITY_FILES):
        existing, missing = (answers[path] for path in _PARAMETER_ENTITY_FILES)
        out.expect(existing == missing, f"an existing and a missing file as a parameter entity are told apart: "
                   f"{existing[0]} {existing[1][:120]!r} vs {missing[0]} {missing[1][:120]!r}", None)
    after = ctx.ledger("axis")
    if before is not None and after is not None:
        out.expect(before == after, f"axis state changed: {before} → {after}", None)
    if out.passed:
        out.note(f"{len(cases)} entity payloads refused 4xx; axis state unchanged")


@security_check(CheckSpec(
    id="input.size-type-method",
    title="Oversized bodies 413, wrong content types 415, unknown methods 405",
    area=Area.INPUT, owasp=API4,
    sends="2 MiB bodies to sign-in, verify and document upload; text/plain or JSON where JSON or XML is expected; "
          "PUT/DELETE/PATCH on routes that do not have them",
    passes_when="exactly 413, 415 and 405 respectively, never 5xx, the ledgers are unchanged and the citizen's "
                "commune worklist holds none of their dossiers; a request throttled (429), or refused 401 for the "
                "caller's own token, or a worklist that answers anything but 200 (nothing counted), is ERROR",
    weaknesses=(PlantedWeakness("portal", "any_content_type"),),
))
def size_type_method(ctx: CheckContext, out: Outcome) -> None:
    """Transport-level input rules."""
    province = ctx.bearer(ctx.population_token("province-01"))
    agency = ctx.bearer(ctx.axis_token("000.00.00.G22"))
    person, person_token = ctx.signed_in_citizen()
    citizen = ctx.bearer(person_token)
    big = b'{"pad": "' + b"A" * (2 * 1024 * 1024) + b'"}'
    json_h = {"Content-Type": "application/json"}
    before = _state(ctx)
    cases: list[tuple[int, str, str, str, dict]] = [
        (413, "portal", "POST", "/auth/token", {"content": big, "headers": json_h}),
        (413, "population", "POST", "/citizens/verify", {"content": big, "headers": {**json_h, **province}}),
        (413, "axis", "POST", "/documents", {"content": b"<edXML>" + big + b"</edXML>",
                                             "headers": {**agency, "Content-Type": "application/xml"}}),
        (415, "portal", "POST", "/auth/token", {"content": b'{"kind": "citizen"}',
                                                "headers": {"Content-Type": "text/plain"}}),
        (415, "portal", "POST", "/dossiers", {"content": b"<dossier/>", "headers": {**citizen, "Idempotency-Key": "t415",
                                                                                   "Content-Type": "application/xml"}}),
        (415, "population", "POST", "/citizens/verify", {"content": b"{}",
                                                         "headers": {**province, "Content-Type": "text/plain"}}),
        (415, "axis", "POST", "/documents", {"content": b"{}", "headers": {**agency, **json_h}}),
        (405, "portal", "PUT", "/auth/token", {}),
        (405, "portal", "DELETE", "/procedures", {}),
        (405, "population", "PATCH", "/citizens/verify", {"headers": province}),
        (405, "axis", "PUT", "/agencies", {}),
        (405, "axis", "DELETE", "/documents", {"headers": agency}),
    ]
    for expected, service, method, path, kw in cases:
        r = ctx.send(service, method, path, **kw)
        # Throttled, or the caller's own token refused: the transport rule was never reached.
        require_judged(r, f"{service} {method} {path}",
                       THROTTLED | {401} if "Authorization" in kw.get("headers", {}) else THROTTLED)
        out.expect(r.status_code == expected, f"{service} {method} {path}: {r.status_code}, expected {expected}",
                   ctx.excerpt(r))
    _compare_state(ctx, out, before)
    own = ctx.own_dossiers(person)
    out.expect(own == 0, f"the 415 submission created {own} dossier(s)", None)
    if out.passed:
        out.note(f"{len(cases)} requests: 413 ×3, 415 ×4, 405 ×5; state unchanged")
