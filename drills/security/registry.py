"""The check registry: every check's spec and the function that runs it.

Check modules declare checks with :func:`security_check`; :func:`all_checks` imports them
(one module per area) and returns the checks in registry order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from drills.security.context import CheckContext
from drills.security.spec import OWASP_API_TOP10, CheckSpec, Outcome, owasp_items
from kernel.errors import UsageError

__all__ = ["SecurityCheck", "security_check", "all_checks", "select_checks", "owasp_coverage", "CHECK_MODULES"]

CHECK_MODULES = (
    "drills.security.checks_auth",
    "drills.security.checks_authz",
    "drills.security.checks_exposure",
    "drills.security.checks_input",
    "drills.security.checks_abuse",
    "drills.security.checks_integrity",
    "drills.security.checks_spoofing",
    "drills.security.checks_inventory",
    "drills.security.checks_ssrf",
    "drills.security.checks_consumption",
)

CheckFunction = Callable[[CheckContext, Outcome], None]


@dataclass(frozen=True)
class SecurityCheck:
    """A registered check: its spec and its body (which records into an :class:`Outcome`)."""

    spec: CheckSpec
    run: CheckFunction


_REGISTRY: dict[str, SecurityCheck] = {}


def security_check(spec: CheckSpec) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the body of check ``spec.id``."""

    # A check that no planted weakness can make fail has never been seen to fail: refuse it.
    if not spec.weaknesses:
        raise ValueError(f"security check {spec.id!r} names no planted weakness (CheckSpec.weaknesses): plant one "
                         "in the service that owns the rule (mocks.core.settings.KNOWN_WEAKNESSES) so the suite's "
                         "self-test proves the check can fail")

    def register(fn: CheckFunction) -> CheckFunction:
        if spec.id in _REGISTRY and _REGISTRY[spec.id].run is not fn:
            raise ValueError(f"security check {spec.id!r} is registered twice")
        _REGISTRY[spec.id] = SecurityCheck(spec, fn)
        return fn

    return register


def all_checks() -> list[SecurityCheck]:
    """Every registered check, in module order then declaration order."""
    for name in CHECK_MODULES:
        importlib.import_module(name)
    return list(_REGISTRY.values())


def select_checks(ids: list[str] | None) -> list[SecurityCheck]:
    """The checks named by ``ids`` (all when ``None``); an unknown id is a usage error."""
    checks = all_checks()
    if not ids:
        return checks
    by_id = {c.spec.id: c for c in checks}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise UsageError(
            f"unknown security check(s) {', '.join(unknown)}; known checks: {', '.join(by_id)}; "
            "run `dientap security --list`"
        )
    return [by_id[i] for i in ids]


def owasp_coverage(checks: list[SecurityCheck]) -> dict[int, list[str]]:
    """For each OWASP API Top 10 (2023) item, the ids of the checks that cover it (empty: uncovered)."""
    coverage: dict[int, list[str]] = {n: [] for n in OWASP_API_TOP10}
    for check in checks:
        for n in sorted(owasp_items(check.spec.owasp)):
            coverage[n].append(check.spec.id)
    return coverage
