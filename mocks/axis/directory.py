"""The agency directory of the document axis, built from the 2025 roster.

Who may send and receive: the Government Office (``000.00.00.G22``), the 34 provincial
People's Committees (``000.00.00.H26``), the 3,321 commune People's Committees
(``H26.00004``) — all *open* — and the abolished pre-2025 district-level People's
Committees (``000.00.01.H26`` …), kept in the directory as *closed* so that a document
addressed to one is refused with a reason instead of "unknown recipient".

The directory is immutable and held in memory (≈ 3,600 small frozen records); listing
is paginated by an offset cursor over a fixed order (roster order).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.roster import GOVERNMENT_OFFICE_CODE, Roster, load_roster

__all__ = [
    "Agency",
    "AgencyDirectory",
    "AgencyLevel",
    "AgencyPage",
    "AgencyStatus",
    "DISTRICT_CLOSED_REASON",
    "build_directory",
]

DISTRICT_CLOSED_REASON = "abolished 2025-07-01 (district tier removed)"


class AgencyStatus(StrEnum):
    """Whether an agency can still send and receive documents."""

    OPEN = "open"
    CLOSED = "closed"


class AgencyLevel(StrEnum):
    """Tier of government an agency belongs to."""

    CENTRAL = "central"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


@dataclass(frozen=True, slots=True)
class Agency:
    """One entry of the national agency directory."""

    code: str
    name: str
    level: AgencyLevel
    province_code: str | None
    status: AgencyStatus
    closed_reason: str | None = None

    @property
    def is_open(self) -> bool:
        """True when the agency may sign in, send and receive."""
        return self.status is AgencyStatus.OPEN

    def to_json(self) -> dict[str, str | None]:
        """The JSON shape served by ``GET /agencies``."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level.value,
            "province_code": self.province_code,
            "status": self.status.value,
            "closed_reason": self.closed_reason,
        }


@dataclass(frozen=True, slots=True)
class AgencyPage:
    """One page of a directory listing; ``next_cursor`` is ``None`` on the last page."""

    agencies: tuple[Agency, ...]
    next_cursor: int | None


class AgencyDirectory:
    """All agencies, with look-up by code and filtered, paginated listing."""

    def __init__(self, agencies: list[Agency]):
        self._agencies = tuple(agencies)
        self._by_code = {a.code: a for a in self._agencies}
        if len(self._by_code) != len(self._agencies):
            raise ValueError("duplicate agency codes in the directory")

    def __len__(self) -> int:
        return len(self._agencies)

    def get(self, code: str) -> Agency | None:
        """The agency with this code, or ``None`` when it was never registered."""
        return self._by_code.get(code)

    def list(
        self,
        *,
        province: str | None = None,
        status: AgencyStatus | None = None,
        limit: int = 100,
        cursor: int = 0,
    ) -> AgencyPage:
        """Agencies matching the filters, starting at offset ``cursor`` (from a previous page)."""
        matching = [
            a
            for a in self._agencies
            if (province is None or a.province_code == province) and (status is None or a.status is status)
        ]
        page = tuple(matching[cursor : cursor + limit])
        end = cursor + len(page)
        return AgencyPage(page, end if end < len(matching) else None)


def build_directory(roster: Roster | None = None) -> AgencyDirectory:
    """The directory for ``roster`` (default: the 2025 reference roster)."""
    roster = roster or load_roster()
    agencies = [
        Agency(GOVERNMENT_OFFICE_CODE, "Văn phòng Chính phủ", AgencyLevel.CENTRAL, None, AgencyStatus.OPEN)
    ]
    for province in roster.provinces:
        agencies.append(
            Agency(
                province.agency_code,
                f"Ủy ban nhân dân {province.name}",
                AgencyLevel.PROVINCE,
                province.code,
                AgencyStatus.OPEN,
            )
        )
        for commune in roster.communes_of(province.code):
            agencies.append(
                Agency(
                    commune.agency_code,
                    f"Ủy ban nhân dân {commune.name}",
                    AgencyLevel.COMMUNE,
                    province.code,
                    AgencyStatus.OPEN,
                )
            )
        for number, code in enumerate(province.closed_district_agency_codes, start=1):
            agencies.append(
                Agency(
                    code,
                    # The roster has no district list: the name is synthesized like the code.
                    f"Ủy ban nhân dân cấp huyện số {number:02d} ({province.name}, trước 2025)",
                    AgencyLevel.DISTRICT,
                    province.code,
                    AgencyStatus.CLOSED,
                    DISTRICT_CLOSED_REASON,
                )
            )
    return AgencyDirectory(agencies)
