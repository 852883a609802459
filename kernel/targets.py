"""Targets: where the load goes. ``embedded`` (the default) is the mocks on loopback;
otherwise a ``targets.yaml`` names base URLs for portal, population and axis::

    allow_hosts: [staging-dvc.example.vn]        # hosts beyond loopback, named explicitly
    portal:     {base_url: https://staging-dvc.example.vn, protocol: dvcqg-adapter}
    population: {base_url: https://staging-dc.example.vn, protocol: c06-soap}
    axis:
      base_url: https://staging-truc.example.vn       # protocol: native (the default)
      tls: {ca_bundle: /etc/dientap/staging-ca.pem, client_cert: /secure/c.pem, client_key: /secure/c.key}
    credentials:
      secret_env: STAGING_DRY_RUN_SECRET          # accounts' passwords are derived from it
      admin_token_env: STAGING_ADMIN_TOKEN        # optional: ledger for reconciliation
      accounts_file: /secure/accounts.csv         # optional: the accounts the target holds (kernel.accounts_file)
    pki_dir: /secure/dry-run-pki                  # agency signing keys (dry-run CA)

Each service speaks ``native`` (the mocks' own REST dialect, the default) or its national
system's integration shape (:data:`PROTOCOLS`): the portal's integration adapter
(``dvcqg-adapter``), the population database's SOAP operations (``c06-soap``), the
document axis's SDK calls (``vdxp``). The personas are the same either way; the adapter
under them changes (``scenarios.adapters``).

TLS is verified by default, per service (``kernel.tls``): a CA bundle, a client
certificate and key for mutual TLS; every file is checked when the file is loaded.

Secrets are read from the environment variables the file names and never written to
the journal or report: :meth:`Target.describe` is what provenance records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from kernel.accounts_file import AccountsFile
from kernel.allowlist import Allowlist, is_loopback_host
from kernel.configfile import StrictModel, load_model
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, Credentials, DerivedCredentials
from kernel.errors import ConfigError, ConfigProblem, TargetNotAllowed
from kernel.tls import TlsOptions, tls_problems

__all__ = [
    "PROTOCOLS", "TlsSpec", "ServiceTarget", "PortalTarget", "PopulationTarget", "AxisTarget", "CredentialsSpec", "TargetsFile",
    "Target", "TargetSpec", "load_targets", "accounts_file", "SERVICE_NAMES",
]

SERVICE_NAMES = ("portal", "population", "axis")

#: The integration shapes each service may speak, ``native`` first (the default).
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "portal": ("native", "dvcqg-adapter"),
    "population": ("native", "c06-soap"),
    "axis": ("native", "vdxp"),
}


class TlsSpec(StrictModel):
    """A service's TLS options (``kernel.tls``): paths, and whether to verify."""

    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    def options(self) -> TlsOptions:
        """As the kernel's :class:`~kernel.tls.TlsOptions`."""
        return TlsOptions(self.ca_bundle, self.client_cert, self.client_key, self.verify)


class ServiceTarget(StrictModel):
    """One system's base URL, and its TLS options when it is https."""

    base_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=500)
    tls: TlsSpec | None = None


class PortalTarget(ServiceTarget):
    """The portal: native REST, or the integration adapter's shape (DongBoHoSoMC, ...)."""

    protocol: Literal["native", "dvcqg-adapter"] = "native"


class PopulationTarget(ServiceTarget):
    """The population database: native REST, or the SOAP operations (TraCuuThongTinCongDan, ...)."""

    protocol: Literal["native", "c06-soap"] = "native"


class AxisTarget(ServiceTarget):
    """The document axis: native REST, or the agencies' SDK calls (sendEdoc, ...)."""

    protocol: Literal["native", "vdxp"] = "native"


class CredentialsSpec(StrictModel):
    """Names of environment variables holding secrets (never the secrets themselves)."""

    secret_env: str = Field(default="DIENTAP_DRY_RUN_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$")
    admin_token_env: str | None = Field(default="DIENTAP_ADMIN_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]*$")
    accounts_file: Path | None = None  # the accounts the target holds (kernel.accounts_file), instead of derived passwords


class TargetsFile(StrictModel):
    """The ``targets.yaml`` format."""

    name: str = "staging"
    allow_hosts: list[str] = []  # noqa: RUF012 - a pydantic field (StrictModel), copied per instance
    portal: PortalTarget
    population: PopulationTarget
    axis: AxisTarget
    credentials: CredentialsSpec = CredentialsSpec()
    pki_dir: Path | None = None
    adapter: str = Field(default="default", description="adapter set: 'default' or 'module:attribute'")


