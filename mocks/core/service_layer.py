"""The service layer in front of every mock's Starlette app (pure ASGI: BaseHTTPMiddleware
costs more than the handlers here): route resolution, metrics, route-level faults, dispatch,
and the answers to what a handler raised — an :class:`~mocks.core.errors.ApiError` in the
face's own error form, a full disk as ``507``, anything else as a logged ``500``.
:func:`mocks.core.app.build_service_app` puts it in front.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from mocks.core.dispatch import UNMATCHED, ErrorHandler, ResolvedRoute, RouteTable, call_handler
from mocks.core.errors import ApiError, error_response
from mocks.core.faults import ConnectionReset, FaultRegistry, ReplacedAnswer, abort_connection, apply_rules
from mocks.core.metrics import ServiceMetrics
from mocks.core.store import storage_refusal

__all__ = ["ServiceMiddleware", "ERROR_HANDLERS", "internal_error"]

log = logging.getLogger("dientap.mocks")

#: The status a request is counted under when its client closed the connection before its
#: body arrived (nginx's 499): no answer was sent, and the metrics count it with the
#: client's mistakes (4xx), not the service's failures.
_CLIENT_CLOSED_REQUEST = 499


class ServiceMiddleware:
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


async def internal_error(request: Request, exc: Exception) -> Response:
    """What Starlette answers an exception no handler took (a HEAD reaches handlers this way)."""
    refusal = storage_refusal(exc, request.app.state.settings.data_dir)  # HEAD reaches handlers this way
    if refusal is not None:
        log.warning("refused %s %s: %s (%s)", request.method, request.url.path, refusal.message, exc)
        return error_response(refusal.status, refusal.code, refusal.message, refusal.field, refusal.headers)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _INTERNAL_ERROR


#: The handlers of what a handler may raise, for the service layer and Starlette alike.
ERROR_HANDLERS: dict[type[Exception], ErrorHandler] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    ConnectionReset: _connection_reset,
    ValidationError: _validation_error,
}
