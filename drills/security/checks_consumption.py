"""Unsafe consumption of APIs: the portal and the population service's answers (OWASP API10:2023).

The portal trusts the population register for one thing — whether an applicant is who
they claim — so a bad answer from it must never become a stored dossier. The check makes
the population mock answer badly through its fault API (kind ``body``: the answer's body
and Content-Type replaced) and submits a dossier through the portal after each.
"""

from __future__ import annotations

import secrets

from drills.security.context import THROTTLED, CheckContext, SetupFailed, require_judged
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness

__all__ = ["BAD_ANSWERS"]

API10 = "API10:2023 Unsafe Consumption of APIs"
VERIFY_ROUTE = "/citizens/verify-batch"  # the portal's identity check (mocks/portal/identity.py)

# (label, fault fields): each replaces the population service's answer to the identity check.
BAD_ANSWERS: tuple[tuple[str, dict[str, object]], ...] = (
    ("malformed JSON", {"body": '{"results": [{"match": tr'}),
    ("wrong-typed match (\"true\")", {"body": '{"results": [{"match": "true"}]}'}),
    ("JSON labelled text/html", {"body": '{"results": [{"match": true}]}', "content_type": "text/html; charset=utf-8"}),
    ("oversized answer (1 MiB)", {"body": '{"results": [{"match": true}]}', "pad_bytes": 1024 * 1024}),
    ("more results than asked", {"body": '{"results": [{"match": true}, {"match": true}, {"match": true}]}'}),
)


@security_check(CheckSpec(
    id="consume.population-answers",
    title="The portal treats the population service's answers as untrusted input",
    area=Area.CONSUMPTION, owasp=API10,
    sends=f"through the population service's fault API (kind body, POST {VERIFY_ROUTE}) {len(BAD_ANSWERS)} bad "
          "answers in turn — malformed JSON, a wrong-typed match (\"true\"), JSON labelled text/html, a 1 MiB "
          "answer, more results than asked — each followed by a dossier submission through the portal; then one "
          "submission with the fault removed (control)",
    passes_when="every submission under a bad answer answers 503, the portal's dossier count (admin ledger) and the "
                "citizen's dossiers are unchanged, and the control submission is accepted; a submission throttled "
                "(429) or its token refused (401), or a commune worklist that answers anything but 200 (nothing "
                "counted), is ERROR",
    weaknesses=(PlantedWeakness("portal", "trust_population_answers"),),
))
def population_answers(ctx: CheckContext, out: Outcome) -> None:
    """Bad upstream answers are 503 and store nothing."""
    if not ctx.target.admin_token:
        raise SetupFailed("this check injects answers through the population service's fault API: "
                          "the target needs an admin token")
    admin = ctx.bearer(ctx.target.admin_token)
    citizen, token = ctx.signed_in_citizen()
    before = ctx.ledger("portal")
    own_before = ctx.own_dossiers(citizen)
    for i, (label, answer) in enumerate(BAD_ANSWERS):
        rule_id = f"security-consume-{secrets.token_hex(3)}-{i}"
        rule = {"id": rule_id, "kind": "body", "route": VERIFY_ROUTE, "method": "POST", **answer}
        added = ctx.send("population", "POST", "/admin/faults", json=rule, headers=admin)
        if added.status_code not in (200, 201):
            raise SetupFailed(f"the population service's fault API refused a 'body' fault ({added.status_code})",
                              added)
        try:
            r = ctx.submit(token, ctx.dossier_body(citizen))
        finally:
            ctx.send("population", "DELETE", f"/admin/faults/{rule_id}", headers=admin)
        # Refused before the portal asked the population service: the bad answer was never consumed.
        require_judged(r, f"{label}: the submission", THROTTLED | {401})
        if out.expect(r.status_code == 503, f"{label}: the portal answered {r.status_code}, expected 503",
                      ctx.excerpt(r, label)):
            out.note(f"{label}: 503")
    after = ctx.ledger("portal")
    if before is not None and after is not None:
        out.expect(after.get("dossiers") == before.get("dossiers"),
                   f"dossiers stored: {before.get('dossiers')} → {after.get('dossiers')}", None)
    own_after = ctx.own_dossiers(citizen)
    out.expect(own_before == own_after, f"the citizen's dossiers went from {own_before} to {own_after}", None)
    control = ctx.submit(token, ctx.dossier_body(citizen))
    if control.status_code != 201:
        raise SetupFailed(f"control: with the fault removed the submission answered {control.status_code}", control)
    if out.passed:
        out.notes[:] = [f"{len(BAD_ANSWERS)} bad population answers → 503 each, nothing stored; control accepted"]
