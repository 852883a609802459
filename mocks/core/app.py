"""The app factory every mock uses: routes from :class:`Endpoint` declarations, plus the
common surface — ``/healthz``, ``/metrics``, ``/openapi.json``, ``/admin/faults``,
``/admin/ledger`` — behind the service layer (:mod:`mocks.core.service_layer`: route
resolution, metrics, faults and the answers to what a handler raised).
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mocks.core.dispatch import RouteTable
from mocks.core.endpoint import Endpoint, Handler, Param
from mocks.core.errors import ApiError
from mocks.core.faults import (
    FaultRegistry,
    FaultRequest,
    FaultRule,
)
from mocks.core.http import json_response, read_json
from mocks.core.metrics import ServiceMetrics
from mocks.core.openapi import openapi_document
from mocks.core.readiness import load_readiness
from mocks.core.service_layer import ERROR_HANDLERS, ServiceMiddleware, internal_error
from mocks.core.settings import ServiceSettings

__all__ = ["Endpoint", "Param", "build_service_app", "require_admin"]

log = logging.getLogger("dientap.mocks")



def require_admin(request: Request) -> None:
    """404 when the admin API is off, 401 unless the admin token is presented."""
    token = request.app.state.settings.admin_token
    if not token:
        raise ApiError(404, "admin_disabled", "the admin API is disabled (start the service with an admin token)")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise ApiError(401, "invalid_admin_token", "admin routes need Authorization: Bearer <admin token>", "Authorization")


def _admin_guard(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        require_admin(request)
        return await handler(request)

    return guarded


# --- built-in routes ---------------------------------------------------------------


async def _healthz(request: Request) -> Response:
    return json_response({"status": "ok", "service": request.app.state.service_name})


async def _metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _openapi(request: Request) -> Response:
    return json_response(request.app.state.openapi)


async def _list_faults(request: Request) -> Response:
    rules = request.app.state.faults.active()
    return json_response({"faults": [r.model_dump(mode="json") for r in rules]})


async def _add_fault(request: Request) -> Response:
    rule = FaultRule.accepted(await read_json(request, FaultRequest))
    _check_serves(request.app.state.routes, rule)
    request.app.state.faults.add(rule)
    log.warning("fault injected: %s", rule.model_dump_json())
    return json_response(rule.model_dump(mode="json"), status=201)


def _check_serves(routes: RouteTable, rule: FaultRule) -> None:
    """A rule for a route (or method) this service does not serve would never fire: a drill
    with a typo would pass without testing anything. 422 naming the field instead."""
    if rule.route == "*":
        return
    methods = routes.methods(rule.route)
    if methods is None:
        raise ApiError(422, "unknown_route", f"route {rule.route!r} is not a route template this service serves "
                       "(as in its /openapi.json paths, e.g. /dossiers/{code}), or '*'", "route")
    if rule.method is not None and rule.method not in methods:
        raise ApiError(422, "unknown_method", f"route {rule.route} has no {rule.method}; it has "
                       f"{', '.join(sorted(methods))}", "method")


async def _clear_faults(request: Request) -> Response:
    removed = request.app.state.faults.clear()
    return json_response({"removed": removed})


async def _clear_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not request.app.state.faults.remove(fault_id):
        raise ApiError(404, "unknown_fault", f"no active fault with id {fault_id!r}", "fault_id")
    return json_response({"removed": 1})


async def _ledger(request: Request) -> Response:
    data = request.app.state.ledger()
    return json_response({"service": request.app.state.service_name, **data})


def _builtin_endpoints() -> list[Endpoint]:
    admin = ("admin",)
    return [
        Endpoint("GET", "/healthz", _healthz, "Liveness and readiness of the service", tags=("ops",)),
        Endpoint("GET", "/metrics", _metrics, "Prometheus metrics", tags=("ops",)),
        Endpoint("GET", "/openapi.json", _openapi, "This OpenAPI document", tags=("ops",)),
        Endpoint("GET", "/admin/faults", _list_faults, "List injected faults", auth="admin", tags=admin),
        Endpoint("POST", "/admin/faults", _add_fault, "Inject a fault", FaultRequest, auth="admin", tags=admin,
                 success_status=201),
        Endpoint("DELETE", "/admin/faults", _clear_faults, "Remove every fault at once", auth="admin", tags=admin),
        Endpoint("DELETE", "/admin/faults/{fault_id}", _clear_fault, "Remove one fault", auth="admin", tags=admin),
        Endpoint("GET", "/admin/ledger", _ledger, "Counts and ids of everything acknowledged", auth="admin", tags=admin),
    ]


# --- middleware --------------------------------------------------------------------


# --- factory -----------------------------------------------------------------------


class _MockApp(Starlette):
    """Starlette behind the service layer, remembering the server's own ``send`` so a
    reset fault can reach the socket."""

    service_layer: ServiceMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["dientap.send"] = send
        try:
            if scope["type"] == "http" and self.service_layer is not None:
                scope["app"] = self  # what Starlette sets first: handlers reach request.app
                await self.service_layer(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            # The server's send is a bound method of its request cycle, which holds this
            # scope: left here, it ties every answered request's cycle (and its transport's
            # objects) into a reference cycle that only a full collection frees — the
            # mocks' memory climbing by hundreds of MB under a soak (BENCHMARKS.md "Soak").
            del scope["dientap.send"]

    async def starlette(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's own stack: server errors, exception handlers, router."""
        await super().__call__(scope, receive, send)

    def protocol_refusal(self, path: str, exc: ApiError) -> Response | None:
        """A refusal the HTTP protocol makes before any app runs (``mocks.core.protocol``), in
        the form of the face ``path`` is under (a SOAP Fault under ``/c06/``...); None elsewhere,
        where the protocol answers in the native JSON form itself."""
        form = self.state.routes.face_form(path)
        return form(exc) if form is not None else None


