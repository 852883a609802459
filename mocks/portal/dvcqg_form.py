"""The integration-adapter face's error form and answers: ``{"error_code", "message", "field",
"reason"}`` with the HTTP status of the rule that refused the call (``Retry-After`` kept), and
``{"error_code": 0, "message": "OK", "result"}`` for success. The non-zero codes are
``kernel.national.dvcqg.ErrorCode`` (ours: the public callers only test for 0)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from kernel.national.dvcqg import ErrorCode
from mocks.core.errors import ApiError
from mocks.core.http import validation_error

__all__ = [
    "ERROR_SCHEMA", "LOGIN_RESPONSE_SCHEMA", "CALL_RESPONSE_SCHEMA", "error_code_of", "error_body", "face_error",
    "ok_answer", "in_face_form", "check_dstcode", "validate_item",
]  # fmt: skip

M = TypeVar("M", bound=BaseModel)

_ERROR_SCHEMA_PROPERTIES = {
    "error_code": {"type": "integer"},
    "message": {"type": "string"},
    "field": {"type": ["string", "null"]},
    "reason": {"type": "string"},
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {**_ERROR_SCHEMA_PROPERTIES, "result": {"type": "array", "items": {"type": "object"}}},
}
LOGIN_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["error_code"],
    "properties": {**_ERROR_SCHEMA_PROPERTIES, "session": {"type": "string"}, "expires_in": {"type": "integer"}},
}
CALL_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["error_code"],
    "properties": {**_ERROR_SCHEMA_PROPERTIES, "result": {"type": "array", "items": {"type": "object"}}},
}

_CODE_OF_REASON: dict[str, ErrorCode] = {
    "invalid_json": ErrorCode.INVALID_REQUEST, "invalid_body": ErrorCode.INVALID_REQUEST,
    "unsupported_media_type": ErrorCode.INVALID_REQUEST, "body_too_large": ErrorCode.INVALID_REQUEST,
    "missing_header": ErrorCode.MISSING_FIELD, "invalid_header": ErrorCode.INVALID_FIELD,
    "missing_field": ErrorCode.MISSING_FIELD, "invalid_field": ErrorCode.INVALID_FIELD,
    "invalid_personal_id": ErrorCode.INVALID_FIELD, "unknown_field": ErrorCode.UNKNOWN_FIELD,
    "unknown_service": ErrorCode.UNKNOWN_SERVICE,
    "not_found": ErrorCode.UNKNOWN_SERVICE, "method_not_allowed": ErrorCode.INVALID_REQUEST,  # the path, the method
    "invalid_credentials": ErrorCode.LOGIN_FAILED, "account_locked": ErrorCode.ACCOUNT_LOCKED,
    "sign_in_throttled": ErrorCode.THROTTLED, "invalid_token": ErrorCode.SESSION_INVALID,
    "missing_session": ErrorCode.SESSION_INVALID,
    "dossier_not_found": ErrorCode.DOSSIER_NOT_FOUND, "dossier_exists": ErrorCode.DOSSIER_EXISTS,
    "illegal_transition": ErrorCode.ILLEGAL_TRANSITION,
    "unknown_commune": ErrorCode.UNKNOWN_UNIT, "commune_abolished": ErrorCode.UNKNOWN_UNIT,
    "unknown_unit": ErrorCode.UNKNOWN_UNIT, "unknown_procedure": ErrorCode.UNKNOWN_PROCEDURE,
    "identity_mismatch": ErrorCode.IDENTITY_MISMATCH,
    "attachment_url_refused": ErrorCode.INVALID_FIELD, "attachment_unavailable": ErrorCode.INVALID_FIELD,
    "attachment_too_large": ErrorCode.INVALID_FIELD,
}  # fmt: skip
_CODE_OF_STATUS = {
    401: ErrorCode.SESSION_INVALID, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.DOSSIER_NOT_FOUND,
    409: ErrorCode.CONFLICT, 423: ErrorCode.ACCOUNT_LOCKED, 429: ErrorCode.THROTTLED,
}  # fmt: skip


def error_code_of(err: ApiError) -> ErrorCode:
    """The face's ``error_code`` for a refusal of the portal's rules (by its reason, else its status)."""
    code = _CODE_OF_REASON.get(err.code)
    if code is not None:
        return code
    if err.status >= 500:
        return ErrorCode.UNAVAILABLE
    return _CODE_OF_STATUS.get(err.status, ErrorCode.INVALID_REQUEST)


def error_body(err: ApiError) -> dict[str, object]:
    """The error object of ``err`` in the face's form."""
    message = err.message if not err.field or err.field in err.message else f"{err.field}: {err.message}"
    return {"error_code": int(error_code_of(err)), "message": message, "field": err.field, "reason": err.code}


def face_error(err: ApiError, result: list[dict[str, object]] | None = None) -> Response:
    """The face's error answer: ``{"error_code", "message", "field", "reason"}`` with the rule's
    HTTP status and headers (Retry-After kept)."""
    body = error_body(err)
    if result is not None:
        body["result"] = result
    return Response(orjson.dumps(body), status_code=err.status, headers=err.headers, media_type="application/json")


def ok_answer(result: list[dict[str, object]] | None = None, **extra: object) -> Response:
    """A successful answer: ``error_code`` 0, ``message`` "OK", and ``result`` when given."""
    body: dict[str, object] = {"error_code": 0, "message": "OK", **extra}
    if result is not None:
        body["result"] = result
    return Response(orjson.dumps(body), media_type="application/json")


def in_face_form(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler so that every refusal is answered in the face's form."""
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as err:
            return face_error(err)
        except ValidationError as exc:
            return face_error(validation_error(exc))

    answer.__doc__ = handler.__doc__
    return answer


def check_dstcode(request: Request) -> None:
    """The ``dstcode`` header is required (its form is checked, its value is not)."""
    value = request.headers.get("dstcode")
    if value is None or not value.strip():
        raise ApiError(400, "missing_header", "header dstcode (the destination's agency code) is required", "dstcode")
    if len(value) > 64 or not value.isascii() or not value.isprintable():
        raise ApiError(400, "invalid_header", "header dstcode must be 1–64 printable ASCII characters", "dstcode")


def validate_item(model: type[M], raw: object, prefix: str) -> M:
    """``raw`` checked against ``model``; an error names its field under ``prefix`` (``data[0]``)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, prefix=prefix) from None


