"""Request bodies of the portal API (pydantic; unknown keys are refused with 422).

Refusing unknown keys is what makes mass assignment impossible: a ``status``, ``owner``
or ``role`` key in a submission is an ``unknown_field`` error, never a silent override.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, Field, RootModel, StringConstraints, field_validator
from starlette.requests import Request

from kernel.personal_id import PersonalIdError, current_date, validate_personal_id
from mocks.core.errors import ApiError
from mocks.core.http import IsoDate, RequestModel, read_json

__all__ = [
    "CitizenLogin",
    "OfficerLogin",
    "LoginRequest",
    "ApplicantIn",
    "AttachmentIn",
    "SubmitDossier",
    "SubmitDossierPlanted",
    "TransitionRequest",
    "PaymentRequest",
    "PaymentCallback",
    "FeedbackIn",
    "read_request",
    "remap_personal_id_error",
]

M = TypeVar("M", bound=BaseModel)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CommuneCode = Annotated[str, StringConstraints(pattern=r"^\d{5}$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
FieldValue = Annotated[str, StringConstraints(max_length=1000)]


# Documented as a pattern in the OpenAPI schema; enforced by the validator below so the
# error names the broken rule (format, birthplace, birth_year) instead of "pattern mismatch".
PersonalIdStr = Annotated[
    str, StringConstraints(max_length=12), Field(json_schema_extra={"pattern": r"^[0-9]{12}$"})
]


def _personal_id(value: str) -> str:
    try:
        validate_personal_id(value)
    except PersonalIdError as exc:
        raise ValueError(f"invalid personal ID number ({exc.rule}): {exc}") from None
    return value


class CitizenLogin(RequestModel):
    """``POST /auth/token`` for a citizen: personal ID number + password."""

    kind: Literal["citizen"]
    personal_id: PersonalIdStr
    password: Password

    _check_id = field_validator("personal_id")(_personal_id)


class OfficerLogin(RequestModel):
    """``POST /auth/token`` for a commune officer: ``00004.officer1`` + password."""

    kind: Literal["officer"]
    account: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Password


class LoginRequest(RootModel[CitizenLogin | OfficerLogin]):
    """``POST /auth/token`` body: a citizen or an officer sign-in (told apart by ``kind``)."""


class ApplicantIn(RequestModel):
    """The applicant as declared on the dossier (checked against the population register)."""

    personal_id: PersonalIdStr
    full_name: Name
    date_of_birth: IsoDate

    _check_id = field_validator("personal_id")(_personal_id)

    @field_validator("date_of_birth")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > current_date() or value.year < 1900:
            raise ValueError("date of birth must be between 1900-01-01 and today")
        return value


class AttachmentIn(RequestModel):
    """A document attached to a dossier: the portal fetches ``url`` from the document store.

    Only URLs under the portal's ``attachment_allowlist`` are fetched (OWASP API7:2023,
    :mod:`mocks.portal.attachments`); any other is 422 naming ``attachments[i].url``.
    """

    name: Name
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class SubmitDossier(RequestModel):
    """``POST /dossiers``: a new dossier (hồ sơ) for one procedure at one commune."""

    procedure_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    commune_code: CommuneCode
    channel: Literal[1, 2, 3] = 2
    applicant: ApplicantIn
    fields: dict[FieldKey, FieldValue] = Field(default_factory=dict, max_length=30)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)


class SubmitDossierPlanted(SubmitDossier):
    """Planted weakness ``mass_assignment`` only: the client may set the initial status."""

    status: int | None = None


class TransitionRequest(RequestModel):
    """``POST /dossiers/{code}/transitions``: move a dossier to status ``to``."""

    to: int = Field(ge=1, le=10)
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class PaymentRequest(RequestModel):
    """``POST /dossiers/{code}/payments`` (body optional): which intermediary to pay through."""

    intermediary: Literal["napas", "vnpay", "viettel_money", "momo"] = "napas"


class PaymentCallback(RequestModel):
    """``POST /payments/callback``: the intermediary reports a collected payment."""

    payment_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    dossier_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    amount_vnd: int = Field(ge=0)
    status: Literal["paid", "failed"]
    transaction_ref: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    paid_at: Annotated[str, StringConstraints(max_length=64)]


class FeedbackIn(RequestModel):
    """``POST /feedback``: citizen feedback (phản ánh kiến nghị) about a commune."""

    commune_code: CommuneCode
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


def remap_personal_id_error(err: ApiError) -> ApiError:
    """Give a personal-ID rule violation its own error code (``invalid_personal_id``)."""
    if err.code == "invalid_field" and (err.field or "").endswith("personal_id"):
        return ApiError(err.status, "invalid_personal_id", err.message, err.field, err.headers)
    return err


async def read_request(request: Request, model: type[M]) -> M:
    """:func:`mocks.core.http.read_json`, with personal-ID errors named ``invalid_personal_id``."""
    try:
        return await read_json(request, model)
    except ApiError as err:
        raise remap_personal_id_error(err) from None
