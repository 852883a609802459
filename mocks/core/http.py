"""Request parsing with field-naming errors, and fast JSON responses.

Bodies are read with a hard size limit (413 before parsing), JSON is validated by
pydantic-core in one pass (``model_validate_json``), and every failure becomes an
:class:`~mocks.core.errors.ApiError` naming the field and the rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from kernel.configfile import data_loc, field_path
from mocks.core.errors import ApiError

__all__ = [
    "IsoDate", "PRINTABLE_ASCII", "RequestModel", "read_body", "read_json", "json_response", "require_header",
    "validation_error",
]

M = TypeVar("M", bound=BaseModel)


def _not_a_number(value: object) -> object:
    if isinstance(value, (int, float)):  # bool is an int too
        raise ValueError("expected an ISO date YYYY-MM-DD (a string), not a number")
    return value


#: A date field of a request: an ISO date string (or a date the code built), as the
#: OpenAPI document's ``format: date`` says — not pydantic's lax epoch seconds (0 → 1970-01-01).
IsoDate = Annotated[dt.date, BeforeValidator(_not_a_number)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown keys are refused (mass assignment has no effect)."""

    model_config = {"extra": "forbid", "str_max_length": 10_000}


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise ``obj`` with orjson (dataclasses, dates and pydantic dumps supported)."""
    return Response(orjson.dumps(obj), status_code=status, headers=headers, media_type="application/json")


async def read_body(request: Request, *, max_bytes: int | None = None) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit."""
    limit = max_bytes or request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid_header", "Content-Length must be a whole number", "Content-Length")
        if int(declared) > limit:
            raise ApiError(413, "body_too_large", f"body exceeds the {limit}-byte limit", None)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"body exceeds the {limit}-byte limit", None)
        chunks.append(chunk)
    return b"".join(chunks)


def validation_error(exc: ValidationError, *, prefix: str = "") -> ApiError:
    """Turn the first pydantic error into a 400/422 :class:`ApiError` naming the field."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = data_loc(tuple(first["loc"]), first["type"])
    field = field_path(loc) or None
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    kind = first["type"]
    if kind == "json_invalid":
        return ApiError(400, "invalid_json", f"body is not valid JSON: {first['msg']}", None)
    if kind in ("model_type", "model_attributes_type", "dict_type") and not field:
        return ApiError(422, "invalid_body", "body must be a JSON object", None)
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # a nested object, or a list's entry
        return ApiError(422, "invalid_field", f"{field}: must be a JSON object", field)
    if kind == "extra_forbidden":
        return ApiError(422, "unknown_field", f"unknown field {field!r} is not accepted", field)
    if kind == "missing":
        return ApiError(422, "missing_field", f"required field {field!r} is missing", field)
    return ApiError(422, "invalid_field", f"{field}: {first['msg']}", field)


async def read_json(request: Request, model: type[M]) -> M:
    """Read, size-check and validate a JSON body against ``model``."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json", "Content-Type")
    body = await read_body(request)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


#: A header value :func:`require_header` accepts, as an OpenAPI pattern: printable ASCII,
#: not blank (HTTP strips the spaces around a value).
PRINTABLE_ASCII = "^[!-~]([ -~]*[!-~])?$"


def require_header(request: Request, name: str, *, max_length: int = 128) -> str:
    """A required, printable-ASCII, bounded header value (400 naming the header otherwise)."""
    value = request.headers.get(name)
    if value is None or not value.strip():
        raise ApiError(400, "missing_header", f"header {name} is required", name)
    if len(value) > max_length or not value.isascii() or not value.isprintable():
        raise ApiError(400, "invalid_header", f"header {name} must be 1–{max_length} printable characters", name)
    return value
