"""JSON errors: ``{"error": {"code", "message", "field"}}`` for every failure a mock reports."""

from __future__ import annotations

import orjson
from starlette.responses import Response

__all__ = ["ApiError", "error_body", "error_response"]


class ApiError(Exception):
    """Raise anywhere in a handler to answer with a JSON error.

    ``code`` is a snake_case rule name (``invalid_personal_id``), ``field`` the dotted path
    of the offending input (``applicant.personal_id``, ``Idempotency-Key``) or ``None``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.extra = extra or {}  # more keys of the error object, e.g. {"legacy_code": 201}


def error_body(code: str, message: str, field: str | None = None, extra: dict[str, object] | None = None) -> bytes:
    """The JSON error document (also written by the protocol layer, before any app runs)."""
    return orjson.dumps({"error": {"code": code, "message": message, "field": field, **(extra or {})}})


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    """Build the JSON error response (never includes a traceback)."""
    return Response(error_body(code, message, field, extra), status_code=status, headers=headers, media_type="application/json")
