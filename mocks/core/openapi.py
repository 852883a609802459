"""The OpenAPI 3.1 document of a mock, generated from its endpoint declarations and the
same pydantic models that validate its requests, so the document cannot drift from the code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mocks.core.endpoint import Endpoint, Param

__all__ = ["openapi_document"]


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}


def openapi_document(name: str, endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        if not ep.documented:
            continue
        params = list(ep.params)
        declared = {p.name for p in params if p.location == "path"}
        for path_param in re.findall(r"{(\w+)}", ep.path):
            if path_param not in declared:
                params.append(Param(path_param, "path", True))
        operation: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', ep.path).strip('_') or 'root'}",
            "tags": list(ep.tags) or [name],
            "parameters": [
                {
                    "name": p.name,
                    "in": p.location,
                    "required": p.required or p.location == "path",
                    "schema": p.schema,
                    **({"description": p.description} if p.description else {}),
                }
                for p in params
            ],
            "responses": {
                str(ep.success_status): {
                    "description": "Success",
                    "content": {ep.response_content_type: {"schema": ep.response_schema or {"type": "object"}}}
                    if ep.path not in ("/metrics",)
                    and (ep.response_content_type == "application/json" or ep.response_schema is not None)
                    else {ep.response_content_type: {"schema": {"type": "string", "format": "binary"}}}
                    if ep.response_content_type != "application/json"
                    else {"text/plain": {"schema": {"type": "string"}}},
                },
                "default": {
                    "description": "Error",
                    # A face with an error form of its own answers errors in its own media
                    # type (SOAP faults in text/xml); any other route's errors are the JSON
                    # Error, whatever its success answers are (a stored file's 404).
                    "content": {
                        ep.response_content_type: {"schema": ep.error_schema}
                    } if ep.error_schema is not None else {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
        if ep.auth == "bearer":
            operation["security"] = [{"bearerAuth": []}]
        elif ep.auth == "admin":
            operation["security"] = [{"adminToken": []}]
        if ep.request_model is not None:
            schema = ep.request_model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[ep.request_model.__name__] = schema
            operation["requestBody"] = {
                "required": True,
                "content": {ep.request_content_type: {"schema": {"$ref": f"#/components/schemas/{ep.request_model.__name__}"}}},
            }
        elif ep.request_content_type != "application/json":
            operation["requestBody"] = {"required": True, "content": {ep.request_content_type: {"schema": {"type": "string"}}}}
        paths.setdefault(ep.path, {})[ep.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": f"dientap mock: {name}", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "adminToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }
