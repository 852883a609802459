"""The 2025 administrative roster: 34 provinces and 3,321 communes, loaded from the
reference data shipped in ``kernel/data`` (never hand-typed).

Agency identifier codes are derived here because the mocks and the scenarios must
agree on them:

* a provincial People's Committee keeps the older layout ``000.00.00.H26``;
* a commune People's Committee uses the newer dotted layout ``H26.00004``
  (level-1 code + the 5-digit commune statistics code) — *synthesized*, the real
  codes were not published with the roster;
* closed pre-2025 district-level People's Committees are ``000.00.DD.H26``
  (*synthesized*: the roster has no district list), so drills can address documents
  to agencies that no longer exist.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

__all__ = [
    "Commune",
    "Province",
    "Roster",
    "load_roster",
    "GOVERNMENT_OFFICE_CODE",
]

GOVERNMENT_OFFICE_CODE = "000.00.00.G22"


@dataclass(frozen=True, slots=True)
class Province:
    """A provincial-level unit (tỉnh / thành phố trực thuộc TW) after 1 July 2025."""

    code: str  # 2-digit statistics code, e.g. "01"
    name: str
    l1_code: str  # level-1 agency group, e.g. "H26" (unverified derivation)
    birthplace_codes: tuple[str, ...]  # old 3-digit CCCD birthplace codes merged into it
    commune_codes: tuple[str, ...]

    @property
    def agency_code(self) -> str:
        """Identifier code of the provincial People's Committee (older layout)."""
        return f"000.00.00.{self.l1_code}"

    @property
    def closed_district_agency_codes(self) -> tuple[str, ...]:
        """Synthesized codes of the abolished district-level People's Committees."""
        count = max(3, len(self.commune_codes) // 15)
        return tuple(f"000.00.{n:02d}.{self.l1_code}" for n in range(1, min(count, 99) + 1))


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune-level unit (xã, phường or đặc khu) after 1 July 2025."""

    code: str  # 5-digit statistics code
    name: str
    kind: str  # "xa" | "phuong" | "dac_khu"
    province_code: str
    old_codes: tuple[str, ...]
    l1_code: str

    @property
    def agency_code(self) -> str:
        """Identifier code of the commune People's Committee (synthesized newer layout)."""
        return f"{self.l1_code}.{self.code}"

    @property
    def size_weight(self) -> int:
        """Relative size: number of pre-2025 communes merged into this one (≥ 1)."""
        return max(1, len(self.old_codes))


@dataclass(frozen=True, eq=False)  # identity hash: one roster per process, cached
class Roster:
    """All provinces and communes, with look-ups by code."""

    provinces: tuple[Province, ...]
    communes: tuple[Commune, ...]
    old_commune_splits: dict[str, tuple[str, ...]]
    # Look-up tables, derived in __post_init__.
    _provinces_by_code: dict[str, Province] = field(init=False, repr=False, compare=False)
    _communes_by_code: dict[str, Commune] = field(init=False, repr=False, compare=False)
    _province_by_birthplace: dict[str, Province] = field(init=False, repr=False, compare=False)
    _birthplace_codes: frozenset[str] = field(init=False, repr=False, compare=False)

    def province(self, code: str) -> Province:
        """Return the province with this 2-digit code (KeyError if unknown)."""
        return self._provinces_by_code[code]

    def commune(self, code: str) -> Commune:
        """Return the commune with this 5-digit code (KeyError if unknown)."""
        return self._communes_by_code[code]

    def communes_of(self, province_code: str) -> tuple[Commune, ...]:
        """The communes of one province, in roster order."""
        return tuple(self._communes_by_code[c] for c in self.province(province_code).commune_codes)

    def province_of_birthplace(self, birthplace_code: str) -> Province | None:
        """The 2025 province an old birthplace code (e.g. "079") was merged into."""
        return self._province_by_birthplace.get(birthplace_code)

    @property
    def birthplace_codes(self) -> frozenset[str]:
        """The 63 old 3-digit birthplace codes that may open a personal ID number."""
        return self._birthplace_codes

    def __post_init__(self) -> None:
        object.__setattr__(self, "_provinces_by_code", {p.code: p for p in self.provinces})
        object.__setattr__(self, "_communes_by_code", {c.code: c for c in self.communes})
        object.__setattr__(
            self,
            "_province_by_birthplace",
            {b: p for p in self.provinces for b in p.birthplace_codes},
        )
        # Every personal ID number checked is looked up here: built once, not per call.
        object.__setattr__(self, "_birthplace_codes", frozenset(self._province_by_birthplace))


def _read_text(name: str) -> str:
    return resources.files("kernel.data").joinpath(name).read_text(encoding="utf-8")


@cache
def load_roster() -> Roster:
    """Load (once per process) the 34 provinces and 3,321 communes from the reference data."""
    province_rows = list(csv.DictReader(_read_text("provinces_2025_summary.csv").splitlines()))
    commune_rows = list(csv.DictReader(_read_text("communes_2025.csv").splitlines()))
    l1_by_province = {r["gso_code"]: r["agency_l1_code_derived"] for r in province_rows}
    communes = tuple(
        Commune(
            code=r["commune_code"],
            name=r["commune_name"],
            kind=r["commune_type"],
            province_code=r["province_gso_code"],
            old_codes=tuple(c for c in r["merged_from_old_codes"].split(";") if c),
            l1_code=l1_by_province[r["province_gso_code"]],
        )
        for r in commune_rows
    )
    by_province: dict[str, list[str]] = {}
    for c in communes:
        by_province.setdefault(c.province_code, []).append(c.code)
    provinces = tuple(
        Province(
            code=r["gso_code"],
            name=r["name"],
            l1_code=r["agency_l1_code_derived"],
            birthplace_codes=tuple(r["cccd_birthplace_codes"].split(";")),
            commune_codes=tuple(by_province[r["gso_code"]]),
        )
        for r in province_rows
    )
    splits = {k: tuple(v) for k, v in json.loads(_read_text("old_commune_splits.json")).items()}
    return Roster(provinces=provinces, communes=communes, old_commune_splits=splits)
