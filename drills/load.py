"""The load a drill runs under, as the drill sees it: a small typed handle.

The drill command builds the load (``dientap.orchestration.DryRun`` satisfies
:class:`LoadSession`) and hands it to :class:`drills.runner.DrillRunner`, so drills never
import the orchestration and the profile is resolved once, by whoever builds the load::

    dientap drill NAME → DryRun(options)  (profile resolved, run id, run directory)
                       → DrillRunner(name, drill, load).run()  (start, faults, wait, roll back)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

__all__ = ["LoadProfile", "ServiceHandle", "LoadSession"]


class LoadProfile(Protocol):
    """What a drill reads of the resolved load profile."""

    @property
    def name(self) -> str: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def scale(self) -> float: ...


class ServiceHandle(Protocol):
    """One embedded service process, for process faults (crash, restart, freeze, thaw)."""

    @property
    def pid(self) -> int | None: ...
    @property
    def restarts(self) -> int: ...
    def signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...
    def restart(self, timeout_s: float = 60.0) -> None: ...


class LoadSession(Protocol):
    """The load: its target (started or resolved), its run directory, its timeline."""

    @property
    def run_id(self) -> str: ...
    @property
    def run_dir(self) -> Path: ...
    @property
    def profile(self) -> LoadProfile: ...
    @property
    def embedded(self) -> bool:
        """True for the embedded mocks (started by the load), False for a targets file."""
        ...
    @property
    def target_name(self) -> str:
        """"embedded mocks", or the targets file's name."""
        ...
    @property
    def seed(self) -> int: ...
    @property
    def population_size(self) -> int: ...
    @property
    def allow_hosts(self) -> tuple[str, ...]: ...
    @property
    def command_line(self) -> list[str]: ...
    @property
    def services(self) -> Mapping[str, ServiceHandle] | None:
        """The embedded service processes (None for a targets file)."""
        ...

    # Known once the target is started or resolved.
    urls: dict[str, str]
    admin_token: str | None
    secret: str
    pki_dir: Path | None
    locust_exit: int | None

    @property
    def started_at(self) -> float | None:
        """When the load's doors opened (epoch seconds): the run's one clock, which the
        journal's offsets also count from (:mod:`kernel.load_clock`); ``None`` before."""
        ...

    def start_target(self, *, portal_population_via: Callable[[str], str] | None = None) -> None: ...
    def start_load(self) -> None: ...
    def elapsed(self) -> float | None:
        """Seconds on the run's clock; ``None`` until the load's doors open."""
        ...
    def wait(self, timeout_s: float | None = None) -> bool: ...
    def stop_load(self) -> None: ...
    def close(self) -> None: ...
