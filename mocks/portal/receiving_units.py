"""A dossier's receiving unit: a 2025 commune, or — while the readiness profile keeps the old
tier open (``district_tier: open``) — one of the 208 synthesized district-level units
(:mod:`kernel.districts`), refused with its successors once the tier has closed."""

from __future__ import annotations

from starlette.requests import Request

from kernel.districts import District, district_tier
from kernel.roster import Commune, load_roster
from mocks.core.district_tier import tier_switch
from mocks.core.errors import ApiError

__all__ = ["district_closed", "district_unit", "receiving_unit_name"]


def district_unit(request: Request, district: District) -> Commune:
    """A district unit as the receiving unit of a dossier, while the old tier is open
    (``district_tier: open``); once it has closed, 422 ``district_closed`` naming the successors."""
    if not tier_switch(request).is_open:
        raise district_closed(district)
    province = load_roster().province(district.province_code)
    # Synthesized like the unit (kernel.districts): the dossier's code starts with the unit code.
    return Commune(district.unit_code, _district_name(district), "district",
                   province.code, district.old_communes, province.l1_code)


def district_closed(district: District) -> ApiError:
    """422 ``district_closed``: the unit closed on 2025-07-01, its successor communes named."""
    successors = list(district.successors)
    return ApiError(
        422,
        "district_closed",
        f"district unit {district.unit_code} ({district.agency_code}) closed on 2025-07-01; submit to one of its "
        "successor communes: " + ", ".join(successors),
        "commune_code",
        extra={"successors": successors},
    )


def _district_name(district: District) -> str:
    return f"Cấp huyện số {district.number:02d} ({load_roster().province(district.province_code).name}, trước 2025)"


def receiving_unit_name(commune_code: str) -> str:
    """The name of a dossier's receiving unit: a 2025 commune, or a closed district unit
    (``9PPDD``, filed while the old tier was open and not yet migrated)."""
    district = district_tier().by_unit(commune_code)
    return _district_name(district) if district is not None else load_roster().commune(commune_code).name
