"""Scenario profiles (``scenarios/profiles/*.yaml``): how go-live day is shaped.

A profile fixes the duration, which communes go live, how many officers each has online
and when they sign in (the login storm), the citizens' arrival rate over time (an open
model: Poisson arrivals per commune, independent of how fast the target answers), the
provincial agencies' directives, and the abort rules that protect a real target.
``--scale`` multiplies officers per commune and citizen arrivals toward national size.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from kernel.configfile import StrictModel, load_model
from kernel.errors import UsageError

__all__ = [
    "ShapePoint",
    "CommuneSelection",
    "OfficerLoad",
    "AgencyLoad",
    "CitizenJourney",
    "CitizenLoad",
    "AbortRules",
    "Profile",
    "load_profile",
    "resolve_profile",
    "PROFILES_DIR",
    "shipped_profiles",
]

PROFILES_DIR = Path(__file__).parent / "profiles"


class ShapePoint(StrictModel):
    """A point of the arrival-rate curve: at ``at_s`` the rate is ``factor`` × the base rate."""

    at_s: float = Field(ge=0)
    factor: float = Field(ge=0, le=100)


class CommuneSelection(StrictModel):
    """Which communes go live: every commune, or the N largest per province."""

    select: Literal["all", "per_province"] = "all"
    per_province: int = Field(default=1, ge=1, le=500)


class OfficerLoad(StrictModel):
    """Commune officers: how many per commune, the login storm, their pace."""

    per_commune: int = Field(default=1, ge=1, le=100)
    login_window_s: float = Field(default=10, ge=0, le=3600)
    think_time_s: tuple[float, float] = (20.0, 40.0)
    worklist_batch: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> OfficerLoad:
        if self.think_time_s[0] > self.think_time_s[1] or self.think_time_s[0] < 0:
            raise ValueError("think_time_s must be [min, max] with 0 ≤ min ≤ max")
        return self


class AgencyLoad(StrictModel):
    """Provincial agencies: directives fanned out to their communes."""

    enabled: bool = True
    think_time_s: tuple[float, float] = (30.0, 60.0)
    fanout: int = Field(default=5, ge=1, le=500, description="recipient communes per directive")
    receipt_deadline_s: float = Field(default=20, gt=0)


class CitizenJourney(StrictModel):
    """Shares of citizens who do each optional step after submitting."""

    browse_share: float = Field(default=0.8, ge=0, le=1)
    feedback_share: float = Field(default=0.1, ge=0, le=1)
    withdraw_share: float = Field(default=0.03, ge=0, le=1)
    status_polls: int = Field(default=2, ge=0, le=20)
    poll_interval_s: float = Field(default=5.0, ge=0)
    # Seconds between choosing the procedure and submitting (filling the form in, signed in):
    # without it a submission follows the sign-in within milliseconds, and a fault that starts
    # between the two — a frozen portal — catches no submission in flight.
    fill_s: float = Field(default=0.0, ge=0, le=600)


class CitizenLoad(StrictModel):
    """Citizens: an open model of arrivals."""

    arrivals_per_s: float = Field(default=2.0, ge=0, le=100_000, description="national rate at scale 1")
    weighting: Literal["size", "equal"] = Field(
        default="size", description="share the rate by commune size (merged pre-2025 communes) or equally"
    )
    shape: list[ShapePoint] = [ShapePoint(at_s=0, factor=1.0)]  # noqa: RUF012 - a pydantic field (StrictModel), copied per instance
    max_in_flight: int = Field(default=2000, ge=1, le=1_000_000)
    journey: CitizenJourney = CitizenJourney()

    @model_validator(mode="after")
    def _shape_sorted(self) -> CitizenLoad:
        times = [p.at_s for p in self.shape]
        if times != sorted(times) or not times or times[0] != 0:
            raise ValueError("shape must start at at_s: 0 and be in increasing time order")
        return self

    def factor_at(self, t: float) -> float:
        """Piecewise-linear rate factor at ``t`` seconds (flat after the last point)."""
        points = self.shape
        if t <= points[0].at_s:
            return points[0].factor
        for left, right in itertools.pairwise(points):
            if t <= right.at_s:
                span = right.at_s - left.at_s
                return right.factor if span == 0 else left.factor + (right.factor - left.factor) * (t - left.at_s) / span
        return points[-1].factor


class AbortRules(StrictModel):
    """Stop early (to protect a real system) when errors or p99 stay above limits."""

    enabled: bool = True
    error_rate: float = Field(default=0.5, gt=0, le=1)
    p99_ms: float = Field(default=10_000, gt=0)
    for_s: float = Field(default=15, gt=0)


MAX_DURATION_S = 7 * 24 * 3600  # a week: the longest soak anyone runs, and a bound on every run
MAX_SCALE = 1000


class Profile(StrictModel):
    """A whole scenario profile."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    description: str = ""
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    scale: float = Field(default=1.0, gt=0, le=MAX_SCALE)
    spawn_rate: float = Field(default=100, gt=0, le=10_000, description="officer users started per second")
    communes: CommuneSelection = CommuneSelection()
    officers: OfficerLoad = OfficerLoad()
    agencies: AgencyLoad = AgencyLoad()
    citizens: CitizenLoad = CitizenLoad()
    abort: AbortRules = AbortRules()

    def scaled(self, scale: float | None = None, duration_s: float | None = None) -> Profile:
        """This profile with ``--scale``/``--duration`` applied, within the bounds a profile
        file has (``model_copy`` does not validate: ``--duration 9999999h`` ran as a 1,100-year run)."""
        update: dict[str, object] = {}
        if scale is not None:
            if not 0 < scale <= MAX_SCALE:
                raise UsageError(f"argument --scale: {scale:g} is not a finite number more than 0 and at most "
                                 f"{MAX_SCALE} (a profile's bound)")
            update["scale"] = scale
        if duration_s is not None:
            if not 0 < duration_s <= MAX_DURATION_S:
                raise UsageError(f"argument --duration: {duration_s:g} s is longer than a run may last; give at most "
                                 f"{MAX_DURATION_S} s (7 days, e.g. 168h)")
            update["duration_s"] = duration_s
        return self.model_copy(update=update)

    @property
    def officers_per_commune(self) -> int:
        """Officers online per active commune after scaling (at least one)."""
        return max(1, round(self.officers.per_commune * self.scale))

    @property
    def citizen_base_rate(self) -> float:
        """National citizen arrivals per second after scaling (before the shape factor)."""
        return self.citizens.arrivals_per_s * self.scale


def load_profile(path: str | Path) -> Profile:
    """Validate and load a profile file."""
    return load_model(Profile, path)


def shipped_profiles() -> list[str]:
    """Names of the profiles that ship in ``scenarios/profiles``."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def resolve_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_profile(path)
    candidate = PROFILES_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        raise UsageError(
            f"unknown profile {name_or_path!r}; shipped profiles: {', '.join(shipped_profiles())} (or give a path to a YAML file)"
        )
    return load_profile(candidate)
