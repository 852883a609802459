"""``GET /admin/limits``: the abuse limits a service enforces, as in force (admin token).

A security scorecard must say which configuration it judged; this read-only route lets
``dientap security`` ask the target instead of assuming the defaults. Each service builds
its :class:`~kernel.service_limits.ServiceLimits` (it alone knows which limits it has and
which planted weakness turns one off) and adds the endpoint made here.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kernel.service_limits import LIMITS_PATH, ServiceLimits
from mocks.core.endpoint import Endpoint
from mocks.core.http import json_response

__all__ = ["limits_endpoint"]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with its ``#/$defs/`` references replaced by the definitions (response schemas sit inline)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def limits_endpoint(limits: ServiceLimits) -> Endpoint:
    """The admin route that answers ``limits`` (fixed for the life of the process)."""
    body = limits.model_dump(mode="json")
    schema = ServiceLimits.model_json_schema()
    schema = _inline(schema, schema.pop("$defs", {}))

    async def read_limits(request: Request) -> Response:
        return json_response(body)

    return Endpoint("GET", LIMITS_PATH, read_limits, "Abuse limits in force: throttle, lockout, token lifetime",
                    response_schema=schema, auth="admin", tags=("admin",))
