"""Request/response excerpts for the scorecard, with every secret redacted.

Secrets are tokens (any JWT-looking string, ``Authorization`` values), passwords and
client secrets (JSON keys), and every secret string the run knows (the dry-run secret,
the admin token, derived passwords it used).
"""

from __future__ import annotations

import re

import httpx

from reports.security_scorecard import EvidenceExcerpt

__all__ = ["Redactor", "REDACTED"]

REDACTED = "‹redacted›"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_SECRET_KEYS = re.compile(
    r'("(?:password|client_secret|access_token|token|secret|refresh_token)"\s*:\s*)"[^"]*"', re.IGNORECASE
)
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-paygov-signature", "proxy-authorization"})
_BODY_LIMIT = 400


class Redactor:
    """Removes secrets from text; knows the run's own secret strings."""

    def __init__(self, secrets: set[str] | None = None):
        self._secrets: set[str] = {s for s in (secrets or set()) if s and len(s) >= 6}

    def add(self, secret: str | None) -> None:
        """Also redact ``secret`` wherever it appears."""
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def text(self, value: str) -> str:
        """``value`` with every known secret, token and secret-named JSON value redacted."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        value = _JWT.sub("‹jwt redacted›", value)
        return _SECRET_KEYS.sub(lambda m: m.group(1) + f'"{REDACTED}"', value)

    def _headers(self, headers: httpx.Headers, keep: tuple[str, ...]) -> str:
        lines = []
        for name, value in headers.items():
            lname = name.lower()
            if lname in _SECRET_HEADERS:
                scheme = value.split(" ", 1)[0] if " " in value else ""
                lines.append(f"{name}: {scheme + ' ' if scheme else ''}{REDACTED}")
            elif lname in keep or (lname.startswith("x-") and lname not in ("x-request-id",)):
                lines.append(f"{name}: {self.text(value)}")
        return "\n".join(lines)

    def _body(self, content: bytes) -> str:
        text = content[:_BODY_LIMIT * 4].decode("utf-8", "replace")
        text = self.text(text)
        if len(text) > _BODY_LIMIT or len(content) > _BODY_LIMIT * 4:
            text = text[:_BODY_LIMIT] + f"… ({len(content):,} bytes)"
        return text

    def excerpt(self, response: httpx.Response, note: str | None = None) -> EvidenceExcerpt:
        """The request and response of ``response``, redacted and shortened."""
        req = response.request
        url = req.url
        target = url.raw_path.decode("ascii", "replace")
        request = f"{req.method} {url.scheme}://{url.host}:{url.port}{self.text(target)}\n"
        request += self._headers(req.headers, ("content-type", "idempotency-key", "forwarded", "content-length"))
        try:
            body = req.content
        except httpx.RequestNotRead:
            body = b""
        if body:
            request += "\n\n" + self._body(body)
        reply = f"HTTP {response.status_code}\n"
        reply += self._headers(response.headers, ("content-type", "retry-after", "www-authenticate"))
        if response.content:
            reply += "\n\n" + self._body(response.content)
        return EvidenceExcerpt(request=request, response=reply, note=self.text(note) if note else None)