def _wrap(ep: Endpoint) -> Handler:
    return _admin_guard(ep.handler) if ep.auth == "admin" else ep.handler


async def _call(hook: Callable[..., Any] | None, app: Starlette) -> None:
    if hook is None:
        return
    result = hook(app)
    if inspect.isawaitable(result):
        await result


def build_service_app(
    name: str,
    settings: ServiceSettings,
    endpoints: Sequence[Endpoint],
    ledger: Callable[[], dict[str, Any]],
    *,
    store_sizes: Callable[[], dict[str, int]] | None = None,
    on_startup: Callable[[Starlette], Any] | None = None,
    on_shutdown: Callable[[Starlette], Any] | None = None,
) -> Starlette:
    """Assemble a mock service from its endpoints, with the common surface and middleware.

    ``ledger()`` returns ``{"counts": {...}, "ids": {...}}`` of what the service acknowledged;
    ``store_sizes()`` (default: the ledger's counts) feeds the store-size gauge.
    """
    # The service's own routes first: Starlette's router tries routes in order, and the
    # built-in ones (health, metrics, admin) are the rare ones.
    all_endpoints = [*endpoints, *_builtin_endpoints()]
    routes = [Route(ep.path, _wrap(ep), methods=[ep.method]) for ep in all_endpoints]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await _call(on_startup, app)
        # Everything built so far (roster, directory, schemas, routes, start-up state) lives
        # as long as the process: keep it out of later full collections, whose pauses
        # would otherwise show up as the service's latency spikes (p99 22 → 7 ms measured).
        gc.collect()
        gc.freeze()
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(settings.gc_gen0_threshold, gen1, gen2)
        try:
            yield
        finally:
            await _call(on_shutdown, app)

    app = _MockApp(routes=routes, lifespan=lifespan, exception_handlers={**ERROR_HANDLERS, Exception: internal_error})
    # /citizens/. must be a 4xx about the input, not a 307 to a normalised path.
    app.router.redirect_slashes = False
    faults = FaultRegistry(seed=settings.seed)

    def fault_counts() -> dict[str, int]:
        counts: dict[str, int] = {}
        for rule in faults.active():
            counts[rule.kind] = counts.get(rule.kind, 0) + 1
        return counts

    app.state.service_name = name
    app.state.settings = settings
    app.state.readiness = load_readiness(settings.readiness_file)
    app.state.faults = faults
    app.state.ledger = ledger
    app.state.metrics = ServiceMetrics(name, store_sizes or (lambda: ledger().get("counts", {})), fault_counts)
    app.state.openapi = openapi_document(name, all_endpoints)
    app.state.routes = RouteTable(all_endpoints, _wrap)
    app.service_layer = ServiceMiddleware(app.starlette, state=app.state, routes=app.state.routes,
                                          error_handlers=ERROR_HANDLERS)
    return app
