"""The abuse limits a service reports about itself: the body of ``GET /admin/limits``.

The mocks serve it (each service the limits it enforces, as in force — a planted weakness
that turns one off shows as off) and ``dientap security`` reads it, so a scorecard states
the configuration it judged instead of the one it assumed. One declaration for both sides.
"""

from __future__ import annotations

from pydantic import Field

from kernel.configfile import StrictModel

__all__ = ["LIMITS_PATH", "ThrottleLimit", "LockoutLimit", "ServiceLimits"]

LIMITS_PATH = "/admin/limits"


class ThrottleLimit(StrictModel):
    """A per-client token bucket: sustained rate and burst (``rate_per_s`` 0: no throttle)."""

    rate_per_s: float = Field(ge=0)
    burst: int = Field(ge=0)


class LockoutLimit(StrictModel):
    """Sign-in lockout: failures before an account locks, and for how long (``threshold`` 0: none)."""

    threshold: int = Field(ge=0)
    seconds: int = Field(ge=0)


class ServiceLimits(StrictModel):
    """What one service enforces; a limit the service does not have at all is ``None``."""

    service: str
    token_ttl_s: int = Field(ge=1)
    throttle: ThrottleLimit | None = None
    lockout: LockoutLimit | None = None
