"""Ask the target which abuse limits it enforces, so the scorecard states what it judged.

Each service is asked ``GET /admin/limits`` (:mod:`kernel.service_limits`) with the
target's admin token. A service that does not answer it — a staging system with no such
route, no admin token given, a refusal — leaves its limits "unknown", with the reason.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from drills.security.target import SERVICES
from kernel.service_limits import LIMITS_PATH, ServiceLimits
from reports.security_scorecard import TargetLimits

__all__ = ["read_target_limits"]


def _ask(client: httpx.Client, admin_token: str | None) -> ServiceLimits | str:
    """The service's limits, or why they are unknown."""
    if not admin_token:
        return "unknown: no admin token for this target"
    try:
        r = client.get(LIMITS_PATH, headers={"Authorization": f"Bearer {admin_token}"}, timeout=5.0)
    except httpx.HTTPError as exc:
        return f"unknown: {LIMITS_PATH} did not answer ({type(exc).__name__})"
    if r.status_code != 200:
        return f"unknown: {LIMITS_PATH} answered {r.status_code}"
    try:
        return ServiceLimits.model_validate_json(r.content)
    except ValidationError:
        return f"unknown: {LIMITS_PATH} answered an unreadable body"


def read_target_limits(clients: dict[str, httpx.Client], admin_token: str | None) -> TargetLimits:
    """What the target's three services say they enforce (unknown where they do not say)."""
    out = TargetLimits()
    for name in SERVICES:
        found = _ask(clients[name], admin_token)
        if isinstance(found, str):
            out.sources[name] = found
            out.token_ttl_s[name] = None
            continue
        out.sources[name] = f"GET {LIMITS_PATH}"
        out.token_ttl_s[name] = found.token_ttl_s
        if name == "population" and found.throttle is not None:
            out.throttle_rate_per_s, out.throttle_burst = found.throttle.rate_per_s, found.throttle.burst
        if name == "portal" and found.lockout is not None:
            out.lockout_threshold, out.lockout_s = found.lockout.threshold, found.lockout.seconds
    return out
