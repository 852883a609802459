"""API errors of the fault proxy, in Toxiproxy's shape: ``{"error": "...", "status": 404}``.

The messages and status codes of the errors Toxiproxy defines (``api.go``) are kept verbatim so
a client that matches on them behaves the same against either server. dientap adds a few of its
own (allowlist refusals, listen conflicts) that Toxiproxy reports as 500s; here they are 4xx,
because bad input must never produce a 5xx.
"""

from __future__ import annotations

__all__ = [
    "FaultProxyApiError",
    "bad_request_body",
    "missing_field",
    "proxy_not_found",
    "proxy_already_exists",
    "invalid_stream",
    "invalid_toxic_type",
    "toxic_already_exists",
    "toxic_not_found",
    "not_allowed",
    "listen_failed",
]


class FaultProxyApiError(Exception):
    """An error answered as ``{"error": message, "status": status}`` with HTTP ``status``."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, object]:
        """The JSON body Toxiproxy sends for this error."""
        return {"error": self.message, "status": self.status}


def bad_request_body(detail: str) -> FaultProxyApiError:
    """400 ``bad request body: <detail>`` (Toxiproxy's ``ErrBadRequestBody`` joined with a cause)."""
    return FaultProxyApiError(f"bad request body: {detail}", 400)


def missing_field(field: str) -> FaultProxyApiError:
    """400 ``missing required field: <field>``."""
    return FaultProxyApiError(f"missing required field: {field}", 400)


def proxy_not_found() -> FaultProxyApiError:
    """404 ``proxy not found``."""
    return FaultProxyApiError("proxy not found", 404)


def proxy_already_exists() -> FaultProxyApiError:
    """409 ``proxy already exists``."""
    return FaultProxyApiError("proxy already exists", 409)


def invalid_stream() -> FaultProxyApiError:
    """400 ``stream was invalid, can be either upstream or downstream``."""
    return FaultProxyApiError("stream was invalid, can be either upstream or downstream", 400)


def invalid_toxic_type() -> FaultProxyApiError:
    """400 ``invalid toxic type``."""
    return FaultProxyApiError("invalid toxic type", 400)


def toxic_already_exists() -> FaultProxyApiError:
    """409 ``toxic already exists``."""
    return FaultProxyApiError("toxic already exists", 409)


def toxic_not_found() -> FaultProxyApiError:
    """404 ``toxic not found``."""
    return FaultProxyApiError("toxic not found", 404)


def not_allowed(message: str) -> FaultProxyApiError:
    """403: an address outside the allowlist / loopback (dientap's own safety rule)."""
    return FaultProxyApiError(message, 403)


def listen_failed(address: str, reason: str) -> FaultProxyApiError:
    """409: the listen address cannot be bound (Toxiproxy answers 500 here)."""
    return FaultProxyApiError(f"listen: {address}: {reason}", 409)
