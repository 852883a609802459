"""The fault API's shared shapes: what ``POST /admin/faults`` accepts and a drill file declares.

The mocks' admin API validates a fault body with these models and the drills validate a
drill file's HTTP faults with the same ones, so a drill that passes ``dientap validate``
is a body the mocks accept — one declaration, not two that drift apart.
"""

from __future__ import annotations

import math
import random
from http import HTTPStatus
from typing import Literal

from pydantic import Field, model_validator

from kernel.configfile import StrictModel

__all__ = ["FAULT_STATUSES", "LatencySpec", "fault_status", "FAULT_ROUTE_PATTERN"]


#: Statuses an injected error may answer with: the 4xx and 5xx codes HTTP defines (RFC 9110
#: and its registry, as :class:`http.HTTPStatus` lists them). 449 or 599 are no status a
#: real service sends, so a fault asking for one is a typo, refused before it is injected.
FAULT_STATUSES = tuple(sorted(s.value for s in HTTPStatus if 400 <= s.value <= 599))
#: A fault's route: a template the service serves (``/dossiers/{code}``) or ``*`` for all.
FAULT_ROUTE_PATTERN = r"^(\*|/[!-~]*)$"


def fault_status(status: int) -> int:
    """``status`` if an injected error may use it (validator of both fault models)."""
    if status not in FAULT_STATUSES:
        raise ValueError(f"{status} is not an HTTP error status; one of 400–599 that HTTP defines, e.g. 429, 500, 503")
    return status


class LatencySpec(StrictModel):
    """A latency distribution in milliseconds (unknown keys are errors)."""

    distribution: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: float = Field(default=0, ge=0, le=600_000)
    min_ms: float = Field(default=0, ge=0, le=600_000)
    max_ms: float = Field(default=0, ge=0, le=600_000)
    median_ms: float = Field(default=0, ge=0, le=600_000)
    sigma: float = Field(default=0.5, ge=0, le=5)

    @model_validator(mode="after")
    def _bounds(self) -> LatencySpec:
        if self.distribution == "uniform" and self.max_ms < self.min_ms:
            raise ValueError("latency.max_ms must be ≥ latency.min_ms for a uniform distribution")
        return self

    def sample_s(self, rng: random.Random) -> float:
        """One delay in seconds (lognormal capped at 10 minutes)."""
        if self.distribution == "fixed":
            ms = self.ms
        elif self.distribution == "uniform":
            ms = rng.uniform(self.min_ms, self.max_ms)
        else:
            ms = min(600_000.0, self.median_ms * math.exp(rng.gauss(0.0, self.sigma)))
        return ms / 1000.0
