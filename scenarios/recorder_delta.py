"""What a worker's :class:`~scenarios.latency.LatencyRecorder` ships to the master.

:meth:`~scenarios.latency.LatencyRecorder.take_delta` drains a recorder into a
:class:`RecorderDelta`; the master's recorder :meth:`~scenarios.latency.LatencyRecorder.absorb`\\ s
it (see ``scenarios.distributed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.latency_records import Measure
    from scenarios.commune_sketches import CommuneSlots

__all__ = ["RecorderDelta"]


@dataclass
class RecorderDelta:
    """Everything recorded since the last drain, in a msgpack-friendly wire form.

    Histograms travel as standard HdrHistogram V2 encodings (base64 text); the
    per-commune sketches as ``{commune: {slot: count}}`` (a V2 encoding per commune per
    drain would cost ≈ 20× more; see ``scenarios.commune_sketches``).
    """

    histograms: list[tuple[str, str, str, Measure, str]] = field(default_factory=list)
    buckets: list[tuple[str, str, int, int, int, str, str]] = field(default_factory=list)
    communes: list[tuple[str, int, int]] = field(default_factory=list)
    key_failures: list[tuple[str, str, str, int]] = field(default_factory=list)  # service, endpoint, province
    key_throttled: list[tuple[str, str, str, int]] = field(default_factory=list)  # the same, throttled by the target
    requests: int = 0
    commune_latency: CommuneSlots = field(default_factory=dict)  # commune → {slot: count}

    def is_empty(self) -> bool:
        """True when nothing was recorded."""
        return not (self.histograms or self.buckets or self.communes or self.key_failures or self.key_throttled
                    or self.commune_latency)

    def to_wire(self) -> dict[str, Any]:
        """Plain lists/ints/strs for Locust's message transport."""
        return {
            "histograms": [list(row) for row in self.histograms],
            "buckets": [list(row) for row in self.buckets],
            "communes": [list(row) for row in self.communes],
            "key_failures": [list(row) for row in self.key_failures],
            "key_throttled": [list(row) for row in self.key_throttled],
            "requests": self.requests,
            "commune_latency": self.commune_latency,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RecorderDelta:
        """Inverse of :meth:`to_wire`."""
        return cls(
            histograms=[tuple(row) for row in data.get("histograms", [])],
            buckets=[tuple(row) for row in data.get("buckets", [])],
            communes=[tuple(row) for row in data.get("communes", [])],
            key_failures=[tuple(row) for row in data.get("key_failures", [])],
            key_throttled=[tuple(row) for row in data.get("key_throttled", [])],
            requests=int(data.get("requests", 0)),
            commune_latency=data.get("commune_latency") or {},
        )
