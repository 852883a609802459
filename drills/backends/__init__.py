"""Fault backends of the drill runner: HTTP faults through the mocks' admin API, network
faults through a Toxiproxy-compatible proxy, process faults on the embedded mocks, and
bounded drill-side traffic. Each is a :class:`FaultBackend` (one typed protocol): it starts
and stops a step of the method, rolls everything back and reports what is left (so a
rollback is verified, not assumed)."""

from drills.backends.http import HttpFaultBackend, fault_id
from drills.backends.network import NetworkFaultBackend
from drills.backends.process import ProcessFaultBackend
from drills.backends.protocol import FaultBackend, FaultOutcome, InjectedFaultBackend
from drills.backends.traffic import TrafficBackend, TrafficOutcome

__all__ = [
    "FaultBackend",
    "FaultOutcome",
    "HttpFaultBackend",
    "InjectedFaultBackend",
    "NetworkFaultBackend",
    "ProcessFaultBackend",
    "TrafficBackend",
    "TrafficOutcome",
    "fault_id",
]
