"""The three mock services as one embedded target: population, axis, then the portal."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dientap.orchestration.process import ServiceProcess, python_module_argv
from kernel.defaults import POPULATION_SIZE, SEED
from kernel.stopping import stop_processes

__all__ = ["MockCluster", "MockClusterConfig", "SERVICE_ORDER"]

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


class MockCluster:
    """Start, supervise and stop the portal, population and axis mocks."""

    def __init__(self, config: MockClusterConfig):
        self.config = config
        self.services: dict[str, ServiceProcess] = {}

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
        if cfg.extra_settings.get(name):
            args += ["--settings-json", json.dumps(cfg.extra_settings[name])]
        return python_module_argv("mocks", *args)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start all three in dependency order and wait until each is healthy."""
        try:
            for name in SERVICE_ORDER:
                # The socket (and so the URL) exists before the process; the portal needs it.
                proc = ServiceProcess(
                    name,
                    [],
                    host=self.config.host,
                    port=self.config.ports.get(name, 0),
                    env={"DIENTAP_ADMIN_TOKEN": self.config.admin_token},
                    log_path=(self.config.log_dir / f"{name}.log") if self.config.log_dir else None,
                )
                self.services[name] = proc
                proc.argv = self._argv(name)
                proc.start()
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
        """Stop every service at once (one shared grace period) and release their sockets."""
        services = [self.services.pop(name) for name in reversed(SERVICE_ORDER) if name in self.services]
        stop_processes([s.proc for s in services if s.proc is not None])
        for service in services:
            service.close()

    def __enter__(self) -> MockCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
