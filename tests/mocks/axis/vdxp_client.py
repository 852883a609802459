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


def jar_headers(system_id: str, params: dict[str, str], content_type: str, *, secret: str | None = None,
                when: float | None = None) -> dict[str, str]:
    """The headers the VNPT SDK jar (SDKVXP-2.0.1) sends, as observed on the wire: every
    parameter as ``XroadVnpt-<name>``, the signed ones as one JSON object in
    ``XroadVnpt-sign-header``, its HMAC-SHA256 in ``XroadVnpt-hash-header``."""
    stamp = format_timestamp((when if when is not None else time.time()) + next(_millis) % 1000 / 1000)
    fields = {"systemid": system_id, **params, "timestamp": stamp, "Content-Type": content_type}
    signed = {f"XroadVnpt-{k}": v for k, v in fields.items()}
    text = orjson.dumps(signed).decode()
    key = secret if secret is not None else derive_password(DEFAULT_DRY_RUN_SECRET, system_id)
    import hashlib
    import hmac

    return {"Content-Type": content_type, **signed, "XroadVnpt-sign-header-key": ";".join(fields),
            "XroadVnpt-sign-header": text,
            "XroadVnpt-hash-header": hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest(),
            "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP", "XroadVnpt-version": "3.0.201608"}


def jar_call(client: httpx.Client, operation: str, system_id: str, params: dict[str, str],
             **kwargs: Any) -> httpx.Response:
    """A JSON operation the jar's way: parameters in signed headers, the body ``{}``."""
    return client.post(f"/vdxp/{operation}", content=b"{}",
                       headers=jar_headers(system_id, params, "application/json", **kwargs))


def jar_send(client: httpx.Client, system_id: str, package: bytes, **kwargs: Any) -> httpx.Response:
    """``sendEdoc`` the jar's way: octet-stream, the file's SHA-256 signed, a CRLF appended."""
    import hashlib

    # The jar writes each byte of the hash without its leading zero (observed on the wire).
    unpadded = "".join(f"{b:x}" for b in hashlib.sha256(package).digest())
    params = {"servicetype": "eDoc", "messagetype": "edoc", "hash-file": unpadded, "from": system_id}
    return client.post("/vdxp/sendEdoc", content=package + b"\r\n",
                       headers=jar_headers(system_id, params, "application/octet-stream", **kwargs))
