"""The three mock services as one embedded target: population, axis, then the portal.

With ``tls_dir`` they serve https with a server certificate from a dry-run CA kept in
that directory (``ca.pem``, ``server.pem``/``.key``, and ``client.pem``/``.key`` for a
client that must show one): the TLS a staging system would have, to rehearse dientap's
own TLS options against (``kernel.tls``).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dientap.orchestration.process import ServiceProcess, python_module_argv
from kernel.allowlist import is_loopback_host
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, DRY_RUN_SECRET_ENV, default_secret_refusal
from kernel.defaults import POPULATION_SIZE, SEED
from kernel.errors import UsageError
from kernel.stopping import stop_processes
from mocks.core.settings import KNOWN_WEAKNESSES

__all__ = [
    "MockCluster", "MockClusterConfig", "MockTlsFiles", "SERVICE_ORDER", "ServiceBindError", "check_secret",
    "check_weaknesses", "uses_default_secret",
]

# Population first: the portal needs its URL for identity checks.
SERVICE_ORDER = ("population", "axis", "portal")


@dataclass
class MockClusterConfig:
    """How to start the embedded mocks (ports 0 = free ports)."""

    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: {"population": 0, "axis": 0, "portal": 0})
    data_dir: Path = Path(".dientap/data")
    seed: int = SEED.default
    population_size: int = POPULATION_SIZE.default
    readiness_file: Path | None = None
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # service → weaknesses
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    extra_settings: dict[str, dict] = field(default_factory=dict)  # service → settings overrides
    log_dir: Path | None = None
    # Maps the population service's URL to the one the portal should call instead — a
    # fault proxy in between, for drills on the portal → population link.
    portal_population_via: Callable[[str], str] | None = None
    tls_dir: Path | None = None  # serve https, certificates from the dry-run CA kept here
    client_auth: frozenset[str] = frozenset()  # with tls_dir: services that require a client certificate


@dataclass(frozen=True)
class MockTlsFiles:
    """Where the mocks' TLS material is: the CA to trust, the server's and a client's pairs."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def prepare(cls, directory: Path, host: str) -> MockTlsFiles:
        """The dry-run CA of ``directory`` (created once) and fresh certificates from it."""
        from kernel.pki import DryRunCA, issue_tls

        ca = DryRunCA.load_or_create(directory / "ca")
        hosts = tuple(dict.fromkeys((host, "127.0.0.1", "localhost")))
        server_cert, server_key = issue_tls(ca, "dientap mocks", hosts=hosts).write(directory, "server")
        client_cert, client_key = issue_tls(ca, "dientap load generator", client=True).write(directory, "client")
        return cls(directory / "ca" / "ca.pem", server_cert, server_key, client_cert, client_key)

    def client_context(self) -> ssl.SSLContext:
        """What a client of the mocks uses: trusts the CA, shows the client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


class ServiceBindError(UsageError):
    """A service's socket cannot be bound: its port is taken, or its host is no address of
    this machine. Raised before any service starts; the CLI names the flag to change."""

    def __init__(self, service: str, host: str, port: int, error: OSError):
        self.service, self.host, self.port = service, host, port
        # The host is to blame when it is not this machine's (or not an address at all);
        # otherwise the port is (taken, or privileged).
        self.bad_host = isinstance(error, socket.gaierror) or error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
        self.reason = error.strerror or str(error)
        super().__init__(f"the {service} mock cannot listen on {host}:{port}: {self.reason}")


def check_weaknesses(vulnerable: dict[str, list[str]], host: str) -> None:
    """Refuse what every service's own settings would refuse, before any service starts: an
    unknown weakness, or a weakness planted in a service that does not bind to loopback."""
    for service, weaknesses in vulnerable.items():
        unknown = sorted(set(weaknesses) - KNOWN_WEAKNESSES)
        if unknown:
            raise UsageError(f"unknown weakness(es) {', '.join(map(repr, unknown))} for the {service} mock; "
                             f"known weaknesses: {', '.join(sorted(KNOWN_WEAKNESSES))}")
    if any(vulnerable.values()) and not is_loopback_host(host):
        raise UsageError(f"planted weaknesses are refused unless the mocks bind to loopback, and the host is {host!r}; "
                         "bind them to 127.0.0.1, ::1 or localhost")


def uses_default_secret() -> bool:
    """Whether the services will start with the public default dry-run secret (they inherit
    this process's environment, where a team's own secret is given)."""
    return (os.environ.get(DRY_RUN_SECRET_ENV) or DEFAULT_DRY_RUN_SECRET) == DEFAULT_DRY_RUN_SECRET


def check_secret(host: str) -> None:
    """Refuse what every service's own settings would refuse, before any service starts: the
    public default dry-run secret on an address other than loopback."""
    refusal = default_secret_refusal(os.environ.get(DRY_RUN_SECRET_ENV) or DEFAULT_DRY_RUN_SECRET, host)
    if refusal is not None:
        raise UsageError(refusal)


class MockCluster:
    """Start, supervise and stop the portal, population and axis mocks."""

    def __init__(self, config: MockClusterConfig):
        self.config = config
        self.services: dict[str, ServiceProcess] = {}
        self.tls: MockTlsFiles | None = None

    def _argv(self, name: str) -> list[str]:
        cfg = self.config
        args = [
            "serve", name,
            "--host", cfg.host,
            "--data-dir", str(cfg.data_dir / name),
            "--seed", str(cfg.seed),
            "--population-size", str(cfg.population_size),
        ]
        if cfg.readiness_file is not None:
            args += ["--readiness", str(cfg.readiness_file)]
        if name == "portal":
            population_url = self.services["population"].url
            if cfg.portal_population_via is not None:
                population_url = cfg.portal_population_via(population_url)
            args += ["--population-url", population_url]
        if cfg.vulnerable.get(name):
            args += ["--vulnerable", ",".join(cfg.vulnerable[name])]
        extra = dict(cfg.extra_settings.get(name, {}))
        if name == "portal":  # the one place attachments may come from: the axis's document store (API7)
            extra.setdefault("attachment_allowlist", [f"{self.services['axis'].url}/store/"])
        if self.tls is not None:
            args += ["--tls-cert", str(self.tls.server_cert), "--tls-key", str(self.tls.server_key)]
            if name in cfg.client_auth:
                args += ["--tls-client-ca", str(self.tls.ca)]
            if name == "portal":
                extra.setdefault("upstream_ca_file", str(self.tls.ca))
                # The portal's client certificate: to the population database, and to itself
                # (the payment intermediary's callbacks) when the portal requires one.
                if "population" in cfg.client_auth or "portal" in cfg.client_auth:
                    extra.setdefault("upstream_client_cert", str(self.tls.client_cert))
                    extra.setdefault("upstream_client_key", str(self.tls.client_key))
        if extra:
            args += ["--settings-json", json.dumps(extra)]
        return python_module_argv("mocks", *args)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start all three in dependency order and wait until each is healthy.

        Every socket is bound before any process starts, so a port that is taken or a host
        that is not this machine's (:class:`ServiceBindError`) starts nothing.
        """
        check_weaknesses(self.config.vulnerable, self.config.host)
        check_secret(self.config.host)
        if self.config.tls_dir is not None:
            self.tls = MockTlsFiles.prepare(self.config.tls_dir, self.config.host)
        try:
            for name in SERVICE_ORDER:
                # The socket (and so the URL) exists before the process; the portal needs it.
                port = self.config.ports.get(name, 0)
                try:
                    self.services[name] = ServiceProcess(
                        name,
                        [],
                        host=self.config.host,
                        port=port,
                        env={"DIENTAP_ADMIN_TOKEN": self.config.admin_token},
                        log_path=(self.config.log_dir / f"{name}.log") if self.config.log_dir else None,
                        tls=self.tls.client_context() if self.tls is not None else None,
                    )
                except OSError as exc:
                    raise ServiceBindError(name, self.config.host, port, exc) from None
            for name in SERVICE_ORDER:
                self.services[name].argv = self._argv(name)
                self.services[name].start()
            for name in SERVICE_ORDER:
                self.services[name].wait_healthy(timeout_s)
        except BaseException:
            self.close()
            raise

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of each service."""
        return {name: proc.url for name, proc in self.services.items()}

    def close(self) -> None:
        """Stop every service at once (one shared grace period) and release their sockets.

        A service is forgotten only once it is stopped, so a close cut short (a Ctrl-C
        during it) can be called again to finish the job.
        """
        services = [self.services[name] for name in reversed(SERVICE_ORDER) if name in self.services]
        stop_processes([s.proc for s in services if s.proc is not None])
        for service in services:
            service.close()
            self.services.pop(service.name, None)

    def __enter__(self) -> MockCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
