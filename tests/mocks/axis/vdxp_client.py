"""A small signed client of the axis's SDK face (``/vdxp/*``), for the tests and the benchmark."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import orjson

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.national.vdxp import HASH_HEADER, SYSTEM_ID_HEADER, TIMESTAMP_HEADER, format_timestamp, signature

_millis = itertools.count()


def signed_headers(system_id: str, body: bytes, content_type: str, *, secret: str | None = None,
                   when: float | None = None) -> dict[str, str]:
    """The three auth headers (and Content-Type) of a request signed now (or at ``when``).

    Each call gets its own millisecond, so two identical requests are never one replay."""
    stamp = format_timestamp((when if when is not None else time.time()) + next(_millis) % 1000 / 1000)
    key = secret if secret is not None else derive_password(DEFAULT_DRY_RUN_SECRET, system_id)
    return {"Content-Type": content_type, SYSTEM_ID_HEADER: system_id, TIMESTAMP_HEADER: stamp,
            HASH_HEADER: signature(key, system_id, stamp, content_type, body)}


def call(client: httpx.Client, operation: str, system_id: str, payload: dict[str, Any] | None = None,
         **kwargs: Any) -> httpx.Response:
    """POST a signed JSON operation."""
    body = orjson.dumps(payload if payload is not None else {})
    return client.post(f"/vdxp/{operation}", content=body,
                       headers=signed_headers(system_id, body, "application/json", **kwargs))


def send(client: httpx.Client, system_id: str, package: bytes, *, messagetype: str = "edoc",
         sender: str | None = None, **kwargs: Any) -> httpx.Response:
    """``sendEdoc`` of a signed package."""
    headers = {**signed_headers(system_id, package, "application/xml", **kwargs),
               "XroadVnpt-from": sender or system_id, "XroadVnpt-servicetype": "eDoc",
               "XroadVnpt-messagetype": messagetype}
    return client.post("/vdxp/sendEdoc", content=package, headers=headers)
