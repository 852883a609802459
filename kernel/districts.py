"""The pre-2025 district tier, *synthesized* (ours): which old communes each closed
district-level People's Committee held, and which 2025 communes succeed it.

The reference roster has no district list (see :mod:`kernel.roster`, which synthesizes
the closed district agency codes ``000.00.DD.H26``: ``max(3, communes // 15)`` per
province, 208 in all). The go-live-night drill needs each of them to have successors,
so this module states one deterministic rule — ours, not the government's:

1. **Old communes of a province**: the sorted union of the pre-2025 codes its 2025
   communes were merged from (``merged_from_old_codes`` in ``communes_2025.csv``).
2. **Grouping**: those codes are cut into as many *contiguous*, near-equal runs as the
   province has synthesized districts (run ``i`` of ``n`` codes and ``k`` districts is
   ``codes[i*n//k : (i+1)*n//k]``). The statistics office numbered communes district by
   district, so contiguous runs are the nearest thing to the real districts.
3. **Successors** of a district: the sorted union of its old communes' splits
   (``old_commune_splits.json``, from the roster's ``splits.json``), kept to the 2025
   communes of the same province.
4. **Landing commune** of one in-flight dossier: its district's successors, indexed by a
   SHA-256 of the dossier code — spread evenly, the same on every run and every retry
   (which is what makes a migration batch idempotent to re-run).

A district also has a *unit code* the portal accepts as a dossier's ``commune_code`` while
the district tier is open: ``9PPDD`` (``9``, the 2-digit province code, the 2-digit district
number) — synthesized too; no commune code, old or new, starts with 9 (the highest is 32248).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from kernel.roster import Roster, load_roster

__all__ = ["District", "DistrictTier", "district_tier", "landing_commune", "UNIT_PREFIX"]

UNIT_PREFIX = "9"


@dataclass(frozen=True, slots=True)
class District:
    """One closed pre-2025 district-level unit (ours/synthesized), with its successors."""

    province_code: str
    number: int  # 1-based, as in the agency code 000.00.DD.H26
    agency_code: str  # the axis address: 000.00.DD.H26
    old_communes: tuple[str, ...]  # the pre-2025 communes it held (rule 2)
    successors: tuple[str, ...]  # 2025 commune codes (rule 3), sorted

    @property
    def unit_code(self) -> str:
        """The portal's receiving-unit code for it while the tier is open: ``9PPDD``."""
        return f"{UNIT_PREFIX}{self.province_code}{self.number:02d}"


def landing_commune(dossier_code: str, successors: tuple[str, ...]) -> str:
    """The successor commune an in-flight dossier lands at (rule 4)."""
    if not successors:
        raise ValueError(f"no successor commune for dossier {dossier_code}")
    digest = hashlib.sha256(dossier_code.encode()).digest()
    return successors[int.from_bytes(digest[:8], "big") % len(successors)]


class DistrictTier:
    """Every synthesized district, with look-ups by agency code and by unit code."""

    def __init__(self, roster: Roster):
        self.districts: tuple[District, ...] = tuple(d for p in roster.provinces for d in _districts_of(roster, p.code))
        self._by_agency = {d.agency_code: d for d in self.districts}
        self._by_unit = {d.unit_code: d for d in self.districts}

    def __len__(self) -> int:
        return len(self.districts)

    def by_agency(self, agency_code: str) -> District | None:
        """The district with this axis agency code (``000.00.03.H26``), or ``None``."""
        return self._by_agency.get(agency_code)

    def by_unit(self, unit_code: str) -> District | None:
        """The district with this portal unit code (``90103``), or ``None``."""
        return self._by_unit.get(unit_code)

    def of_province(self, province_code: str) -> tuple[District, ...]:
        """The districts of one province, by number."""
        return tuple(d for d in self.districts if d.province_code == province_code)

    def successor_agencies(self, district: District, roster: Roster) -> tuple[str, ...]:
        """The agency codes of a district's successor communes (named when a document to it is refused)."""
        return tuple(roster.commune(c).agency_code for c in district.successors)


def _districts_of(roster: Roster, province_code: str) -> list[District]:
    province = roster.province(province_code)
    communes = roster.communes_of(province_code)
    own = set(province.commune_codes)
    olds = sorted({old for c in communes for old in c.old_codes})
    agency_codes = province.closed_district_agency_codes
    k, n = len(agency_codes), len(olds)
    districts = []
    for i, agency_code in enumerate(agency_codes):
        run = tuple(olds[i * n // k : (i + 1) * n // k])
        successors = sorted({new for old in run for new in roster.old_commune_splits.get(old, ()) if new in own})
        if not successors:  # a run whose communes all moved province (none in the data): the province seat
            successors = [province.commune_codes[0]]
        districts.append(District(province_code, i + 1, agency_code, run, tuple(successors)))
    return districts


@cache
def district_tier() -> DistrictTier:
    """The synthesized district tier of the reference roster (built once per process)."""
    return DistrictTier(load_roster())
