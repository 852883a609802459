"""A small client of Toxiproxy's HTTP API, for drills: works against dientap's fault proxy
(:mod:`drills.faultproxy`) and against a real Toxiproxy 2.x alike.

::

    client = ToxiproxyClient("http://127.0.0.1:8474")
    proxy = client.create_proxy("axis", listen="127.0.0.1:0", upstream="127.0.0.1:8703")
    with client.toxic("axis", "latency", {"latency": 200, "jitter": 20}):
        ...                                   # traffic through proxy.listen is slower
    with client.down("axis"):
        ...                                   # the axis is unreachable
    client.reset()                            # halt-all: every proxy up, every toxic gone

Updates use ``POST`` (every Toxiproxy 2.x accepts it; ``PATCH`` arrived later).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

import httpx

__all__ = ["ToxiproxyClient", "ToxiproxyError", "ProxyInfo", "ToxicInfo"]

# Toxiproxy refuses browser user agents; httpx's default is fine, but be explicit.
_USER_AGENT = "dientap-drills/0.1"


class ToxiproxyError(Exception):
    """The API answered an error (``status`` and Toxiproxy's ``error`` message)."""

    def __init__(self, status: int, message: str, method: str, path: str):
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ToxicInfo:
    """A toxic as the API shows it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ToxicInfo:
        """Build from the API's JSON object."""
        attributes = data.get("attributes")
        toxicity = data.get("toxicity", 1.0)
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(toxicity) if isinstance(toxicity, (int, float)) else 1.0,
            attributes={str(k): v for k, v in attributes.items()} if isinstance(attributes, dict) else {},
        )


@dataclass(frozen=True)
class ProxyInfo:
    """A proxy as the API shows it (``listen`` carries the real port when 0 was asked)."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProxyInfo:
        """Build from the API's JSON object."""
        toxics = data.get("toxics")
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in toxics if isinstance(t, dict))
            if isinstance(toxics, list)
            else (),
        )

    @property
    def listen_port(self) -> int:
        """The port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


def _seg(name: str) -> str:
    """A proxy or toxic name as one URL path segment."""
    return quote(name, safe="")


_Shape = TypeVar("_Shape", dict, list)


def _expect(data: object, kind: type[_Shape], method: str, path: str) -> _Shape:
    """``data`` if it has the JSON shape the API documents for ``path``, else a ToxiproxyError."""
    if not isinstance(data, kind):
        raise ToxiproxyError(200, f"unexpected response: expected a JSON {kind.__name__}", method, path)
    return data


class ToxiproxyClient:
    """Synchronous client of one Toxiproxy-compatible API (``base_url`` like ``http://127.0.0.1:8474``)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8474", *, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers={"User-Agent": _USER_AGENT})

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: object = None) -> object:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except (ValueError, AttributeError):
                message = response.text.strip()
            raise ToxiproxyError(response.status_code, message, method, path)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _object(self, method: str, path: str, body: object = None) -> dict[str, object]:
        return _expect(self._call(method, path, body), dict, method, path)

    # Server -----------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string."""
        data = self._call("GET", "/version")
        return str(data["version"]) if isinstance(data, dict) else str(data)

    def reset(self) -> None:
        """Halt-all: enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    # Proxies ----------------------------------------------------------------------------------

    def proxies(self) -> dict[str, ProxyInfo]:
        """Every proxy by name."""
        data = self._object("GET", "/proxies")
        return {name: ProxyInfo.from_json(_expect(proxy, dict, "GET", "/proxies")) for name, proxy in data.items()}

    def create_proxy(self, name: str, *, listen: str, upstream: str, enabled: bool = True) -> ProxyInfo:
        """Create a proxy (409 → :class:`ToxiproxyError` if the name exists)."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return ProxyInfo.from_json(self._object("POST", "/proxies", body))

    def populate(self, proxies: list[Mapping[str, object]]) -> list[ProxyInfo]:
        """Create or replace many proxies at once (``POST /populate``)."""
        created = self._object("POST", "/populate", list(proxies)).get("proxies")
        return [ProxyInfo.from_json(p) for p in created if isinstance(p, dict)] if isinstance(created, list) else []

    def get_proxy(self, name: str) -> ProxyInfo:
        """One proxy with its toxics."""
        return ProxyInfo.from_json(self._object("GET", f"/proxies/{_seg(name)}"))

    def update_proxy(
        self, name: str, *, enabled: bool | None = None, listen: str | None = None, upstream: str | None = None
    ) -> ProxyInfo:
        """Change a proxy's fields; changing listen/upstream restarts it and drops connections."""
        body = {k: v for k, v in {"enabled": enabled, "listen": listen, "upstream": upstream}.items() if v is not None}
        return ProxyInfo.from_json(self._object("POST", f"/proxies/{_seg(name)}", body))

    def disable(self, name: str) -> ProxyInfo:
        """Take a proxy down ("down": new connections refused, open ones closed)."""
        return self.update_proxy(name, enabled=False)

    def enable(self, name: str) -> ProxyInfo:
        """Bring a proxy back up."""
        return self.update_proxy(name, enabled=True)

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy."""
        self._call("DELETE", f"/proxies/{_seg(name)}")

    @contextmanager
    def down(self, name: str) -> Iterator[ProxyInfo]:
        """Keep a proxy down for the ``with`` block; brought back up on exit, even on error."""
        info = self.disable(name)
        try:
            yield info
        finally:
            self.enable(name)

    # Toxics -----------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        """The toxics of a proxy."""
        path = f"/proxies/{_seg(proxy)}/toxics"
        listed = _expect(self._call("GET", path), list, "GET", path)
        return [ToxicInfo.from_json(_expect(t, dict, "GET", path)) for t in listed]

    def add_toxic(
        self,
        proxy: str,
        type: str,  # noqa: A002 - the API's field name
        attributes: Mapping[str, int] | None = None,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> ToxicInfo:
        """Add a toxic (name defaults to ``<type>_<stream>`` as on the server)."""
        body: dict[str, object] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name:
            body["name"] = name
        return ToxicInfo.from_json(self._object("POST", f"/proxies/{_seg(proxy)}/toxics", body))

    def update_toxic(
        self, proxy: str, name: str, attributes: Mapping[str, int] | None = None, *, toxicity: float | None = None
    ) -> ToxicInfo:
        """Change some attributes and/or the toxicity of a toxic."""
        body: dict[str, object] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return ToxicInfo.from_json(self._object("POST", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic."""
        self._call("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}")

    @contextmanager
    def toxic(
        self,
        proxy: str,
        type: str,  # noqa: A002 - the API's field name
        attributes: Mapping[str, int] | None = None,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> Iterator[ToxicInfo]:
        """Apply a toxic for the ``with`` block; removed on exit, even on error or Ctrl-C."""
        info = self.add_toxic(proxy, type, attributes, name=name, stream=stream, toxicity=toxicity)
        try:
            yield info
        finally:
            try:
                self.remove_toxic(proxy, info.name)
            except ToxiproxyError as exc:
                if exc.status != 404:  # already gone (a reset, say) is fine
                    raise
