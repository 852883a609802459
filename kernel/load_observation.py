"""What metrics may observe of a running load: the documented interface below both.

The load (``scenarios.harness.HarnessState``) hangs one typed extension object on
Locust's ``Environment`` as ``environment.dientap``; metrics read it only through the
:class:`LoadObservation` protocol declared here, so metrics never import the scenarios
and the scenarios never call metrics code (data flows one way: the load records, metrics
observe). The protocol is read-only and cheap: everything is computed at scrape time from
what the load keeps anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kernel.hdr import SparseHistogram
from kernel.latency_records import HistogramKey

__all__ = ["EXTENSION_ATTRIBUTE", "ArrivalTotals", "CommuneTally", "CommuneSketch", "LatencyObservation",
           "LoadObservation", "observe"]

#: The one attribute of Locust's ``Environment`` the harness sets.
EXTENSION_ATTRIBUTE = "dientap"


@dataclass(frozen=True, slots=True)
class ArrivalTotals:
    """Citizen arrivals of the open model, summed over the load processes."""

    due: int = 0  # the schedule made them due
    started: int = 0  # the generator started them (any lateness)
    late: int = 0  # started later than the lateness bound
    dropped_late: int = 0  # dropped as too late to start
    shed: int = 0  # shed at the in-flight cap


class CommuneTally(Protocol):
    """Requests and failures one commune's actors made (a load record's counts or the live recorder's)."""

    @property
    def requests(self) -> int:
        """Requests attributed to the commune."""
        ...

    @property
    def failures(self) -> int:
        """Of those, the failed ones."""
        ...


class CommuneSketch(Protocol):
    """One commune's whole-run latency sketch as the load keeps it (the precision of
    :mod:`kernel.commune_latency`)."""

    @property
    def total(self) -> int:
        """Requests in the sketch."""
        ...

    def to_histogram(self) -> SparseHistogram:
        """The sketch's slot counts as a histogram (a copy: read it at leisure)."""
        ...


class LatencyObservation(Protocol):
    """The whole-run exact histograms, per-key failure counts and per-commune counts of the load."""

    @property
    def histograms(self) -> Mapping[HistogramKey, SparseHistogram]:
        """Whole-run histograms by (service, endpoint, province, measure)."""
        ...

    @property
    def key_failures(self) -> Mapping[tuple[str, str, str], int]:
        """Failed requests by (service, endpoint, province)."""
        ...

    @property
    def key_throttled(self) -> Mapping[tuple[str, str, str], int]:
        """Requests the target throttled (423/429 with Retry-After) by (service, endpoint, province);
        never among ``key_failures``."""
        ...

    @property
    def communes(self) -> Mapping[str, CommuneTally]:
        """Requests and failures by commune code (never a metric label: the live board's worst communes)."""
        ...

    def commune_sketches_now(self) -> Mapping[str, CommuneSketch]:
        """Each commune's whole-run latency sketch with everything recorded so far (the live
        board's worst communes' p95)."""
        ...


class LoadObservation(Protocol):
    """The read face of the load a metrics exporter scrapes."""

    @property
    def recorder(self) -> LatencyObservation:
        """The (merged, on a master) latency recorder."""
        ...

    @property
    def started_at(self) -> float | None:
        """When the load started (Unix time), None before."""
        ...

    def arrival_totals(self) -> ArrivalTotals:
        """Arrivals due, started and behind schedule, summed over the load processes."""
        ...

    def citizens_in_flight(self) -> int | None:
        """Citizen journeys running now (None when unknown)."""
        ...

    def abort_rule(self) -> str | None:
        """The abort rule that stopped the run (``error_rate``, ``p99``), None if none did."""
        ...


def observe(environment: object) -> LoadObservation | None:
    """The load's observation hung on ``environment`` (None before the harness installed it)."""
    observation: LoadObservation | None = getattr(environment, EXTENSION_ATTRIBUTE, None)
    return observation
