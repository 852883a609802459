"""The check registry: complete, well-formed, and covering every planted weakness."""

from __future__ import annotations

import re

import pytest

from drills.security import Area, CheckSpec, all_checks, owasp_coverage, select_checks
from drills.security.registry import security_check
from kernel.errors import UsageError
from mocks.core.settings import KNOWN_WEAKNESSES

_OWASP = re.compile(r"^(API(10|[1-9]):2023 [A-Z].+|Domain: .+|Decree .+)$")


def test_ids_are_unique_and_grouped_by_area() -> None:
    checks = all_checks()
    ids = [c.spec.id for c in checks]
    assert len(ids) == len(set(ids)) >= 25
    prefixes = {"auth": Area.AUTH, "authz": Area.AUTHZ, "exposure": Area.EXPOSURE, "input": Area.INPUT,
                "abuse": Area.ABUSE, "integrity": Area.INTEGRITY, "spoof": Area.SPOOFING}
    prefixes |= {"ssrf": Area.SSRF, "consume": Area.CONSUMPTION}
    for c in checks:
        assert prefixes[c.spec.id.split(".")[0]] == c.spec.area, c.spec.id
    assert {c.spec.area for c in checks} == set(Area)


@pytest.mark.parametrize("check", all_checks(), ids=lambda c: c.spec.id)
def test_every_check_states_what_it_sends_and_when_it_passes(check) -> None:
    spec = check.spec
    assert _OWASP.match(spec.owasp), spec.owasp
    assert len(spec.title) > 20 and len(spec.sends) > 30 and len(spec.passes_when) > 20
    for w in spec.weaknesses:
        assert w.service in ("portal", "population", "axis")
        assert w.name in KNOWN_WEAKNESSES


def test_every_attackable_weakness_has_a_check() -> None:
    covered = {w.name for c in all_checks() for w in c.spec.weaknesses}
    # lossy_axis, lossy_migration: found by a drill's reconciliation, not an attack
    assert covered == KNOWN_WEAKNESSES - {"lossy_axis", "lossy_migration"}


def test_issue_checklist_is_covered() -> None:
    ids = {c.spec.id for c in all_checks()}
    for needed in ("auth.lockout", "auth.credential-stuffing", "auth.no-user-enumeration", "auth.jwt-tampering",
                   "auth.token-claims", "auth.logout-revokes", "authz.bola-dossier", "authz.bfla",
                   "authz.officer-other-commune", "authz.mass-assignment", "authz.axis-agency-isolation",
                   "exposure.population-fields", "exposure.verify-mismatch", "exposure.audit-trail",
                   "exposure.error-bodies", "input.injection", "input.xml-entities", "input.size-type-method",
                   "abuse.population-scraping", "abuse.idempotency-reuse", "abuse.document-replay",
                   "integrity.tampered-package", "integrity.untrusted-ca", "integrity.certificate-validity",
                   "integrity.signer-not-sender", "spoof.forwarded-for-lockout", "spoof.identity-headers"):
        assert needed in ids


def test_select_keeps_the_requested_order() -> None:
    assert [c.spec.id for c in select_checks(["authz.bfla", "auth.lockout"])] == ["authz.bfla", "auth.lockout"]
    assert len(select_checks(None)) == len(all_checks())


def test_unknown_check_names_the_alternatives() -> None:
    with pytest.raises(UsageError, match=r"unknown security check\(s\) auth\.nope; known checks: "
                                         r"auth\.no-user-enumeration, auth\.lockout.*dientap security --list"):
        select_checks(["auth.lockout", "auth.nope"])


@pytest.mark.parametrize("check", all_checks(), ids=lambda c: c.spec.id)
def test_every_check_has_a_planted_twin(check) -> None:
    # The self-test (test_planted.py) proves each check fails with its twin planted; a
    # check without one has never been seen to fail.
    assert check.spec.weaknesses, f"{check.spec.id} names no planted weakness"


def test_registering_a_check_without_a_twin_is_refused() -> None:
    spec = CheckSpec(id="auth.untested", title="A check nobody has seen fail", area=Area.AUTH,
                     owasp="API2:2023 Broken Authentication", sends="nothing in particular", passes_when="always")
    with pytest.raises(ValueError, match="'auth.untested' names no planted weakness"):
        security_check(spec)
    assert "auth.untested" not in {c.spec.id for c in all_checks()}


def test_owasp_coverage_names_the_categories() -> None:
    coverage = owasp_coverage(all_checks())
    assert set(coverage) == set(range(1, 11))
    assert coverage[7] == ["ssrf.attachment-urls"] and coverage[10] == ["consume.population-answers"]
    assert "integrity.tampered-package" in coverage[8]  # "Domain: … / API8:2023" counts for API8
    # API9 (inventory) comes with its own check module; every other category has a check.
    assert all(coverage[n] for n in range(1, 11) if n != 9)
