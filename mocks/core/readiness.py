"""Readiness profiles: which provinces are not yet connected or published on go-live day.

A profile is YAML::

    provinces:
      "04": {catalogue_published: false}
      "11": {connected: false, population_connected: false}
    district_tier: open     # the old tier: district-level units open until the cut-over

Every flag defaults to true (ready). ``district_tier`` (default ``closed``, the 2025 world)
is the old-tier switch of the go-live-night drill: ``open`` starts the portal and the axis
with the 208 synthesized district-level units (:mod:`kernel.districts`) still receiving
dossiers and documents, until an admin closes the tier (``POST /admin/district-tier``).
Unknown provinces and keys are errors naming file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator

from kernel.configfile import StrictModel, load_model
from kernel.roster import load_roster

__all__ = ["ProvinceReadiness", "ReadinessProfile", "load_readiness"]


class ProvinceReadiness(StrictModel):
    """Readiness flags of one province (all true = ready)."""

    connected: bool = True  # provincial one-stop system connected to the national portal
    catalogue_published: bool = True
    population_connected: bool = True
    axis_connected: bool = True
    accounts_issued: bool = True

    @property
    def ready(self) -> bool:
        """True when every flag is set."""
        return all(getattr(self, f) for f in type(self).model_fields)


_READY = ProvinceReadiness()


def _known_province(code: str) -> str:
    if code not in {p.code for p in load_roster().provinces}:
        raise ValueError(f"unknown province code {code!r}; codes are the 34 two-digit 2025 statistics codes")
    return code


ProvinceCode = Annotated[str, AfterValidator(_known_province)]


class ReadinessProfile(StrictModel):
    """Per-province readiness; provinces not listed are ready."""

    description: str = ""
    district_tier: Literal["open", "closed"] = "closed"
    provinces: dict[ProvinceCode, ProvinceReadiness] = {}  # noqa: RUF012 - a pydantic field (StrictModel), copied per instance

    def province(self, code: str) -> ProvinceReadiness:
        """Flags of province ``code`` (ready if not listed)."""
        return self.provinces.get(code, _READY)

    def unready_provinces(self) -> list[str]:
        """Codes of provinces with at least one flag unset."""
        return sorted(code for code, flags in self.provinces.items() if not flags.ready)


def load_readiness(path: str | Path | None) -> ReadinessProfile:
    """Load a readiness profile, or the all-ready default when ``path`` is None."""
    return ReadinessProfile() if path is None else load_model(ReadinessProfile, path)
