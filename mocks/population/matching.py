"""Identity verification: does (ID number, full name, date of birth) match the register?

The answer is one boolean. A mismatch must not say *which* field differed — that would
let a caller guess names or birth dates one field at a time — so :func:`verify_identity`
returns the differing fields only for the planted ``verify_leak`` weakness to report.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from mocks.population.store import CitizenRecord

__all__ = ["normalise_name", "VerifyOutcome", "verify_identity"]


def normalise_name(name: str) -> str:
    """Canonical form of a Vietnamese name for comparison.

    NFC first, so precomposed and decomposed diacritics ("ễ" vs "e"+"̂"+"̃") agree;
    casefold, then NFC again because casefolding can decompose; whitespace runs
    collapse to one space because forms and OCR add stray spaces. Diacritics are kept:
    "Lê" and "Le" are different names.
    """
    folded = unicodedata.normalize("NFC", name).casefold()
    return " ".join(unicodedata.normalize("NFC", folded).split())


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    """Result of a verification; ``mismatched`` is for the planted leak only."""

    match: bool
    mismatched: tuple[str, ...]


_UNKNOWN = VerifyOutcome(False, ("personal_id",))


def verify_identity(
    record: CitizenRecord | None, full_name: str, date_of_birth: dt.date | int
) -> VerifyOutcome:
    """Compare the claimed name and birth date with ``record`` (``None`` = unknown ID).

    A birth *year* alone (an ``int``: the SOAP face's ``NgayThangNamSinh/Nam``, for
    citizens whose register entry has only a year) is compared with the year only.
    """
    if record is None:
        return _UNKNOWN
    mismatched: list[str] = []
    if normalise_name(full_name) != normalise_name(record.full_name):
        mismatched.append("full_name")
    if isinstance(date_of_birth, int):
        if f"{date_of_birth:04d}" != record.date_of_birth[:4]:
            mismatched.append("date_of_birth")
    elif date_of_birth.isoformat() != record.date_of_birth:
        mismatched.append("date_of_birth")
    return VerifyOutcome(not mismatched, tuple(mismatched))
