"""Dossier attachments: fetched only from the allowlisted document store (OWASP API7:2023).

A dossier names its attachments by URL (``attachments[].url`` on ``POST /dossiers``,
``TaiLieuNop[].DuongDanTaiTepTin`` on the national face). Fetching a URL the client
chose is server-side request forgery unless the server decides where it may go, so:

* a URL is accepted only under a prefix of ``attachment_allowlist`` (one portal setting):
  same scheme, host and port, the path under the prefix's path, no user info, no ``.``
  or ``..`` segments and no encoded separators (``%2f``, ``%5c``, ``%2e``). This is decided
  from the text of the URL before any connection is made, so a refused URL is never
  contacted; the refusal is a 422 naming the field. The embedded mocks allowlist the
  axis mock's document store (``GET /store/{name}``, ``mocks/axis/store_files.py``);
* the fetch follows no redirects (a 3xx is refused: a store that redirects could send the
  portal anywhere), reads at most ``attachment_max_bytes`` and gives up after
  ``attachment_timeout_s`` (503, nothing stored: the store is down, not the client wrong);
* what the dossier keeps is the attachment's name, size and SHA-256, never its bytes.

httpx (already used for payment callbacks) does the fetching, with ``trust_env=False`` so
no proxy from the environment carries the request elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from mocks.core.errors import ApiError

__all__ = ["AttachmentFetcher", "FetchedAttachment"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ENCODED_SEPARATORS = ("%2f", "%5c", "%2e", "%00")


@dataclass(frozen=True, slots=True)
class FetchedAttachment:
    """What a dossier keeps of an attachment: its name, size and digest."""

    name: str
    size: int
    sha256: str

    def summary(self) -> str:
        """The stored form: ``name; N bytes; sha256:…``."""
        return f"{self.name}; {self.size} bytes; sha256:{self.sha256}"


@dataclass(frozen=True, slots=True)
class _Prefix:
    scheme: str
    host: str
    port: int
    path: str


def _parse_prefix(prefix: str) -> _Prefix:
    parts = urlsplit(prefix)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or not parts.path.endswith("/"):
        raise ValueError(f"attachment_allowlist: {prefix!r} must be http(s)://host[:port]/path/ (ending in /)")
    return _Prefix(parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme], parts.path)


class AttachmentFetcher:
    """Checks attachment URLs against the allowlist and fetches them within limits.

    ``fetch_any`` is the planted ``ssrf_fetch_any`` weakness (security drills only): no
    allowlist, redirects followed, ``file:`` URLs read from the portal's disk, no size cap.
    """

    def __init__(self, allowlist: tuple[str, ...], max_bytes: int, timeout_s: float, *,
                 ca_file: str | None = None, fetch_any: bool = False):
        self._prefixes = tuple(_parse_prefix(p) for p in allowlist)
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._verify: str | bool = ca_file or True
        self._fetch_any = fetch_any
        self._client: httpx.AsyncClient | None = None

    def allowed(self, url: str) -> bool:
        """Whether ``url`` lies under an allowlisted prefix (decided from its text alone)."""
        # Printable ASCII only: a control character (\x01, DEL) is no URL, and httpx would
        # raise InvalidURL on it in the fetch.
        if len(url) > 2000 or not (url.isascii() and url.isprintable()) or any(c in url for c in "\\ "):
            return False
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
            return False
        lowered = parts.path.lower()
        if any(code in lowered for code in _ENCODED_SEPARATORS) or any(s in (".", "..") for s in parts.path.split("/")):
            return False
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:  # a port that is not a number in 0–65535
            return False
        return any(parts.scheme == p.scheme and parts.hostname == p.host and port == p.port
                   and parts.path.startswith(p.path) for p in self._prefixes)

    def check(self, url: str, field: str) -> None:
        """Refuse (422 naming ``field``) a URL outside the document store, before any request."""
        if self._fetch_any:  # PLANTED WEAKNESS ssrf_fetch_any: every URL is fine
            return
        if not self.allowed(url):
            raise ApiError(422, "attachment_url_refused", "attachments are fetched only from the document store; "
                           "this URL is not under an allowlisted prefix", field)

    async def fetch(self, name: str, url: str, field: str) -> FetchedAttachment:
        """Fetch one (already checked) attachment: 422 for the store's refusals, 503 when unreachable."""
        if self._fetch_any and url.lower().startswith("file:"):
            try:
                data = Path(urlsplit(url).path).read_bytes()  # PLANTED WEAKNESS ssrf_fetch_any: reads the portal's disk
            except OSError:
                raise ApiError(422, "attachment_unavailable", "no such file", field) from None
            return FetchedAttachment(name, len(data), hashlib.sha256(data).hexdigest())
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, verify=self._verify, follow_redirects=self._fetch_any,
                                             timeout=httpx.Timeout(self.timeout_s))
        digest = hashlib.sha256()
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s), self._client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    what = "redirects elsewhere (not followed)" if 300 <= resp.status_code < 400 else "is not available"
                    raise ApiError(422, "attachment_unavailable",
                                   f"the document store answered {resp.status_code}: the attachment {what}", field)
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes and not self._fetch_any:
                        raise ApiError(422, "attachment_too_large",
                                       f"the attachment exceeds the {self.max_bytes}-byte limit", field)
                    digest.update(chunk)
        except httpx.InvalidURL:  # under the planted weakness only: the allowlist refuses what httpx cannot read
            raise ApiError(422, "attachment_url_refused", "the URL cannot be read", field) from None
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ApiError(503, "attachment_store_unavailable", f"the document store could not be read "
                           f"({type(exc).__name__}); nothing was stored, retry later", field,
                           {"Retry-After": "5"}) from None
        return FetchedAttachment(name, size, digest.hexdigest())

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
