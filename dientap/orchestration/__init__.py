"""Start, watch and stop the processes a run needs (mock services, Locust workers, Prometheus)."""

from dientap.orchestration.mockcluster import MockCluster, MockClusterConfig
from dientap.orchestration.process import ServiceProcess, listening_socket

__all__ = ["MockCluster", "MockClusterConfig", "ServiceProcess", "listening_socket"]
