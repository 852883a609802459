"""Run checks against a target and fold their outcomes into a :class:`SecurityScorecard`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import httpx

from drills.security.context import CheckContext, CheckTimeout, SetupFailed
from drills.security.registry import SecurityCheck
from drills.security.spec import Outcome
from drills.security.target import SecurityLimits, SecurityTarget
from drills.security.target_limits import read_target_limits
from kernel.terminal_text import terminal_text
from reports._record import Verdict
from reports.security_scorecard import SecurityCheckResult, SecurityScorecard

__all__ = ["run_check", "run_suite", "console_line"]

log = logging.getLogger("dientap.security")


def run_check(ctx: CheckContext, check: SecurityCheck) -> SecurityCheckResult:
    """Run one check within its time budget; any error in the check itself is verdict ERROR."""
    spec = check.spec
    out = Outcome()
    ctx.start_check()
    error: str | None = None
    try:
        check.run(ctx, out)
    except SetupFailed as exc:
        error = f"could not run: {exc}"
        if exc.response is not None:
            out.evidence.append(ctx.excerpt(exc.response, "setup"))
    except CheckTimeout:
        error = f"ran out of its {ctx.limits.check_timeout_s:g} s budget"
    except httpx.HTTPError as exc:
        error = f"HTTP error: {type(exc).__name__}: {ctx.redactor.text(str(exc))[:200]}"
    except Exception as exc:  # a bug in a check must not hide the other checks' verdicts
        log.exception("security check %s crashed", spec.id)
        error = f"check crashed: {type(exc).__name__}: {ctx.redactor.text(str(exc))[:200]}"
    verdict: Verdict
    if error is not None and out.failures:
        # A hole found before the check had to stop is still a hole: FAIL, and say why it stopped.
        verdict, summary = "FAIL", f"{out.summary()}; then {error}"
    elif error is not None:
        verdict, summary = "ERROR", error
    else:
        verdict, summary = ("PASS" if out.passed else "FAIL"), out.summary()
    return SecurityCheckResult(
        id=spec.id, title=spec.title, owasp=spec.owasp, verdict=verdict, summary=ctx.redactor.text(summary),
        evidence=out.evidence[:6], detected_after_s=out.detected_after_s,
        phase=out.phase.value if out.phase is not None else None,
    )


def console_line(result: SecurityCheckResult) -> str:
    """``ID PASS|FAIL|ERROR evidence`` on one line.

    The summary may quote the target's answer: every control character in it (a line end, a
    carriage return, an escape sequence) is shown escaped, so no answer can end the line early,
    overwrite it, or rewrite the lines printed before it.
    """
    return terminal_text(f"{result.id:<32} {result.verdict:<5} {result.summary}", one_line=True)


def run_suite(target: SecurityTarget, checks: Sequence[SecurityCheck], *, limits: SecurityLimits | None = None,
              under_load: bool = False, transport: httpx.BaseTransport | None = None,
              on_result: Callable[[SecurityCheckResult, float], None] | None = None) -> SecurityScorecard:
    """Run ``checks`` one after another against ``target`` (allowlist enforced first).

    ``under_load``: a dry run is writing to the same target, so global ledgers are not
    compared (each check still checks the state it can attribute to itself). ``transport``
    replaces the network (tests of the checks themselves).
    """
    ctx = CheckContext(target, limits, under_load=under_load, transport=transport)
    results: list[SecurityCheckResult] = []
    try:
        # Read before the checks: the configuration judged, not the one assumed.
        found = read_target_limits(ctx.clients, target.admin_token)
        for check in checks:
            started = time.monotonic()
            result = run_check(ctx, check)
            results.append(result)
            if on_result is not None:
                on_result(result, time.monotonic() - started)
    finally:
        ctx.close()
    return SecurityScorecard(checks=results, target_limits=found)
