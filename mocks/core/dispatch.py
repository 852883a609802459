"""Route table and direct dispatch for the service middleware.

The middleware must know a request's route *template* anyway (for metric labels and fault
matching), so once it has matched the path it calls the handler itself instead of
letting Starlette's router match it a second time through its exception and routing
layers — those layers cost as much per request as a population look-up's own work.
Anything the table does not answer exactly (unknown paths, a method the route lacks,
``HEAD``) still goes through Starlette, which owns the 404/405 answers.

Handlers see the same ``Request`` as under Starlette's router (``path_params`` set in
the scope, ``request.app`` the application) and their exceptions go to the same
exception handlers; an exception without a handler goes back to the service layer,
which answers it as Starlette's ``ServerErrorMiddleware`` would (500, logged).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from mocks.core.endpoint import Endpoint, ErrorForm, Handler

__all__ = ["ErrorHandler", "RouteTable", "ResolvedRoute", "UNMATCHED", "call_handler"]

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
UNMATCHED = "unmatched"


@dataclass(slots=True)
class ResolvedRoute:
    """One route template and its handler per method."""

    template: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    convertors: dict[str, Convertor[Any]] = field(default_factory=dict)
    error_forms: dict[str, ErrorForm] = field(default_factory=dict)  # by method, for faces with their own


class RouteTable:
    """Path → route template and handlers, built from the service's endpoint declarations."""

    def __init__(self, endpoints: Sequence[Endpoint], wrap: Callable[[Endpoint], Handler]):
        self._static: dict[str, ResolvedRoute] = {}
        self._dynamic: list[tuple[re.Pattern[str], ResolvedRoute]] = []
        self._face_forms: dict[str, ErrorForm] = {}  # "/vdxp/" → the face's error form
        by_path: dict[str, ResolvedRoute] = {}
        for ep in endpoints:
            route = by_path.get(ep.path)
            if route is None:
                regex, _, convertors = compile_path(ep.path)
                route = by_path[ep.path] = ResolvedRoute(ep.path, convertors=convertors)
                if convertors:
                    self._dynamic.append((regex, route))
                else:
                    self._static[ep.path] = route
            route.handlers[ep.method] = wrap(ep)
            if ep.error_form is not None:
                route.error_forms[ep.method] = ep.error_form
                self._face_forms.setdefault(_first_segment(ep.path), ep.error_form)

    def methods(self, template: str) -> frozenset[str] | None:
        """The methods the route ``template`` (``/dossiers/{code}``) has, or None if it is no route."""
        for route in (*self._static.values(), *(route for _, route in self._dynamic)):
            if route.template == template:
                return frozenset(route.handlers)
        return None

    def face_form(self, path: str) -> ErrorForm | None:
        """The error form of the face whose path prefix ``path`` is under (``/vdxp/…``), if any:
        a call the face does not have is answered in the face's own form, not the native one."""
        return self._face_forms.get(_first_segment(path)) if self._face_forms else None

    def resolve(self, path: str) -> tuple[ResolvedRoute | None, dict[str, Any]]:
        """The route this path belongs to (``None`` if none) and its converted path parameters."""
        route = self._static.get(path)
        if route is not None:
            return route, {}
        for regex, route in self._dynamic:
            match = regex.match(path)
            if match:
                params = {key: route.convertors[key].convert(value) for key, value in match.groupdict().items()}
                return route, params
        return None, {}


def _first_segment(path: str) -> str:
    """``/vdxp/sendEdoc`` → ``/vdxp/``; ``/vdxp`` → ``/vdxp/`` too: a client that drops the
    trailing slash is still speaking to the face, and reads its error form."""
    head = path[1:].partition("/")[0]
    return f"/{head}/"


def _handler_for(exc: Exception, handlers: Mapping[type[Exception], ErrorHandler]) -> ErrorHandler | None:
    # Most specific class first, as Starlette's ExceptionMiddleware looks them up.
    for klass in type(exc).__mro__:
        handler = handlers.get(klass)
        if handler is not None:
            return handler
    return None


async def call_handler(
    handler: Handler,
    path_params: dict[str, Any],
    error_handlers: Mapping[type[Exception], ErrorHandler],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run one endpoint handler as Starlette's router would, and send its response.

    ``error_handlers`` must not contain ``Exception`` itself: unhandled errors belong to
    the service layer above, which answers 500 and logs them.
    """
    scope["path_params"] = path_params
    request = Request(scope, receive, send)
    try:
        response = await handler(request)
    except Exception as exc:
        on_error = _handler_for(exc, error_handlers)
        if on_error is None:
            raise
        response = await on_error(request, exc)
    await response(scope, receive, send)
