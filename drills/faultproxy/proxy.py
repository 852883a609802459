"""Proxies (listener + upstream + toxic chains) and the registry the HTTP API manages.

Safety rules (dientap's, not Toxiproxy's): an upstream must be loopback or on the
:class:`~kernel.allowlist.Allowlist` passed in; a listen address must be loopback unless
``allow_public_listen``; every hold is bounded by ``max_hold_s``; closing the registry closes
every listener and connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, field

from drills.faultproxy.errors import (
    FaultProxyApiError,
    bad_request_body,
    listen_failed,
    not_allowed,
    proxy_already_exists,
    proxy_not_found,
    toxic_already_exists,
    toxic_not_found,
)
from drills.faultproxy.link import Connection
from drills.faultproxy.models import ProxySpec, Stream, ToxicSpec, ToxicUpdate, parse_attributes
from drills.faultproxy.toxics import ActiveToxic
from kernel.allowlist import Allowlist, is_loopback_host

__all__ = ["FaultProxySettings", "Proxy", "ProxyRegistry", "split_host_port"]

DEFAULT_LISTEN = "127.0.0.1:0"


@dataclass(frozen=True)
class FaultProxySettings:
    """Safety and timing settings of a fault proxy server."""

    allowlist: Allowlist = field(default_factory=Allowlist)
    allow_public_listen: bool = False
    max_hold_s: float = 300.0  # upper bound of every hold/delay (timeout 0, huge latencies)
    connect_timeout_s: float = 10.0  # dialing the upstream


#: ``host:port`` as Go's ``net.SplitHostPort`` takes it: an IPv6 address in brackets, any other
#: host without colons, brackets, slashes or spaces (empty: every interface), ASCII digits.
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:%[0-9A-Za-z_.-]+)?)\]|(?P<host>[^\s\[\]:/@]*)):(?P<port>[0-9]{1,5})")


def split_host_port(address: str, what: str) -> tuple[str, int]:
    """``"127.0.0.1:80"`` / ``"[::1]:80"`` / ``"localhost:80"`` / ``":80"`` → (host, port); 400
    naming ``what`` otherwise (``"[::1:80"``, ``"::1:80"``, ``"host :80"``, a port past 65535)."""
    match = _HOST_PORT.fullmatch(address)
    if match is None or int(match["port"]) > 65535:
        raise bad_request_body(f"{what}: expected host:port (an IPv6 address in brackets), got {address!r}")
    if match["v6"] is not None:
        try:
            ipaddress.IPv6Address(match["v6"])
        except ValueError:
            raise bad_request_body(f"{what}: {match['v6']!r} in brackets is not an IPv6 address") from None
        return match["v6"], int(match["port"])
    return match["host"], int(match["port"])


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """One named proxy: a listener on ``listen`` forwarding to ``upstream`` through its toxics."""

    def __init__(self, spec: ProxySpec, settings: FaultProxySettings):
        self.name = spec.name
        self.listen = spec.listen or DEFAULT_LISTEN
        self.upstream = spec.upstream
        self.enabled = False
        self.settings = settings
        self.chains: dict[Stream, list[ActiveToxic]] = {Stream.UPSTREAM: [], Stream.DOWNSTREAM: []}
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    def to_json(self) -> dict[str, object]:
        """The proxy with its toxics, as Toxiproxy shows it."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics_json(),
        }

    def toxics_json(self) -> list[dict[str, object]]:
        """The toxics, upstream chain first, each in the order added (as Toxiproxy lists them)."""
        return [toxic.to_json() for stream in (Stream.UPSTREAM, Stream.DOWNSTREAM) for toxic in self.chains[stream]]

    # Listener ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (if not already); a port of 0 is replaced by the port actually bound."""
        if self.enabled:
            return
        host, port = split_host_port(self.listen, "listen")
        bind_host = "127.0.0.1" if host == "localhost" else host  # one socket, one port
        try:
            self._server = await asyncio.start_server(self._on_client, bind_host or None, port, reuse_address=True)
        except OSError as exc:
            raise listen_failed(self.listen, exc.strerror or str(exc)) from None
        sockname = self._server.sockets[0].getsockname()
        self.listen = _join_host_port(sockname[0], sockname[1])
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening (new connections are refused) and close every open connection."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self.connections):
            connection.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._proxy_client(reader, writer)
        except asyncio.CancelledError:
            # Shutdown cancels handlers; nobody awaits this task, and Python 3.11's stream
            # callback would log the cancellation as an error. Close and end quietly.
            writer.close()

    async def _proxy_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.enabled:
            writer.close()
            return
        host, port = split_host_port(self.upstream, "upstream")
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                upstream = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            writer.close()  # as Toxiproxy: the client sees its connection closed
            return
        if not self.enabled:
            writer.close()
            upstream[1].close()
            return
        connection = Connection(self.chains.__getitem__, (reader, writer), upstream, self.settings.max_hold_s)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)

    # Toxics ------------------------------------------------------------------------------

    def find_toxic(self, name: str) -> ActiveToxic:
        """The toxic named ``name`` (404 ``toxic not found``)."""
        for chain in self.chains.values():
            for toxic in chain:
                if toxic.name == name:
                    return toxic
        raise toxic_not_found()

    def add_toxic(self, spec: ToxicSpec) -> ActiveToxic:
        """Append a toxic to its stream's chain and start it on every open connection."""
        if any(toxic.name == spec.name for chain in self.chains.values() for toxic in chain):
            raise toxic_already_exists()
        toxic = ActiveToxic(spec.name, spec.type, spec.stream, spec.toxicity, spec.attributes)
        self.chains[spec.stream].append(toxic)
        for connection in self.connections:
            connection.links[spec.stream].attach(toxic)
        return toxic

    def update_toxic(self, name: str, update: ToxicUpdate) -> ActiveToxic:
        """Merge new attributes / toxicity into a toxic; open connections switch to it at once."""
        old = self.find_toxic(name)
        merged = {**old.attributes.model_dump(), **update.attributes}
        attributes = parse_attributes(old.type, merged)
        toxicity = old.toxicity if update.toxicity is None else update.toxicity
        new = ActiveToxic(old.name, old.type, old.stream, toxicity, attributes)
        chain = self.chains[old.stream]
        chain[chain.index(old)] = new
        old.removed.set()  # releases anything the old version holds
        for connection in self.connections:
            connection.links[old.stream].attach(new)
        return new

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; data it was holding or delaying is released at once."""
        toxic = self.find_toxic(name)
        self.chains[toxic.stream].remove(toxic)
        toxic.removed.set()
        for connection in self.connections:
            connection.links[toxic.stream].detach(name)

    def reset_toxics(self) -> None:
        """Remove every toxic of both streams."""
        for toxic in [t for chain in self.chains.values() for t in chain]:
            self.remove_toxic(toxic.name)


class ProxyRegistry:
    """All proxies of one server, keyed by name (Toxiproxy's ``ProxyCollection``)."""

    def __init__(self, settings: FaultProxySettings | None = None):
        self.settings = settings or FaultProxySettings()
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        """The proxy named ``name`` (404 ``proxy not found``)."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise proxy_not_found()
        return proxy

    def check_addresses(self, spec: ProxySpec) -> None:
        """Refuse (403) an upstream off the allowlist or a non-loopback listen address."""
        up_host, up_port = split_host_port(spec.upstream, "upstream")
        if up_port == 0:
            raise bad_request_body(f"upstream: port must be 1..65535, got {spec.upstream!r}")
        if not self.settings.allowlist.allows(up_host):
            raise not_allowed(
                f"upstream: host {up_host!r} is not on the allowlist (default: loopback only); "
                f"add it explicitly with --allow-host {up_host} if you own that system"
            )
        listen_host, _ = split_host_port(spec.listen or DEFAULT_LISTEN, "listen")
        if not self.settings.allow_public_listen and not is_loopback_host(listen_host):
            raise not_allowed(
                f"listen: host {listen_host or '(all interfaces)'!r} is not a loopback address; "
                "listening elsewhere needs --allow-public-listen"
            )

    async def create(self, spec: ProxySpec) -> Proxy:
        """Create (and start, if enabled) a proxy; 409 if the name is taken."""
        if spec.name in self.proxies:
            raise proxy_already_exists()
        self.check_addresses(spec)
        proxy = Proxy(spec, self.settings)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    async def populate(self, specs: list[ProxySpec]) -> list[Proxy]:
        """Create or replace many proxies; all are validated before any is changed.

        A proxy that exists with the same listen and upstream is kept (with its connections
        and toxics) and only its ``enabled`` state follows the input, as in Toxiproxy.
        """
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise bad_request_body(f"duplicate proxy name {spec.name!r}")
            seen.add(spec.name)
            self.check_addresses(spec)
        result = []
        for spec in specs:
            existing = self.proxies.get(spec.name)
            if existing is not None and existing.upstream == spec.upstream and existing.listen == spec.listen:
                await (existing.start() if spec.enabled else existing.stop())
                result.append(existing)
                continue
            if existing is not None:
                await self.delete(spec.name)
            result.append(await self.create(spec))
        return result

    async def update(self, name: str, spec: ProxySpec) -> Proxy:
        """Change listen/upstream (restarts the proxy, dropping connections) and/or enabled."""
        proxy = self.get(name)
        self.check_addresses(spec)
        if spec.listen != proxy.listen or spec.upstream != proxy.upstream:
            was_enabled = proxy.enabled
            await proxy.stop()
            proxy.listen, proxy.upstream = spec.listen or DEFAULT_LISTEN, spec.upstream
            if was_enabled and spec.enabled:
                await proxy.start()
        if spec.enabled:
            await proxy.start()
        else:
            await proxy.stop()
        return proxy

    async def delete(self, name: str) -> None:
        """Stop and forget a proxy."""
        proxy = self.get(name)
        await proxy.stop()
        proxy.reset_toxics()
        del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (the halt-all)."""
        # Faults first, for every proxy: a listener that cannot be re-bound must not keep
        # another proxy's toxics alive.
        for proxy in self.proxies.values():
            proxy.reset_toxics()
        failure: FaultProxyApiError | None = None
        for proxy in self.proxies.values():
            try:
                await proxy.start()
            except FaultProxyApiError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    async def close(self) -> None:
        """Stop every proxy and close every connection (server shutdown)."""
        for proxy in list(self.proxies.values()):
            proxy.reset_toxics()
            await proxy.stop()
