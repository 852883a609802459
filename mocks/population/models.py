"""Request and response bodies of the population mock (request models refuse unknown keys).

The response models exist for ``/openapi.json``; handlers build plain dicts for orjson,
because validating our own output on every look-up would cost more than the look-up.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from mocks.core.http import IsoDate, RequestModel

__all__ = [
    "TokenRequest",
    "TokenResponse",
    "VerifyRequest",
    "VerifyResponse",
    "VerifyBatchItem",
    "VerifyBatchRequest",
    "VerifyBatchResponse",
    "VERIFY_BATCH_MAX",
    "CitizenResponse",
    "AuditEntryResponse",
    "AuditPage",
    "PURPOSE_MAX",
    "PERSONAL_ID_PATTERN",
]

PURPOSE_MAX = 200
VERIFY_BATCH_MAX = 100
# Documented in the schema; enforced by the handler, whose 422 names the broken rule.
PERSONAL_ID_PATTERN = "^[0-9]{12}$"


class TokenRequest(RequestModel):
    """Client-credentials grant of an agency system (``portal``, ``police``, ``province-NN``)."""

    client_id: str = Field(min_length=1, max_length=64)
    client_secret: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    """A bearer token for the client system."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class VerifyRequest(RequestModel):
    """Does this person exist with this name and date of birth? ``purpose`` is audited."""

    # Structure (12 digits, birthplace, birth year) is checked by the handler, so the
    # 422 names the broken rule rather than a generic pattern.
    personal_id: str = Field(min_length=1, max_length=64, json_schema_extra={"pattern": PERSONAL_ID_PATTERN})
    full_name: str = Field(min_length=1, max_length=200)
    date_of_birth: IsoDate
    purpose: str = Field(min_length=1, max_length=PURPOSE_MAX)


class VerifyResponse(BaseModel):
    """Match or no match — nothing else, whatever differed."""

    match: bool


class VerifyBatchItem(VerifyRequest):
    """One item of a batch: a personal ID number that breaks a rule of its form is no
    refusal of the batch but this item's ``results[i].error``, so the schema leaves it open."""

    personal_id: str = Field(min_length=1, max_length=64, description=(
        "12 digits by the personal-ID rules; an item breaking them is answered in its result's error"))


class VerifyBatchRequest(RequestModel):
    """Several verifications in one call: a portal checking the submissions in flight."""

    items: list[VerifyBatchItem] = Field(min_length=1, max_length=VERIFY_BATCH_MAX)


class ItemError(BaseModel):
    """Why one item of a batch could not be checked (the rule it broke)."""

    code: str
    message: str
    field: str | None


class VerifyBatchResult(BaseModel):
    """One item's answer: match or no match, or the input rule it broke (then no match)."""

    match: bool
    error: ItemError | None = Field(default=None, description="present only when the item broke an input rule")


class VerifyBatchResponse(BaseModel):
    """One result per item, in the order of the request."""

    results: list[VerifyBatchResult]


class CitizenResponse(BaseModel):
    """A citizen as the caller's role may see it; absent fields are withheld by role."""

    personal_id: str
    full_name: str
    date_of_birth: dt.date | None = Field(default=None, description="police and portal only")
    birth_year: int | None = Field(default=None, description="commune officers (instead of date_of_birth)")
    sex: Literal["male", "female"] | None = Field(default=None, description="police only")
    address: str | None = Field(default=None, description="police only")
    commune_code: str
    province_code: str | None = Field(default=None, description="police only")


class AuditEntryResponse(BaseModel):
    """One audited look-up or verification."""

    id: int
    at: str = Field(description="ISO 8601 UTC time")
    caller: str = Field(description="client system id, e.g. province-01")
    role: str
    subject: str = Field(description="personal ID number looked up (as given, even if malformed)")
    purpose: str
    action: Literal["lookup", "verify"]
    result: str = Field(description="found, not_found, match, mismatch, or the error code")


class AuditPage(BaseModel):
    """Newest-first audit entries."""

    entries: list[AuditEntryResponse]
    count: int
