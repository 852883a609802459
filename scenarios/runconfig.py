"""The run configuration ``dientap run`` hands to every Locust process (master and workers).

Written as ``<run_dir>/run-config.json`` and found through ``DIENTAP_RUN_CONFIG``; secrets
are *not* in it — they travel in the ``DIENTAP_DRY_RUN_SECRET`` environment variable.
``locust -f locustfile.py`` without ``dientap run`` builds one from its own command-line
options (see locustfile.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.defaults import POPULATION_SIZE, REQUEST_TIMEOUT_S, SEED
from kernel.targets import TargetSpec
from kernel.tls import TlsOptions
from scenarios.profile import Profile

__all__ = ["RunConfig", "load_run_config", "RUN_CONFIG_ENV", "SECRET_ENV"]

RUN_CONFIG_ENV = "DIENTAP_RUN_CONFIG"
SECRET_ENV = "DIENTAP_DRY_RUN_SECRET"


class RunConfig(BaseModel):
    """Everything a load process needs to play a profile against a target."""

    model_config = {"extra": "forbid"}

    run_id: str
    run_dir: Path
    profile: Profile
    seed: int = SEED.default
    population_size: int = Field(default=POPULATION_SIZE.default, ge=1)
    urls: dict[str, str]
    pki_dir: Path | None = None
    adapter: str = "default"
    protocols: dict[str, str] = {}  # service → kernel.targets.PROTOCOLS entry; absent = native
    tls: dict[str, dict[str, str | bool | None]] = {}  # service → kernel.tls.TlsOptions.as_dict() (paths only)
    accounts_file: Path | None = None  # kernel.accounts_file (its rows say where passwords are, never what)
    pool_size: int = Field(default=10, ge=1, le=1000)
    request_timeout_s: float = Field(default=REQUEST_TIMEOUT_S.default, gt=0)
    workers: int = Field(default=0, ge=0)
    per_commune_sources: bool = True  # kernel.targets.TargetSpec.binds_commune_sources
    # A worker on another machine keeps its own copy of what it shipped to the master here
    # (histograms, ledger, players); None for the master, a local process or a local worker.
    copy_dir: Path | None = None
    # Provenance, recorded in the journal (never secrets):
    target_kind: str = "embedded"
    target_name: str | None = None
    command_line: list[str] = []
    prometheus_url: str | None = None

    def target_spec(self) -> TargetSpec:
        """The adapters' view of the target, with the secret from the environment."""
        return TargetSpec(
            urls=self.urls,
            secret=os.environ.get(SECRET_ENV, DEFAULT_DRY_RUN_SECRET),
            pki_dir=self.pki_dir,
            adapter=self.adapter,
            protocols=dict(self.protocols),
            tls={service: TlsOptions.from_dict(values) for service, values in self.tls.items()},
            accounts_file=self.accounts_file,
            pool_size=self.pool_size,
            timeout_s=self.request_timeout_s,
            per_commune_sources=self.per_commune_sources,
        )

    def write(self, path: Path) -> None:
        """Write as JSON (no secrets inside)."""
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")


def load_run_config(path: str | Path | None = None) -> RunConfig | None:
    """The run config named by ``path`` or ``DIENTAP_RUN_CONFIG`` (None when neither is set)."""
    path = path or os.environ.get(RUN_CONFIG_ENV)
    if not path:
        return None
    return RunConfig.model_validate_json(Path(path).read_text(encoding="utf-8"))