@dataclass
class Target:
    """A resolved target: URLs checked against the allowlist, secrets from the environment."""

    name: str
    kind: str  # "embedded" | "file"
    urls: dict[str, str]
    dry_run_secret: str = field(repr=False)
    admin_token: str | None = field(default=None, repr=False)
    pki_dir: Path | None = None
    adapter: str = "default"
    allow_hosts: tuple[str, ...] = ()
    protocols: dict[str, str] = field(default_factory=dict)  # service → PROTOCOLS entry; absent = native
    tls: dict[str, TlsOptions] = field(default_factory=dict)  # service → its TLS options (https services)
    accounts_file: Path | None = None  # kernel.accounts_file; None: passwords derived from the dry-run secret

    def describe(self) -> dict[str, object]:
        """What provenance records: names and URLs, never secrets."""
        return {"name": self.name, "kind": self.kind, "urls": dict(self.urls), "adapter": self.adapter,
                "protocols": {name: self.protocols.get(name, "native") for name in SERVICE_NAMES},
                "tls": {name: options.as_dict() for name, options in self.tls.items()},
                "accounts_file": str(self.accounts_file) if self.accounts_file else None}


@dataclass(frozen=True)
class TargetSpec:
    """What a load process needs to reach a target (secrets come from the environment)."""

    urls: dict[str, str]
    secret: str
    pki_dir: Path | None = None
    adapter: str = "default"
    pool_size: int = 10
    timeout_s: float = 30.0
    per_commune_sources: bool = True  # see binds_commune_sources
    protocols: dict[str, str] = field(default_factory=dict)  # service → PROTOCOLS entry; absent = native
    tls: dict[str, TlsOptions] = field(default_factory=dict)  # service → TLS options; absent = the defaults
    accounts_file: Path | None = None  # kernel.accounts_file; None: passwords derived from the secret

    def protocol(self, service: str) -> str:
        """The integration shape ``service`` speaks (``native`` unless the targets file names one)."""
        return self.protocols.get(service, "native")

    @property
    def credentials(self) -> Credentials:
        """Where the adapters get passwords: the accounts file, or derived from the dry-run secret."""
        if self.accounts_file is not None:
            return accounts_file(self.accounts_file)
        return DerivedCredentials(self.secret)

    @property
    def binds_commune_sources(self) -> bool:
        """Whether each commune's traffic leaves from its own 127.x address
        (``kernel.source_addresses``): only against a target wholly on loopback, where
        every such address is local; a real target sees the generator's own addresses."""
        return self.per_commune_sources and all(is_loopback_host(_host(url)) for url in self.urls.values())


def load_targets(path: str | Path, *, extra_allow_hosts: tuple[str, ...] = ()) -> Target:
    """Load a targets file, enforce the allowlist and read the secrets it names."""
    spec = load_model(TargetsFile, path)
    allow = Allowlist([*spec.allow_hosts, *extra_allow_hosts])
    problems = []
    urls = {}
    for name in SERVICE_NAMES:
        url = getattr(spec, name).base_url.rstrip("/")
        if not allow.allows(_host(url)):
            problems.append(
                ConfigProblem(
                    str(path), None, f"{name}.base_url",
                    f"host {_host(url)!r} is not on the allowlist (loopback only by default); add it to allow_hosts "
                    "or pass --allow-host if you own that system",
                )
            )
        urls[name] = url
    if problems:
        raise TargetNotAllowed.of(problems)
    tls: dict[str, TlsOptions] = {}
    for name in SERVICE_NAMES:
        service = getattr(spec, name)
        if service.tls is None:
            continue
        scheme = service.base_url.split(":", 1)[0]
        for where, message in tls_problems(service.tls.options(), scheme=scheme, loopback=is_loopback_host(_host(urls[name]))):
            problems.append(ConfigProblem(str(path), None, f"{name}.{where}", message))
        tls[name] = service.tls.options()
    if spec.credentials.accounts_file is not None:
        try:
            accounts_file(spec.credentials.accounts_file)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return Target(
        name=spec.name,
        kind="file",
        urls=urls,
        dry_run_secret=os.environ.get(spec.credentials.secret_env, DEFAULT_DRY_RUN_SECRET),
        admin_token=os.environ.get(spec.credentials.admin_token_env) if spec.credentials.admin_token_env else None,
        pki_dir=spec.pki_dir,
        adapter=spec.adapter,
        allow_hosts=tuple(spec.allow_hosts),
        protocols={name: getattr(spec, name).protocol for name in SERVICE_NAMES},
        tls=tls,
        accounts_file=spec.credentials.accounts_file,
    )


_ACCOUNTS: dict[Path, AccountsFile] = {}


def accounts_file(path: Path) -> AccountsFile:
    """The accounts file at ``path``, read once per process (its passwords are cached with it)."""
    found = _ACCOUNTS.get(path)
    if found is None:
        found = _ACCOUNTS[path] = AccountsFile.load(path)
    return found


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""
