"""Fault injection for drills: latency, errors, resets, hangs, slow bodies, outages and
replaced answers (``body``: a 200 whose body and Content-Type the rule gives, e.g. a
malformed, wrong-typed or oversized answer, for drills of the callers' input handling).

Rules are posted to ``/admin/faults`` and matched per request by route *template*,
method, and optionally province or agency. Route-only rules are applied by the service
middleware before the handler runs; rules scoped to a province or agency are applied
when the handler calls :func:`enter_scope` — the first moment the service knows whom
the request is for — so a scoped error fault still changes no state.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
import uuid
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from starlette.requests import Request
from starlette.responses import Response

from kernel.fault_api import FAULT_ROUTE_PATTERN, FAULT_STATUSES, LatencySpec, fault_status
from mocks.core.errors import ApiError

__all__ = [
    "LatencySpec",
    "FaultRequest",
    "FaultRule",
    "FAULT_STATUSES",
    "FaultRegistry",
    "ConnectionReset",
    "ReplacedAnswer",
    "enter_scope",
    "abort_connection",
]

FaultKind = Literal["latency", "error", "reset", "hang", "slow_body", "outage", "body"]


class FaultRequest(BaseModel):
    """The body of ``POST /admin/faults``: what a drill may set (timestamps are the server's)."""

    # The OpenAPI document states the per-kind rules too, so a generated body can follow them.
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "latency"}}, "required": ["kind"]},
                    "then": {"required": ["latency"], "properties": {"latency": {"type": "object"}}},
                },
                {
                    "if": {"properties": {"kind": {"const": "body"}}, "required": ["kind"]},
                    "then": {"required": ["body"], "properties": {"body": {"type": "string"},
                                                                  "province": {"type": "null"},
                                                                  "agency": {"type": "null"}}},
                },
            ],
        },
    }

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: FaultKind
    # A route template the service serves (``/dossiers/{code}``) or ``*`` for all of them.
    route: str = Field(default="*", min_length=1, max_length=200, pattern=FAULT_ROUTE_PATTERN)
    method: str | None = Field(default=None, pattern=r"^(GET|POST|PUT|PATCH|DELETE)$")
    province: str | None = Field(default=None, pattern=r"^\d{2}$")
    agency: str | None = Field(default=None, min_length=1, max_length=64)
    latency: LatencySpec | None = Field(default=None, validate_default=True)
    status: int = Field(default=503, ge=400, le=599, json_schema_extra={"enum": list(FAULT_STATUSES)})
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    bytes_per_s: int = Field(default=1024, ge=1, le=100_000_000)
    hang_s: float = Field(default=60.0, gt=0, le=600)
    duration_s: float | None = Field(default=None, gt=0, le=86_400)
    # kind "body": the answer (status 200) that replaces the handler's; pad_bytes of JSON
    # whitespace make an oversized answer without posting megabytes to the admin API.
    body: str | None = Field(default=None, max_length=65_536, validate_default=True)
    content_type: str = Field(default="application/json", max_length=100, pattern=r"^[!-~][ -~]*$")
    pad_bytes: int = Field(default=0, ge=0, le=16 * 1024 * 1024)

    _real_status = field_validator("status")(fault_status)

    # Field validators (run even when the field is absent), so each refusal names its field.
    @field_validator("latency")
    @classmethod
    def _needs_latency(cls, latency: LatencySpec | None, info: ValidationInfo) -> LatencySpec | None:
        if info.data.get("kind") == "latency" and latency is None:
            raise ValueError("required when kind is 'latency'")
        return latency

    @field_validator("body")
    @classmethod
    def _body_fault(cls, body: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") != "body":
            return body
        if body is None:
            raise ValueError("required when kind is 'body'")
        if info.data.get("province") is not None or info.data.get("agency") is not None:
            raise ValueError("a 'body' fault replaces the answer of a route, it cannot be scoped by province or agency")
        return body


class FaultRule(FaultRequest):
    """One injected fault: the request as accepted, stamped by the server when it arrived."""

    created_at: float = Field(default_factory=time.time)

    @classmethod
    def accepted(cls, request: FaultRequest) -> FaultRule:
        """The rule for an accepted request, ``created_at`` set now (never by the client)."""
        return cls.model_validate({**request.model_dump(), "created_at": time.time()})

    @property
    def scoped(self) -> bool:
        """True when the rule targets a province or agency (applied at :func:`enter_scope`)."""
        return self.province is not None or self.agency is not None

    def expired(self, now: float) -> bool:
        """Whether a self-expiring rule has run out."""
        return self.duration_s is not None and now >= self.created_at + self.duration_s

    def matches(self, route: str, method: str) -> bool:
        """Route template and method match (province/agency are checked separately)."""
        return (self.route in ("*", route)) and (self.method is None or self.method == method)


class ConnectionReset(Exception):
    """Raised to make the service middleware reset the client connection."""


class ReplacedAnswer(Exception):
    """Raised to make the service middleware send ``response`` instead of the handler's (kind ``body``)."""

    def __init__(self, rule: FaultRule):
        super().__init__(rule.id)
        body = (rule.body or "").encode() + b" " * rule.pad_bytes
        self.response = Response(body, status_code=200, media_type=None, headers={"Content-Type": rule.content_type})


class FaultRegistry:
    """The active faults of one service process (deterministic under ``seed``)."""

    def __init__(self, seed: int = 0):
        self._rules: dict[str, FaultRule] = {}
        self.rng = random.Random(seed)
        self.version = 0  # bumped on change so the metrics gauge refreshes cheaply

    def add(self, rule: FaultRule) -> FaultRule:
        """Add or replace a rule by id."""
        self._rules[rule.id] = rule
        self.version += 1
        return rule

    def remove(self, rule_id: str) -> bool:
        """Remove one rule; False if it was not there."""
        self.version += 1
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> int:
        """Remove every rule at once; returns how many were removed."""
        count = len(self._rules)
        self._rules.clear()
        self.version += 1
        return count

    @property
    def has_rules(self) -> bool:
        """Whether any rule is set (some may have expired, which :meth:`active` tells)."""
        return bool(self._rules)

    def active(self) -> list[FaultRule]:
        """The rules still in force (expired ones are dropped here)."""
        if not self._rules:
            return []
        now = time.time()
        for rule_id in [r.id for r in self._rules.values() if r.expired(now)]:
            self.remove(rule_id)
        return list(self._rules.values())

    def pick(
        self, route: str, method: str, province: str | None = None, agency: str | None = None, *, scoped: bool
    ) -> list[FaultRule]:
        """Rules that fire for this request now (each rule fires with its ``rate``)."""
        fired = []
        for rule in self.active():
            if rule.scoped != scoped or not rule.matches(route, method):
                continue
            if scoped and (
                (rule.province is not None and rule.province != province)
                or (rule.agency is not None and rule.agency != agency)
            ):
                continue
            if rule.rate >= 1.0 or self.rng.random() < rule.rate:
                fired.append(rule)
        return fired


async def apply_rules(rules: list[FaultRule], rng: random.Random) -> FaultRule | None:
    """Apply latency/hang/error/outage/reset/body effects; returns a slow-body rule to apply later."""
    slow_body = None
    for rule in rules:
        if rule.kind == "latency" and rule.latency is not None:
            await asyncio.sleep(rule.latency.sample_s(rng))
        elif rule.kind == "hang":
            await asyncio.sleep(rule.hang_s)
            raise ConnectionReset()
        elif rule.kind == "reset":
            raise ConnectionReset()
        elif rule.kind == "outage":
            raise ApiError(503, "service_unavailable", "service is down (injected outage)", None, {"Retry-After": "5"})
        elif rule.kind == "error":
            headers = {"Retry-After": "1"} if rule.status in (429, 503) else None
            raise ApiError(rule.status, "injected_fault", f"injected error {rule.status} (fault {rule.id})", None, headers)
        elif rule.kind == "slow_body":
            slow_body = rule
        elif rule.kind == "body":
            raise ReplacedAnswer(rule)
    return slow_body


async def enter_scope(request: Request, *, province: str | None = None, agency: str | None = None) -> None:
    """Tell the fault layer whom this request concerns, and apply scoped faults now.

    Handlers call this as soon as they know the province or agency (before changing any
    state), so ``{"province": "01", "kind": "error"}`` fails requests for Hà Nội only.
    """
    registry: FaultRegistry = request.app.state.faults
    if not registry.has_rules:  # every request passes here; almost always no fault is set
        return
    scope = request.scope
    rules = registry.pick(scope.get("dientap.route", ""), scope["method"], province, agency, scoped=True)
    if rules:
        slow = await apply_rules(rules, registry.rng)
        if slow is not None:
            request.scope["dientap.slow_body"] = slow


def abort_connection(send: object) -> bool:
    """Reset the client's TCP connection (RST) from inside an ASGI app under uvicorn.

    ASGI has no reset primitive; uvicorn's ``send`` is a bound method of the request
    cycle that holds the transport, so set SO_LINGER 0 and abort it. Returns False
    when the server is not uvicorn (the caller then closes the response early instead).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: aborting below is still right
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
