"""Network faults through a Toxiproxy-compatible TCP proxy placed between the load and a target
(or between the portal and the population service, for the embedded mocks).

Embedded default: dientap's own fault proxy (:class:`drills.faultproxy.FaultProxyServer`)
started in-process on a free loopback port. With ``api_url`` the same drill drives an
external Toxiproxy (or a dientap fault proxy run elsewhere) through the same HTTP API.
The drill owns only the proxies it creates (``dientap-<run>-<service>``): its rollback
touches those, never a shared server's other proxies, and deletes them at the end.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

from drills.backends.http import fault_id
from drills.backends.protocol import InjectedFaultBackend
from drills.model import Fault
from drills.toxiproxy_client import ToxiproxyClient, ToxiproxyError
from kernel.allowlist import Allowlist

__all__ = ["NetworkFaultBackend"]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "127.0.0.1", port


class NetworkFaultBackend(InjectedFaultBackend):
    """Puts a proxy in front of each service that has network faults, and drives its toxics."""

    def __init__(self, allowlist: Allowlist, *, api_url: str | None = None, run_tag: str = "drill"):
        self.allowlist = allowlist
        self._server = None
        if api_url is None:
            from drills.faultproxy import FaultProxyServer

            self._server = FaultProxyServer("127.0.0.1", 0, allowlist=allowlist)
            self._server.start()
            api_url = self._server.api_url
        else:
            allowlist.check_url(api_url, what="fault proxy API")
        self.api_url = api_url
        self.client = ToxiproxyClient(api_url)
        self._tag = run_tag
        self.proxies: dict[str, str] = {}  # service → proxy name

    def proxy_name(self, service: str) -> str:
        """The proxy this drill owns for ``service`` (or for a link such as ``portal->population``)."""
        return f"dientap-{self._tag}-{service.replace('->', '-to-')}"

    def plumb(self, service: str, upstream_url: str) -> str:
        """Create the proxy for ``service`` (a :attr:`Fault.proxy_key`) and return the URL
        its client should use instead of ``upstream_url``."""
        self.allowlist.check_url(upstream_url, what=service)
        host, port = _host_port(upstream_url)
        upstream = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        name = self.proxy_name(service)
        info = self.client.create_proxy(name, listen="127.0.0.1:0", upstream=upstream)
        self.proxies[service] = name
        parts = urlsplit(upstream_url)
        return urlunsplit((parts.scheme, f"127.0.0.1:{info.listen_port}", parts.path, "", ""))

    def inject(self, fault: Fault) -> dict[str, str | int | float | bool | None]:
        """Add the fault's toxic (or take the proxy down)."""
        assert fault.network is not None  # nosec B101
        proxy = self.proxies[fault.proxy_key]
        spec = fault.network
        if spec.toxic == "down":
            self.client.disable(proxy)
            return {"proxy": proxy, "toxic": "down"}
        info = self.client.add_toxic(proxy, spec.toxic, spec.attributes, name=fault_id(fault), stream=spec.stream,
                                     toxicity=spec.toxicity)
        detail: dict[str, str | int | float | bool | None] = {"proxy": proxy, "toxic": info.type, "stream": info.stream,
                                                               "toxicity": info.toxicity}
        detail.update({f"attr.{k}": v for k, v in sorted(spec.attributes.items())})
        return detail

    def remove(self, fault: Fault) -> str:
        """Remove the toxic (or bring the proxy back up); already gone is fine."""
        assert fault.network is not None  # nosec B101
        proxy = self.proxies[fault.proxy_key]
        if fault.network.toxic == "down":
            self.client.enable(proxy)
            return "proxy up"
        try:
            self.client.remove_toxic(proxy, fault_id(fault))
        except ToxiproxyError as exc:
            if exc.status != 404:
                raise
            return "already gone"
        return "removed"

    def clear_all(self) -> dict[str, int | str]:
        """Rollback: every toxic off and every proxy up — on this drill's proxies only."""
        cleared: dict[str, int | str] = {}
        for service, proxy in self.proxies.items():
            try:
                toxics = self.client.toxics(proxy)
                for toxic in toxics:
                    self.client.remove_toxic(proxy, toxic.name)
                self.client.enable(proxy)
                cleared[service] = len(toxics)
            except (ToxiproxyError, OSError) as exc:
                cleared[service] = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - httpx errors and the like: reported, the rest of the rollback still runs
                cleared[service] = type(exc).__name__
        return cleared

    def leftover(self) -> dict[str, int]:
        """Toxics still on (plus 1 for a proxy still down) per service; −1 when unreadable."""
        left: dict[str, int] = {}
        for service, proxy in self.proxies.items():
            try:
                info = self.client.get_proxy(proxy)
                left[service] = len(info.toxics) + (0 if info.enabled else 1)
            except Exception:  # noqa: BLE001 - reported as unknown, never raised from a rollback check
                left[service] = -1
        return left

    def close(self) -> None:
        """Delete this drill's proxies and stop the embedded proxy server."""
        for proxy in list(self.proxies.values()):
            with contextlib.suppress(Exception):  # best effort on the way out
                self.client.delete_proxy(proxy)
        self.proxies.clear()
        self.client.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
