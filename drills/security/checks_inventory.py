"""Inventory checks (OWASP API9:2023 Improper Inventory Management).

A system in transition keeps old and undocumented routes alive: a ``/v1`` that predates
a fix, a debug page, the docs of a face nobody meant to publish. Each service publishes
its inventory — ``/openapi.json`` — and this check holds the service to it.

What "served" means here: a request the service answers with anything but 404. A 405 is
an answer too — its ``Allow`` header names the methods the path serves — which lets
the check compare every documented path's served methods with its documented ones
without sending a request that could change state (``OPTIONS`` is documented nowhere).
Undocumented paths cannot be listed from outside, so the check probes a fixed, bounded
list: well-known debug and documentation paths, each service face's own
``openapi.json``, and every documented ``GET`` path under the usual old-version prefixes.
"""

from __future__ import annotations

import re

import httpx

from drills.security.context import THROTTLED, UNAVAILABLE, CheckContext, require_judged
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness
from drills.security.target import SERVICES

__all__ = ["LEGACY_PREFIXES", "WELL_KNOWN_PATHS", "probe_paths"]

API9 = "API9:2023 Improper Inventory Management"
#: Prefixes an old API version lives under.
LEGACY_PREFIXES = ("/v1", "/v2", "/api", "/api/v1", "/old", "/legacy")
#: Debug, documentation and framework paths that must not answer unless documented.
WELL_KNOWN_PATHS = (
    "/debug", "/debug/vars", "/debug/routes", "/debug/pprof", "/_debug", "/docs", "/redoc", "/swagger",
    "/swagger-ui.html", "/swagger.json", "/openapi.yaml", "/api-docs", "/v2/api-docs", "/v3/api-docs",
    "/actuator", "/actuator/health", "/server-status", "/console", "/admin", "/.env", "/status", "/health",
    "/version", "/test",
)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A value for every path parameter: a probe asks whether the route exists, not for an object.
_PARAM = re.compile(r"{[^}]+}")


def _concrete(template: str) -> str:
    return _PARAM.sub("0", template)


def probe_paths(documented: dict[str, set[str]]) -> list[str]:
    """The undocumented paths to probe for ``documented`` (path template → methods), in order."""
    probes = list(WELL_KNOWN_PATHS)
    faces = sorted({"/" + p.split("/")[1] for p in documented if p.count("/") >= 2})
    probes += [f"{face}/openapi.json" for face in faces]
    gets = sorted(_concrete(p) for p, methods in documented.items() if "GET" in methods)
    probes += [f"{prefix}{path}" for prefix in LEGACY_PREFIXES for path in gets]
    # A probe a documented template matches (/dossiers/openapi.json is /dossiers/{code}) is no probe.
    templates = [re.compile("^" + _PARAM.sub("[^/]+", re.escape(p).replace(r"\{", "{").replace(r"\}", "}")) + "$")
                 for p in documented]
    return list(dict.fromkeys(p for p in probes if not any(t.match(p) for t in templates)))


def _documented(ctx: CheckContext, service: str, out: Outcome) -> dict[str, set[str]] | None:
    r = ctx.send(service, "GET", "/openapi.json")
    # Throttled or failing, the service did not say what it publishes: no finding either way.
    require_judged(r, f"{service} GET /openapi.json", THROTTLED | UNAVAILABLE)
    try:
        paths = r.json().get("paths") if r.status_code == 200 else None
    except ValueError:
        paths = None
    if not isinstance(paths, dict) or not paths:
        out.fail(f"{service} publishes no OpenAPI inventory at /openapi.json ({r.status_code})", ctx.excerpt(r))
        return None
    return {path: {m.upper() for m in ops if m.upper() in _METHODS} for path, ops in paths.items()
            if isinstance(ops, dict)}


def _served_methods(r: httpx.Response) -> set[str] | None:
    """The methods a 405's ``Allow`` names (HEAD aside), or None when the answer is no 405."""
    if r.status_code != 405 or "allow" not in r.headers:
        return None
    return {m.strip().upper() for m in r.headers["allow"].split(",") if m.strip()} - {"HEAD", "OPTIONS"}


@security_check(CheckSpec(
    id="exposure.route-inventory",
    title="Every served route is in the service's OpenAPI and vice versa; no old version or debug route answers",
    area=Area.EXPOSURE, owasp=API9,
    sends="GET /openapi.json of each service; OPTIONS on every documented path (a 405's Allow names the methods "
          "it serves); GET on 24 well-known debug and documentation paths, on each face's /<face>/openapi.json, "
          "and on every documented GET path under /v1, /v2, /api, /api/v1, /old, /legacy",
    passes_when="each service publishes its paths; every documented path is served with exactly its documented "
                "methods (405 with Allow = documented methods, HEAD aside); every probe of an undocumented path "
                "answers 404; /openapi.json answered 429/5xx, or any probe 429 (throttled: no answer about the route), "
                "is ERROR",
    weaknesses=(PlantedWeakness("portal", "legacy_routes"),),
))
def routes_match_openapi(ctx: CheckContext, out: Outcome) -> None:
    """The served surface of each service against its published inventory."""
    for service in SERVICES:
        documented = _documented(ctx, service, out)
        if documented is None:
            continue
        mismatched = 0
        for path, methods in documented.items():
            r = ctx.send(service, "OPTIONS", _concrete(path))
            require_judged(r, f"{service} OPTIONS {path}", THROTTLED)
            served = _served_methods(r)
            if served is None:
                mismatched += 1
                out.fail(f"{service} OPTIONS {path}: {r.status_code}, not a 405 naming the path's methods",
                         ctx.excerpt(r))
            elif served != methods:
                mismatched += 1
                extra, missing = sorted(served - methods), sorted(methods - served)
                out.fail(f"{service} {path}: serves {', '.join(sorted(served))}, documents {', '.join(sorted(methods))}"
                         + (f" (undocumented: {', '.join(extra)})" if extra else "")
                         + (f" (not served: {', '.join(missing)})" if missing else ""), ctx.excerpt(r))
        probes = probe_paths(documented)
        answered = []
        for path in probes:
            r = ctx.send(service, "GET", path)
            # A 5xx stays a finding: it may be an undocumented route that exists and fails.
            require_judged(r, f"{service} GET {path}", THROTTLED)
            if r.status_code != 404:
                answered.append(path)
                out.fail(f"{service} answers an undocumented route: GET {path} → {r.status_code}", ctx.excerpt(r))
        if not mismatched and not answered:
            out.note(f"{service}: {len(documented)} documented paths served as documented, "
                     f"{len(probes)} undocumented probes 404")
