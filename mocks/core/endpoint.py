"""How a mock declares a route: method, path template, handler and its contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["Endpoint", "Param", "Handler", "ErrorForm"]

Handler = Callable[[Request], Awaitable[Response]]
#: Renders a refusal (``mocks.core.errors.ApiError``) in a face's own error form.
ErrorForm = Callable[[Any], Response]


@dataclass(frozen=True)
class Param:
    """A declared query, header or path parameter (for the OpenAPI document)."""

    name: str
    location: Literal["query", "header", "path"] = "query"
    required: bool = False
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One route of a service: method, path template, handler and its contract."""

    method: str
    path: str
    handler: Handler
    summary: str
    request_model: type[BaseModel] | None = None
    response_schema: dict[str, Any] | None = None
    auth: Literal["none", "bearer", "admin"] = "none"
    tags: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    request_content_type: str = "application/json"
    # The media type of every answer, success and error (a SOAP face answers in text/xml);
    # a non-JSON answer without a response_schema is documented as a binary string.
    response_content_type: str = "application/json"
    success_status: int = 200
    error_statuses: tuple[int, ...] = (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
    # A face with an error form of its own (the integration-adapter shape's ``error_code``):
    # refusals made before the handler runs (injected faults) are answered in it too, and the
    # OpenAPI document gives ``error_schema`` as the error answer.
    error_form: ErrorForm | None = None
    error_schema: dict[str, Any] | None = None
    # False only for a planted weakness's route (``legacy_routes``): served, absent from the OpenAPI.
    documented: bool = True
