"""Deterministic synthetic citizens for the dry run.

The population mock seeds its database from :func:`citizen_at`, and the scenarios pick
applicants with the same function, so both sides agree on who exists without sharing a
database: citizen *i* under seed *s* is always the same person. Names come from Faker's
``vi_VN`` word lists, composed with a seeded PRNG because per-record Faker calls would
make seeding 100,000 citizens take minutes instead of seconds.
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

from faker.providers.address.vi_VN import Provider as _AddressWords
from faker.providers.person.vi_VN import Provider as _NameWords

from kernel.personal_id import Sex, make_personal_id
from kernel.roster import Roster, load_roster

__all__ = ["Citizen", "citizen_at", "citizens", "MAX_POPULATION"]

# The 6-digit serial is index * _STRIDE mod 10^6; _STRIDE is coprime to 10^6, so the
# serials — and therefore the ID numbers — are unique for up to a million citizens.
MAX_POPULATION = 1_000_000
_STRIDE = 7919
_REFERENCE_YEAR = 2025
# "Thị" marks a female middle name and "Văn" a male one; keep them on the right side.
_MIDDLE_MALE = tuple(sorted({m for m in _NameWords.middle_names if m != "Thị"}))
_MIDDLE_FEMALE = tuple(sorted({m for m in _NameWords.middle_names if m != "Văn"}))


@dataclass(frozen=True, slots=True)
class Citizen:
    """One synthetic resident of a 2025 commune."""

    index: int
    personal_id: str
    full_name: str
    date_of_birth: dt.date
    sex: str
    commune_code: str
    province_code: str
    address: str


@cache
def _commune_weights(roster: Roster) -> list[int]:
    return list(accumulate(c.size_weight for c in roster.communes))


def citizen_at(seed: int, index: int, roster: Roster | None = None) -> Citizen:
    """The citizen number ``index`` (0-based) of the population generated from ``seed``."""
    if not 0 <= index < MAX_POPULATION:
        raise ValueError(f"citizen index {index} outside 0–{MAX_POPULATION - 1}")
    roster = roster or load_roster()
    rng = random.Random(seed * 1_000_003 + index)
    weights = _commune_weights(roster)
    commune = roster.communes[bisect_right(weights, rng.randrange(weights[-1]))]
    province = roster.province(commune.province_code)
    birthplace = (
        rng.choice(province.birthplace_codes)
        if rng.random() < 0.8
        else rng.choice(sorted(roster.birthplace_codes))
    )
    sex: Sex = "male" if rng.random() < 0.5 else "female"
    year = rng.randint(_REFERENCE_YEAR - 80, _REFERENCE_YEAR - 16)
    dob = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
    if sex == "male":
        given = f"{rng.choice(_MIDDLE_MALE)} {rng.choice(_NameWords.first_names_male)}"
    else:
        given = f"{rng.choice(_MIDDLE_FEMALE)} {rng.choice(_NameWords.first_names_female)}"
    full_name = f"{rng.choice(_NameWords.last_names)} {given}"
    street = rng.choice(_AddressWords.streets)
    address = f"Số {rng.randint(1, 500)} {street}, {commune.name}, {province.name}"
    serial = (index * _STRIDE + seed) % MAX_POPULATION
    return Citizen(
        index=index,
        personal_id=make_personal_id(birthplace, sex, year, serial),
        full_name=full_name,
        date_of_birth=dob,
        sex=sex,
        commune_code=commune.code,
        province_code=province.code,
        address=address,
    )


def citizens(seed: int, size: int) -> list[Citizen]:
    """The first ``size`` citizens of the population generated from ``seed``."""
    roster = load_roster()
    return [citizen_at(seed, i, roster) for i in range(size)]
