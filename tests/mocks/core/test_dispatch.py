"""Direct dispatch from the service middleware answers exactly as Starlette's router did."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from mocks.core.app import Endpoint, build_service_app
from mocks.core.dispatch import RouteTable
from mocks.core.errors import ApiError
from mocks.core.http import json_response
from mocks.core.settings import ServiceSettings


class _Strict(BaseModel):
    n: int


async def _echo(request: Request) -> Response:
    return json_response({"id": request.path_params["item_id"], "app": request.app.state.service_name})


async def _refuse(request: Request) -> Response:
    raise ApiError(409, "conflict_here", "refused on purpose", "item_id")


async def _invalid(request: Request) -> Response:
    _Strict.model_validate({"n": "not a number"})
    return json_response({})


async def _crash(request: Request) -> Response:
    raise RuntimeError("secret internals")


ENDPOINTS = [
    Endpoint("GET", "/items/{item_id}", _echo, "echo"),
    Endpoint("DELETE", "/items/{item_id}", _refuse, "refuse"),
    Endpoint("POST", "/invalid", _invalid, "invalid"),
    Endpoint("GET", "/crash", _crash, "crash"),
    Endpoint("POST", "/items/special", _invalid, "a static path under the template"),
]


@pytest.fixture
def client(tmp_path) -> httpx.AsyncClient:
    app = build_service_app("probe", ServiceSettings(data_dir=tmp_path), ENDPOINTS, lambda: {"counts": {}, "ids": {}})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://probe")


def _run(coro):
    return asyncio.run(coro)


def test_the_table_resolves_templates_and_converts_parameters() -> None:
    table = RouteTable(ENDPOINTS, lambda ep: ep.handler)
    route, params = table.resolve("/items/42")
    assert (route.template, params, sorted(route.handlers)) == ("/items/{item_id}", {"item_id": "42"}, ["DELETE", "GET"])
    assert table.resolve("/crash")[0].template == "/crash"
    assert table.resolve("/items/4/2") == (None, {})


def test_paths_under_a_face_s_prefix_keep_the_face_s_error_form() -> None:
    def form(exc: ApiError) -> Response:
        return Response(exc.code.encode(), status_code=exc.status)

    table = RouteTable([*ENDPOINTS, Endpoint("POST", "/face/call", _echo, "a face", error_form=form)], lambda ep: ep.handler)
    assert table.face_form("/face/other") is form and table.face_form("/face/call/deeper") is form
    assert table.face_form("/face") is form  # the face's root without its slash: still the face
    assert table.face_form("/items/9") is None and table.face_form("/items") is None and table.face_form("/") is None


def test_handlers_get_path_params_and_the_app(client: httpx.AsyncClient) -> None:
    reply = _run(client.get("/items/7"))
    assert (reply.status_code, reply.json()) == (200, {"id": "7", "app": "probe"})


def test_api_errors_and_validation_errors_keep_their_json_shape(client: httpx.AsyncClient) -> None:
    refused = _run(client.delete("/items/7"))
    assert refused.status_code == 409
    assert refused.json()["error"] == {"code": "conflict_here", "message": "refused on purpose", "field": "item_id"}
    invalid = _run(client.post("/invalid"))
    assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "n"


def test_404_and_head_from_starlette_and_405_naming_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    missing = _run(client.get("/nowhere"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong_method = _run(client.put("/items/7"))
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")
    # Every method of the template, not only those of the first route object Starlette meets.
    assert wrong_method.headers["allow"] == "DELETE, GET, HEAD"
    # A static path shadowing a template keeps its own methods: GET /items/special is not GET /items/{item_id}.
    shadowed = _run(client.get("/items/special"))
    assert (shadowed.status_code, shadowed.headers["allow"]) == (405, "POST")
    assert _run(client.head("/items/special")).headers["allow"] == "POST"
    head = _run(client.head("/items/7"))
    assert (head.status_code, head.content) == (200, b"")


def test_an_unhandled_error_is_a_500_without_internals(client: httpx.AsyncClient) -> None:
    reply = _run(client.get("/crash"))
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in reply.text and "Traceback" not in reply.text


def test_metrics_label_dispatched_and_fallback_requests_by_template(client: httpx.AsyncClient) -> None:
    async def scenario() -> str:
        await client.get("/items/1")
        await client.get("/items/2")
        await client.get("/nowhere/at/all")
        return (await client.get("/metrics")).text

    text = _run(scenario())
    assert 'route="/items/{item_id}",service="probe",status_class="2xx"} 2.0' in text
    assert 'route="unmatched",service="probe",status_class="4xx"} 1.0' in text
    assert "/items/1" not in text
