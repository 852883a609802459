"""Toxiproxy's HTTP API (``api.go``) as a Starlette app over a :class:`ProxyRegistry`.

Same routes, methods, status codes and bodies as Toxiproxy 2.x: proxy create 201, toxic create
200, deletes and ``/reset`` 204, errors ``{"error": "...", "status": N}``. Requests whose
User-Agent starts with ``Mozilla/`` are refused (403) as in Toxiproxy, so a web page cannot
drive the proxy from a browser. The app must run on the event loop that owns the registry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from drills.faultproxy.errors import FaultProxyApiError, bad_request_body
from drills.faultproxy.models import (
    ProxySpec,
    parse_proxy_spec,
    parse_proxy_update,
    parse_toxic_spec,
    parse_toxic_update,
)
from drills.faultproxy.proxy import ProxyRegistry

__all__ = ["create_app", "API_VERSION", "MAX_BODY_BYTES", "BODY_TIMEOUT_S"]

# The Toxiproxy API version whose behaviour this implements; clients may compare it.
API_VERSION = "2.12.0"
MAX_BODY_BYTES = 1024 * 1024
# The API answers one request at a time (the lock in _endpoint), so a body is read before the
# lock is taken and must arrive within this long: a client that announced a body and never
# sent it held every other call, the drill's own fault removals and rollback among them.
BODY_TIMEOUT_S = 5.0

Handler = Callable[[Request, ProxyRegistry], Awaitable[Response]]


def _error(exc: FaultProxyApiError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.status)


async def _read_body(request: Request, timeout_s: float) -> bytes:
    """The whole body, at most :data:`MAX_BODY_BYTES` (413 past it, not read to its end) and
    within ``timeout_s`` (408); kept on the request (``request.state.body``) for its handler."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise FaultProxyApiError(f"bad request body: larger than {MAX_BODY_BYTES} bytes", 413)
                chunks.append(chunk)
    except TimeoutError:
        raise FaultProxyApiError(f"bad request body: not received within {timeout_s:g} s", 408) from None
    body = b"".join(chunks)
    request.state.body = body
    return body


