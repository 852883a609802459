"""Personal identification numbers (số định danh cá nhân, printed on the CCCD card).

Layout ``PPP G YY RRRRRR`` (12 digits, no check digit):

* ``PPP`` — birthplace-registration province: one of the 63 pre-2025 codes ("001" Hà Nội,
  "079" Ho Chi Minh City, ...);
* ``G`` — sex and century: 1900s → 0 male / 1 female, 2000s → 2 / 3, 2100s → 4 / 5, ...;
* ``YY`` — last two digits of the birth year;
* ``RRRRRR`` — six random digits.

:func:`validate_personal_id` names the first rule a number breaks, so services can
answer 422 with that rule instead of a misleading 404.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any, Literal, NamedTuple

from kernel.roster import load_roster

__all__ = [
    "PersonalIdError",
    "PersonalId",
    "validate_personal_id",
    "make_personal_id",
    "current_date",
]

_PATTERN = re.compile(r"\d{12}")
Sex = Literal["male", "female"]


class PersonalIdError(ValueError):
    """A personal ID number breaks a structural rule; ``rule`` names which."""

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(message)


class PersonalId(NamedTuple):
    """A structurally valid personal ID number, decoded (a tuple: every dossier and look-up
    decodes one, and a frozen dataclass costs four times as much to build)."""

    value: str
    birthplace_code: str
    sex: Sex
    birth_year: int


def validate_personal_id(value: object, *, today: dt.date | None = None) -> PersonalId:
    """Decode ``value`` or raise :class:`PersonalIdError` naming the broken rule.

    Rules, checked in order: ``format`` (exactly 12 ASCII digits), ``birthplace``
    (a known old province code), ``birth_year`` (century digit and year give a year
    that is not in the future).
    """
    if not isinstance(value, str) or not _PATTERN.fullmatch(value) or not value.isascii():
        raise PersonalIdError("format", "personal ID number must be exactly 12 digits")
    birthplace = value[:3]
    if birthplace not in load_roster().birthplace_codes:
        raise PersonalIdError("birthplace", f"unknown birthplace code {birthplace!r}")
    gender_century = int(value[3])
    year = 1900 + 100 * (gender_century // 2) + int(value[4:6])
    this_year = (today or current_date()).year
    if year > this_year:
        raise PersonalIdError(
            "birth_year",
            f"sex/century digit {gender_century} with year digits {value[4:6]} give {year}, in the future",
        )
    return PersonalId(
        value=value,
        birthplace_code=birthplace,
        sex="male" if gender_century % 2 == 0 else "female",
        birth_year=year,
    )


_today_cache: list[Any] = [dt.date.min, 0.0]  # [date, until]


def current_date() -> dt.date:
    """Today's local date, read from the clock at most once a minute.

    ``date.today()`` costs a quarter of a whole ID check, and every look-up and dossier
    runs one; the price is that for up to a minute after midnight a birth on the new day
    is still "in the future".
    """
    now = time.time()
    if now >= _today_cache[1]:
        _today_cache[0], _today_cache[1] = dt.date.today(), now + 60
    return _today_cache[0]


def make_personal_id(birthplace_code: str, sex: Sex, birth_year: int, serial: int) -> str:
    """Compose a personal ID number from its parts (``serial`` is 0–999,999)."""
    if not 1900 <= birth_year <= 2399:
        raise ValueError(f"birth_year {birth_year} outside 1900–2399")
    if not 0 <= serial <= 999_999:
        raise ValueError(f"serial {serial} outside 0–999999")
    digit = 2 * ((birth_year - 1900) // 100) + (0 if sex == "male" else 1)
    return f"{birthplace_code}{digit}{birth_year % 100:02d}{serial:06d}"
