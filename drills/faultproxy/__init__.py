"""A TCP fault proxy that speaks Toxiproxy's HTTP API (dientap's embedded network-fault backend).

A drill written against this API works unchanged against a real Toxiproxy. Toxics: latency,
bandwidth, slow_close, timeout, reset_peer, slicer, limit_data (and noop); "down" is a proxy
with ``enabled: false``; ``POST /reset`` removes every fault at once. Upstreams must be loopback
or allowlisted; every hold is bounded. See :class:`FaultProxyServer` and ``python -m drills.faultproxy``.
"""

from drills.faultproxy.api import API_VERSION, create_app
from drills.faultproxy.errors import FaultProxyApiError
from drills.faultproxy.models import TOXIC_TYPES, ProxySpec, Stream, ToxicSpec
from drills.faultproxy.proxy import FaultProxySettings, ProxyRegistry
from drills.faultproxy.server import FaultProxyServer, load_proxy_config

__all__ = [
    "API_VERSION",
    "FaultProxyApiError",
    "FaultProxyServer",
    "FaultProxySettings",
    "ProxyRegistry",
    "ProxySpec",
    "Stream",
    "TOXIC_TYPES",
    "ToxicSpec",
    "create_app",
    "load_proxy_config",
]