async def _json_body(request: Request) -> object:
    raw: bytes = request.state.body  # read already, bounded, by _endpoint
    if not raw.strip():
        raise bad_request_body("EOF (empty body, expected JSON)")
    try:
        return json.loads(raw)
    except RecursionError:  # json nests recursively: a few thousand brackets were a 500
        raise bad_request_body("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, or an integer of more than 4,300 digits
        raise bad_request_body(f"invalid JSON: {exc}") from None


async def reset_state(request: Request, registry: ProxyRegistry) -> Response:
    """``POST /reset``: enable every proxy, remove every toxic."""
    await registry.reset()
    return Response(status_code=204)


async def proxy_index(request: Request, registry: ProxyRegistry) -> Response:
    """``GET /proxies``: ``{name: proxy}``."""
    return JSONResponse({name: proxy.to_json() for name, proxy in registry.proxies.items()})


async def proxy_create(request: Request, registry: ProxyRegistry) -> Response:
    """``POST /proxies``: create one proxy → 201."""
    spec = parse_proxy_spec(await _json_body(request))
    proxy = await registry.create(spec)
    return JSONResponse(proxy.to_json(), status_code=201)


async def populate(request: Request, registry: ProxyRegistry) -> Response:
    """``POST /populate``: create or replace a list of proxies → 201 ``{"proxies": [...]}``."""
    try:
        body = await _json_body(request)
        if not isinstance(body, list):
            raise bad_request_body(f"expected a JSON array of proxies, got {type(body).__name__}")
        specs = [parse_proxy_spec(item, where=f" at proxy {i + 1}") for i, item in enumerate(body)]
        proxies = await registry.populate(specs)
    except FaultProxyApiError as exc:
        # Toxiproxy's Populate embeds the error next to a null proxy list.
        return JSONResponse({**exc.to_json(), "proxies": None}, status_code=exc.status)
    return JSONResponse({"proxies": [p.to_json() for p in proxies]}, status_code=201)


async def proxy_show(request: Request, registry: ProxyRegistry) -> Response:
    """``GET /proxies/{proxy}``."""
    return JSONResponse(registry.get(request.path_params["proxy"]).to_json())


async def proxy_update(request: Request, registry: ProxyRegistry) -> Response:
    """``POST|PATCH /proxies/{proxy}``: change listen/upstream/enabled (``enabled: false`` = down)."""
    proxy = registry.get(request.path_params["proxy"])
    current = ProxySpec(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
    spec = parse_proxy_update(await _json_body(request), current)
    await registry.update(proxy.name, spec)
    return JSONResponse(proxy.to_json())


async def proxy_delete(request: Request, registry: ProxyRegistry) -> Response:
    """``DELETE /proxies/{proxy}`` → 204."""
    await registry.delete(request.path_params["proxy"])
    return Response(status_code=204)


async def toxic_index(request: Request, registry: ProxyRegistry) -> Response:
    """``GET /proxies/{proxy}/toxics``: a list."""
    return JSONResponse(registry.get(request.path_params["proxy"]).toxics_json())


async def toxic_create(request: Request, registry: ProxyRegistry) -> Response:
    """``POST /proxies/{proxy}/toxics`` → 200 with the toxic (Toxiproxy does not answer 201 here)."""
    proxy = registry.get(request.path_params["proxy"])
    spec = parse_toxic_spec(await _json_body(request))
    return JSONResponse(proxy.add_toxic(spec).to_json())


async def toxic_show(request: Request, registry: ProxyRegistry) -> Response:
    """``GET /proxies/{proxy}/toxics/{toxic}``."""
    proxy = registry.get(request.path_params["proxy"])
    return JSONResponse(proxy.find_toxic(request.path_params["toxic"]).to_json())


async def toxic_update(request: Request, registry: ProxyRegistry) -> Response:
    """``POST|PATCH /proxies/{proxy}/toxics/{toxic}``: merge attributes, set toxicity."""
    proxy = registry.get(request.path_params["proxy"])
    name = request.path_params["toxic"]
    proxy.find_toxic(name)  # 404 before complaining about the body, as Toxiproxy does
    update = parse_toxic_update(await _json_body(request))
    return JSONResponse(proxy.update_toxic(name, update).to_json())


async def toxic_delete(request: Request, registry: ProxyRegistry) -> Response:
    """``DELETE /proxies/{proxy}/toxics/{toxic}`` → 204."""
    registry.get(request.path_params["proxy"]).remove_toxic(request.path_params["toxic"])
    return Response(status_code=204)


async def version(request: Request, registry: ProxyRegistry) -> Response:
    """``GET /version``."""
    return JSONResponse({"version": API_VERSION, "implementation": "dientap.faultproxy"})


def _endpoint(
    handler: Handler, registry: ProxyRegistry, lock: asyncio.Lock
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return PlainTextResponse("User agent not allowed\n", status_code=403)
        try:
            await _read_body(request, BODY_TIMEOUT_S)
        except FaultProxyApiError as exc:
            return _error(exc)
        except ClientDisconnect:  # gone before its body arrived: nobody to answer, nothing to log
            return Response(status_code=400)
        try:
            # One request at a time, as Toxiproxy's collection mutex: a create awaiting its
            # listener must not interleave with another create of the same name.
            async with lock:
                return await handler(request, registry)
        except FaultProxyApiError as exc:
            return _error(exc)

    endpoint.__doc__ = handler.__doc__
    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "not found", 405: "method not allowed"}.get(status, "error")
    return JSONResponse({"error": message, "status": status}, status_code=status)


def create_app(registry: ProxyRegistry) -> Starlette:
    """The HTTP API over ``registry``."""
    table: list[tuple[str, Handler, list[str]]] = [
        ("/reset", reset_state, ["POST"]),
        ("/proxies", proxy_index, ["GET"]),
        ("/proxies", proxy_create, ["POST"]),
        ("/populate", populate, ["POST"]),
        ("/proxies/{proxy}", proxy_show, ["GET"]),
        ("/proxies/{proxy}", proxy_update, ["POST", "PATCH"]),
        ("/proxies/{proxy}", proxy_delete, ["DELETE"]),
        ("/proxies/{proxy}/toxics", toxic_index, ["GET"]),
        ("/proxies/{proxy}/toxics", toxic_create, ["POST"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_show, ["GET"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_update, ["POST", "PATCH"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_delete, ["DELETE"]),
        ("/version", version, ["GET"]),
    ]
    lock = asyncio.Lock()
    routes = [Route(path, _endpoint(handler, registry, lock), methods=methods) for path, handler, methods in table]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
