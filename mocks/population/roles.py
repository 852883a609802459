"""Who may see what: the caller roles of the population mock and the fields each receives.

The table :data:`ROLE_FIELDS` is the whole policy — data minimisation per caller:

=================  =====================================================================
role               fields of ``GET /citizens/{personal_id}``
=================  =====================================================================
``police``         personal_id, full_name, date_of_birth, sex, address, commune_code,
                   province_code (the full record: the police run the register)
``portal``         personal_id, full_name, date_of_birth, commune_code (enough to pre-fill
                   and route a dossier; no address, no sex)
``commune_officer`` personal_id, full_name, birth_year, commune_code (enough to identify the
                   applicant at the counter; the exact birth date, sex and address stay
                   hidden)
=================  =====================================================================

The commune officer's ``full_name`` is *not* masked: officers match the applicant in
front of them by name, and a masked name would push them to the verify endpoint with
guesses. What they lose is what identity thieves need most — exact date of birth and
address.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType

from mocks.population.store import CITIZEN_FIELDS, CitizenRecord

__all__ = ["Role", "ROLE_FIELDS", "ALL_FIELDS", "citizen_view"]


class Role(StrEnum):
    """The role a client system acts in (carried in its token's ``role`` claim)."""

    POLICE = "police"
    PORTAL = "portal"
    COMMUNE_OFFICER = "commune_officer"


# Every field any role may receive: the stored columns plus the derived birth_year.
ALL_FIELDS: tuple[str, ...] = (*CITIZEN_FIELDS, "birth_year")

ROLE_FIELDS: Mapping[Role, tuple[str, ...]] = MappingProxyType(
    {
        Role.POLICE: CITIZEN_FIELDS,
        Role.PORTAL: ("personal_id", "full_name", "date_of_birth", "commune_code"),
        Role.COMMUNE_OFFICER: ("personal_id", "full_name", "birth_year", "commune_code"),
    }
)


def _birth_year(record: CitizenRecord) -> int:
    return int(record.date_of_birth[:4])


_GETTERS: dict[str, Callable[[CitizenRecord], object]] = {
    name: attrgetter(name) for name in CITIZEN_FIELDS
}
_GETTERS["birth_year"] = _birth_year
# Pre-bound (name, getter) pairs per role, so a look-up does no table walking.
_VIEWS: dict[Role, tuple[tuple[str, Callable[[CitizenRecord], object]], ...]] = {
    role: tuple((name, _GETTERS[name]) for name in fields) for role, fields in ROLE_FIELDS.items()
}
_UNMASKED = tuple((name, _GETTERS[name]) for name in ALL_FIELDS)


def citizen_view(record: CitizenRecord, role: Role, *, unmasked: bool = False) -> dict[str, object]:
    """The part of ``record`` that ``role`` may see, as a JSON-ready mapping.

    ``unmasked`` is the planted ``unmasked_population`` weakness (security drills only):
    every role then receives every field.
    """
    view = _UNMASKED if unmasked else _VIEWS[role]
    return {name: get(record) for name, get in view}
