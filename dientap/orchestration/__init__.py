"""Start, watch and stop the processes a run needs (mock services, Locust workers, Prometheus).

The names below load on first use (PEP 562): importing a light module of this package — the
remote worker's constants, say — must not import the mock cluster, httpx and the mocks'
settings behind it (0.28 s, paid by every ``dientap`` command, since each registers them all).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dientap.orchestration.mockcluster import MockCluster, MockClusterConfig
    from dientap.orchestration.process import ServiceProcess, listening_socket

__all__ = ["MockCluster", "MockClusterConfig", "ServiceProcess", "listening_socket"]

_HOMES = {
    "MockCluster": "dientap.orchestration.mockcluster",
    "MockClusterConfig": "dientap.orchestration.mockcluster",
    "ServiceProcess": "dientap.orchestration.process",
    "listening_socket": "dientap.orchestration.process",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
