"""Fault backends of the drill runner: HTTP faults through the mocks' admin API, network
faults through a Toxiproxy-compatible proxy, process faults on the embedded mocks, and
bounded drill-side traffic. Each backend injects, removes, rolls everything back and
reports what is left (so a rollback is verified, not assumed)."""

from drills.backends.http import HttpFaultBackend, fault_id
from drills.backends.network import NetworkFaultBackend
from drills.backends.process import ProcessFaultBackend
from drills.backends.traffic import TrafficBackend, TrafficOutcome

__all__ = [
    "HttpFaultBackend",
    "NetworkFaultBackend",
    "ProcessFaultBackend",
    "TrafficBackend",
    "TrafficOutcome",
    "fault_id",
]
