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
    pki_dir: /secure/dry-run-pki                  # agency signing keys: an existing dry-run CA (ca.pem, ca.key)

Each service speaks ``native`` (the mocks' own REST dialect, the default) or its national
system's integration shape (:data:`PROTOCOLS`): the portal's integration adapter
(``dvcqg-adapter``), the population database's SOAP operations (``c06-soap``), the
document axis's SDK calls (``vdxp``). The personas are the same either way; the adapter
under them changes (``scenarios.adapters``).

TLS is verified by default, per service (``kernel.tls``): a CA bundle, a client
certificate and key for mutual TLS; every file is checked when the file is loaded.

Secrets are read from the environment variables the file names and never written to
the journal or report: :meth:`Target.describe` is what provenance records. A variable the
file names must be set (an unset ``secret_env`` is refused, never replaced by the public
default secret); without ``secret_env``, ``DIENTAP_DRY_RUN_SECRET`` is read, else the default.

Everything a file points at is checked when it is loaded, before anything starts: each
base URL parses, with a port from 1 to 65535; ``pki_dir`` is a directory that already holds
a dry-run CA (dientap never creates a CA where a targets file points).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from kernel.accounts_file import AccountsFile
from kernel.allowlist import Allowlist, host_problem, is_loopback_host
from kernel.configfile import StrictModel, at_their_lines, load_model
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, Credentials, DerivedCredentials
from kernel.errors import ConfigError, ConfigProblem, TargetNotAllowed
from kernel.pki import DryRunCA
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


def _a_host(text: str) -> str:
    """An ``allow_hosts`` entry (:func:`kernel.allowlist.host_problem`)."""
    problem = host_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text.strip()


Host = Annotated[str, AfterValidator(_a_host)]


class TlsSpec(StrictModel):
    """A service's TLS options (``kernel.tls``): paths, and whether to verify."""

    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    @field_validator("ca_bundle", "client_cert", "client_key", mode="before")
    @classmethod
    def _names_a_file(cls, value: object) -> object:
        # Path("") is Path("."): an empty value would be read as the current directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("empty; give the path of a PEM file, or leave the option out")
        return value

    def options(self) -> TlsOptions:
        """As the kernel's :class:`~kernel.tls.TlsOptions`."""
        return TlsOptions(self.ca_bundle, self.client_cert, self.client_key, self.verify)


class ServiceTarget(StrictModel):
    """One system's base URL, and its TLS options when it is https."""

    base_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=500)
    tls: TlsSpec | None = None

    @field_validator("base_url")
    @classmethod
    def _parses_with_a_valid_port(cls, url: str) -> str:
        """The pattern admits what no client can reach (``http://[::1``, ``host:99999``):
        refuse it here, naming the field, rather than as a traceback once the run has begun."""
        problem = _url_problem(url)
        if problem is not None:
            raise ValueError(f"{url!r} {problem}; give http(s)://HOST[:PORT][/PATH] with a PORT from 1 to 65535")
        return url


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

    @field_validator("accounts_file", mode="before")
    @classmethod
    def _names_a_file(cls, value: object) -> object:
        # Path("") is Path("."): an empty value was read as the current directory, and named it as the file.
        if isinstance(value, str) and not value.strip():
            raise ValueError("empty; give the accounts CSV file (README: 'Accounts file'), or leave accounts_file out")
        return value


class TargetsFile(StrictModel):
    """The ``targets.yaml`` format."""

    name: str = "staging"
    allow_hosts: list[Host] = []  # noqa: RUF012 - a pydantic field (StrictModel), copied per instance
    portal: PortalTarget
    population: PopulationTarget
    axis: AxisTarget
    credentials: CredentialsSpec = CredentialsSpec()
    pki_dir: Path | None = None
    adapter: str = Field(default="default", description="adapter set: 'default' or 'module:attribute'")

    @field_validator("pki_dir", mode="before")
    @classmethod
    def _names_a_directory(cls, value: object) -> object:
        # Path("") is Path("."): an empty value would quietly mean the current directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError(f"empty; give the directory that holds the dry-run CA ({_CA_FILES}), or leave pki_dir out")
        return value


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
        raise TargetNotAllowed.of(at_their_lines(problems, path))
    problems.extend(_secret_problems(spec, str(path)))
    if spec.pki_dir is not None:
        problems.extend(_pki_problems(spec.pki_dir, str(path)))
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
            problems.extend(_in_targets_file(found, str(path)) for found in exc.problems)
    if problems:
        raise ConfigError(at_their_lines(problems, path))
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


#: What a dry-run CA directory holds (``kernel.pki.DryRunCA``): the key signs, the certificate is trusted.
_CA_FILES = "ca.pem and ca.key"


def _secret_problems(spec: TargetsFile, path: str) -> list[ConfigProblem]:
    """A ``secret_env`` the file names must hold a secret: falling back to the public default
    would sign in with a password anyone can derive, and fail only once the load is running."""
    name = spec.credentials.secret_env
    if "secret_env" not in spec.credentials.model_fields_set or os.environ.get(name):
        return []
    return [ConfigProblem(path, None, "credentials.secret_env",
                          f"environment variable {name} is not set (or is empty); export the target's dry-run "
                          f"secret in {name}, or leave secret_env out to use DIENTAP_DRY_RUN_SECRET")]


def _in_targets_file(problem: ConfigProblem, path: str) -> ConfigProblem:
    """An accounts file that cannot be read at all is the targets file's field to fix: named there
    (``targets.yaml: credentials.accounts_file: 'x.csv': ...``), not as if the CSV's own line were
    wrong. A problem at a line of the CSV stays the CSV's."""
    if problem.line is not None or problem.field != "accounts_file":
        return problem
    return ConfigProblem(path, None, "credentials.accounts_file", f"{problem.file!r}: {problem.message}")


def _pki_problems(directory: Path, path: str) -> list[ConfigProblem]:
    """A ``pki_dir`` must already hold a usable dry-run CA: the target's, copied here. One
    created on the spot would sign documents the target's axis has never trusted."""
    def problem(message: str) -> list[ConfigProblem]:
        return [ConfigProblem(path, None, "pki_dir", f"{str(directory)!r} {message}; give the directory holding the "
                              f"target's dry-run CA ({_CA_FILES}; `dientap mocks` keeps it in <data-dir>/axis/pki/)")]

    if not directory.is_dir():
        return problem("is not a directory")
    missing = [name for name in ("ca.pem", "ca.key") if not (directory / name).is_file()]
    if missing:
        return problem(f"holds no dry-run CA: {' and '.join(missing)} missing")
    try:
        DryRunCA.load_or_create(directory)  # both files exist: this only opens and checks them
    except ConfigError as exc:
        return [ConfigProblem(path, None, "pki_dir", f"{found.file}: {found.message}") for found in exc.problems]
    except OSError as exc:
        return problem(f"cannot be read: {exc.strerror}")
    return []


def _url_problem(url: str) -> str | None:
    """What is wrong with a base URL the pattern admitted, or None."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket, say
        return f"is not a URL ({exc})"
    if not parts.hostname:
        return "names no host"
    host_port = parts.netloc.rpartition("@")[2]
    after_host = host_port.rpartition("]")[2] if host_port.startswith("[") else host_port
    if ":" not in after_host:
        return None
    port = after_host.partition(":")[2]
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return f"has port {port!r}"
    return None


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""
