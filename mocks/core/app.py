"""The app factory every mock uses: routes from :class:`Endpoint` declarations, plus the
common surface — ``/healthz``, ``/metrics``, ``/openapi.json``, ``/admin/faults``,
``/admin/ledger`` — and one pure-ASGI middleware for route resolution, metrics and
faults (pure ASGI because BaseHTTPMiddleware costs more than the handlers here).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import inspect
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from mocks.core.dispatch import UNMATCHED, ErrorHandler, ResolvedRoute, RouteTable, call_handler
from mocks.core.endpoint import Endpoint, Handler, Param
from mocks.core.errors import ApiError, error_response
from mocks.core.faults import (
    ConnectionReset,
    FaultRegistry,
    FaultRequest,
    FaultRule,
    ReplacedAnswer,
    abort_connection,
    apply_rules,
)
from mocks.core.http import json_response, read_json
from mocks.core.metrics import ServiceMetrics
from mocks.core.openapi import openapi_document
from mocks.core.readiness import load_readiness
from mocks.core.settings import ServiceSettings
from mocks.core.store import storage_refusal

__all__ = ["Endpoint", "Param", "build_service_app", "require_admin"]

log = logging.getLogger("dientap.mocks")

#: The status a request is counted under when its client closed the connection before its
#: body arrived (nginx's 499): no answer was sent, and the metrics count it with the
#: client's mistakes (4xx), not the service's failures.
_CLIENT_CLOSED_REQUEST = 499


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


class _ServiceMiddleware:
    """Route resolution, metrics, route-level faults and dispatch (see :mod:`mocks.core.dispatch`).

    It sits *in front of* Starlette rather than inside its middleware stack: a matched
    route goes straight to its handler, and only what the table does not answer (404,
    405, ``HEAD``) enters Starlette (``app``), whose server-error layer would otherwise
    wrap every request and every message sent. An exception no handler takes is
    answered here the way that layer does: logged, and a JSON 500 if nothing was sent.
    """

    def __init__(self, app: Any, state: Any, routes: RouteTable, error_handlers: dict[type[Exception], ErrorHandler]):
        self.app = app
        self.state = state
        self.routes = routes
        self.error_handlers = error_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resolved, path_params = self.routes.resolve(scope["path"])
        route = resolved.template if resolved is not None else UNMATCHED
        handler = resolved.handlers.get(scope["method"]) if resolved is not None else None
        scope["dientap.route"] = route
        metrics: ServiceMetrics = self.state.metrics
        faults: FaultRegistry = self.state.faults
        started = time.perf_counter()
        status = 500
        metrics.track_start()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                scope["dientap.started"] = True
            elif message["type"] == "http.response.body" and "dientap.slow_body" in scope:
                await _trickle(send, message, scope["dientap.slow_body"].bytes_per_s)
                return
            await send(message)

        try:
            if not route.startswith("/admin/") and route not in ("/healthz", "/metrics"):
                rules = faults.pick(route, scope["method"], scoped=False)
                if rules:
                    slow = await apply_rules(rules, faults.rng)
                    if slow is not None:
                        scope["dientap.slow_body"] = slow
            if handler is not None:
                try:
                    await call_handler(handler, path_params, self.error_handlers, scope, receive, send_wrapper)
                except (ApiError, ConnectionReset):
                    raise
                except ClientDisconnect:
                    # The caller closed the connection before its body was read: nobody is
                    # left to answer, and it is no failure of the service (no 500, no traceback).
                    status = _CLIENT_CLOSED_REQUEST
                except Exception as exc:
                    if "dientap.started" in scope:  # the answer had begun: only the server can cut it off
                        raise
                    # A full or read-only disk is no bug: a retryable 507, in the face's form
                    # (the ApiError branch below), one log line instead of a traceback.
                    refusal = storage_refusal(exc, self.state.settings.data_dir)
                    if refusal is not None:
                        log.warning("refused %s %s: %s (%s)", scope["method"], route, refusal.message, exc)
                        raise refusal from exc
                    log.error("unhandled error on %s %s", scope["method"], route, exc_info=exc)
                    await _INTERNAL_ERROR(scope, receive, send_wrapper)
            elif resolved is not None and not (scope["method"] == "HEAD" and "GET" in resolved.handlers):
                raise _method_not_allowed(scope["method"], resolved)
            elif resolved is None and self.routes.face_form(scope["path"]) is not None:
                raise ApiError(404, "not_found", f"{scope['path']} is not a call of this face; "
                               "its calls are in /openapi.json", "path")
            else:  # Starlette answers what the table does not: 404 and HEAD
                await self.app(scope, receive, send_wrapper)
        except ApiError as exc:
            status = exc.status
            form = None
            if resolved is not None:  # a 405 takes the path's form when its method has none
                form = resolved.error_forms.get(scope["method"]) or next(iter(resolved.error_forms.values()), None)
            else:  # a 404 under a face's prefix takes the face's form
                form = self.routes.face_form(scope["path"])
            if form is not None:  # a face with an error form of its own
                await form(exc)(scope, receive, send)
            else:
                await error_response(exc.status, exc.code, exc.message, exc.field, exc.headers, exc.extra)(
                    scope, receive, send
                )
        except ConnectionReset:
            status = 0
            if not abort_connection(scope.get("dientap.send")):
                raise
        except ReplacedAnswer as exc:  # an injected "body" fault: raised before the handler ran
            status = exc.response.status_code
            await exc.response(scope, receive, send)
        finally:
            if scope.get("dientap.reset"):
                status = 0
            metrics.track_end(route, scope["method"], status, time.perf_counter() - started)


def _method_not_allowed(method: str, resolved: ResolvedRoute) -> ApiError:
    """405 naming every method of the path's template (Starlette's router would list only
    those of the first route object it meets, one per method here)."""
    allowed = sorted({*resolved.handlers, *(("HEAD",) if "GET" in resolved.handlers else ())})
    return ApiError(
        405, "method_not_allowed", f"{method} is not allowed on {resolved.template}; allowed: {', '.join(allowed)}",
        None, {"Allow": ", ".join(allowed)},
    )


async def _trickle(send: Send, message: Message, bytes_per_s: int) -> None:
    """Send a body slowly: chunks of a tenth of the rate, every 100 ms."""
    body: bytes = message.get("body", b"")
    step = max(1, bytes_per_s // 10)
    for offset in range(0, len(body), step):
        await send({"type": "http.response.body", "body": body[offset : offset + step], "more_body": True})
        await asyncio.sleep(0.1)
    await send({"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)})


# --- exception handlers ------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # registered for ApiError only  # nosec B101
    extra = exc.extra
    if "stack_traces" in request.app.state.settings.vulnerable:  # planted weakness: debug traces in errors
        extra = {**extra, "trace": "".join(traceback.format_exception(exc))}
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers, extra)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only  # nosec B101
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


async def _connection_reset(request: Request, exc: Exception) -> Response:
    request.scope["dientap.reset"] = True
    abort_connection(request.scope.get("dientap.send"))
    return Response(status_code=204)


async def _validation_error(request: Request, exc: Exception) -> Response:
    # A model validated inside a handler (not a request body) failed: still the caller's input.
    from mocks.core.http import validation_error

    assert isinstance(exc, ValidationError)  # registered for ValidationError only  # nosec B101
    err = validation_error(exc)
    return error_response(err.status, err.code, err.message, err.field, err.headers)


_INTERNAL_ERROR = error_response(500, "internal_error", "internal error (logged by the service)")


async def _internal_error(request: Request, exc: Exception) -> Response:
    refusal = storage_refusal(exc, request.app.state.settings.data_dir)  # HEAD reaches handlers this way
    if refusal is not None:
        log.warning("refused %s %s: %s (%s)", request.method, request.url.path, refusal.message, exc)
        return error_response(refusal.status, refusal.code, refusal.message, refusal.field, refusal.headers)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _INTERNAL_ERROR


# --- factory -----------------------------------------------------------------------


class _MockApp(Starlette):
    """Starlette behind the service layer, remembering the server's own ``send`` so a
    reset fault can reach the socket."""

    service_layer: _ServiceMiddleware | None = None

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

    error_handlers: dict[type[Exception], ErrorHandler] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        ConnectionReset: _connection_reset,
        ValidationError: _validation_error,
    }
    app = _MockApp(routes=routes, lifespan=lifespan, exception_handlers={**error_handlers, Exception: _internal_error})
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
    app.service_layer = _ServiceMiddleware(app.starlette, state=app.state, routes=app.state.routes,
                                           error_handlers=error_handlers)
    return app
