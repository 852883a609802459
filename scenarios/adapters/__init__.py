"""Target adapters: one small client per national system, shared per province gateway.

``adapters_for(environment, target, province)`` returns the :class:`SystemAdapters` of a
province (created once per process). A custom adapter set is a callable
``build(environment, target, province) -> SystemAdapters`` named in ``targets.yaml`` as
``adapter: package.module:build``.

The default set picks each service's adapter class by the integration shape the target
speaks (``TargetSpec.protocol(service)``, ``kernel.targets.PROTOCOLS``): :data:`ADAPTER_CLASSES`
names one class per (service, protocol), every class with the same methods and the same
:class:`Reply` data as the native one, so the personas do not know which shape is under them.
Classes are named as ``module:attribute`` and imported on first use: a run that speaks only
the native shapes never imports a SOAP client.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import ConfigError, ConfigProblem
from kernel.pki import DryRunCA
from kernel.source_addresses import source_for
from kernel.targets import TargetSpec
from scenarios.adapters.http import Reply, ServiceSession, TokenCache
from scenarios.adapters.systems import AxisAdapter, PopulationAdapter, PortalAdapter

__all__ = [
    "ADAPTER_CLASSES",
    "SystemAdapters",
    "adapter_class",
    "TargetSpec",
    "adapters_for",
    "default_adapters",
    "Reply",
    "ServiceSession",
    "TokenCache",
    "PortalAdapter",
    "PopulationAdapter",
    "AxisAdapter",
]


@dataclass
class SystemAdapters:
    """The three systems as seen from one province's gateway."""

    portal: PortalAdapter
    population: PopulationAdapter
    axis: AxisAdapter


_CA_CACHE: dict[Path, DryRunCA] = {}


def _ca(pki_dir: Path | None) -> DryRunCA | None:
    """The dry-run CA kept in ``pki_dir``, which must already hold one (``ca.pem``, ``ca.key``):
    the load signs with the target's CA and never creates one where it is pointed — a new CA
    would sign documents the target has never trusted, in a directory nobody asked for."""
    if pki_dir is None:
        return None
    if pki_dir not in _CA_CACHE:
        missing = [name for name in ("ca.pem", "ca.key") if not (pki_dir / name).is_file()]
        if missing:
            raise ConfigError([ConfigProblem("targets", None, "pki_dir",
                                             f"{str(pki_dir)!r} holds no dry-run CA ({' and '.join(missing)} missing)")])
        _CA_CACHE[pki_dir] = DryRunCA.load_or_create(pki_dir)
    return _CA_CACHE[pki_dir]


#: The adapter class of each (service, protocol), as ``module:attribute``.
ADAPTER_CLASSES: dict[tuple[str, str], str] = {
    ("portal", "native"): "scenarios.adapters.systems:PortalAdapter",
    ("population", "native"): "scenarios.adapters.systems:PopulationAdapter",
    ("population", "c06-soap"): "scenarios.adapters.c06:C06PopulationAdapter",
    ("axis", "native"): "scenarios.adapters.systems:AxisAdapter",
    ("portal", "dvcqg-adapter"): "scenarios.adapters.dvcqg:DvcqgPortalAdapter",
    ("axis", "vdxp"): "scenarios.adapters.vdxp:VdxpAxisAdapter",
}


def adapter_class(service: str, protocol: str) -> Any:
    """The adapter class for ``service`` speaking ``protocol`` (a ConfigError naming the
    protocols there are when none is registered)."""
    spec = ADAPTER_CLASSES.get((service, protocol))
    if spec is None:
        known = ", ".join(p for (s, p) in ADAPTER_CLASSES if s == service)
        raise ConfigError([ConfigProblem("targets", None, f"{service}.protocol",
                                         f"no adapter speaks {protocol!r} to the {service}; there are: {known}")])
    return _builder(spec)


def default_adapters(environment: Any, target: TargetSpec, province: str) -> SystemAdapters:
    """Adapters for the shapes the target speaks (the mocks' API unless the targets file says otherwise)."""

    source_of = source_for if target.binds_commune_sources else None

    def session(service: str) -> ServiceSession:
        return ServiceSession(environment, service, target.urls[service], pool_size=target.pool_size,
                              timeout_s=target.timeout_s, source_of=source_of, tls=target.tls.get(service))

    credentials = target.credentials
    return SystemAdapters(
        portal=adapter_class("portal", target.protocol("portal"))(session("portal"), credentials),
        population=adapter_class("population", target.protocol("population"))(session("population"), credentials),
        axis=adapter_class("axis", target.protocol("axis"))(session("axis"), credentials, _ca(target.pki_dir)),
    )


def _builder(spec: str) -> Any:
    if spec == "default":
        return default_adapters
    module_name, _, attribute = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError([ConfigProblem("targets", None, "adapter", f"cannot load adapter {spec!r}: {exc}")]) from None


def adapters_for(environment: Any, target: TargetSpec, province: str) -> SystemAdapters:
    """The (cached) adapters of ``province`` in this process."""
    cache: dict[str, SystemAdapters] = environment.__dict__.setdefault("_dientap_gateways", {})
    adapters = cache.get(province)
    if adapters is None:
        adapters = cache[province] = _builder(target.adapter)(environment, target, province)
    return adapters
