"""Per-second latency buckets of each (service, endpoint), for the journal's charts.

A live :class:`SecondBucket` keeps the count, the failures and a coarse histogram of both
measures for one second; once a second is old enough the recorder compacts it to its
:class:`SecondFigures` (the charted percentiles only), so a long soak run does not keep
one histogram per second in memory. :func:`latency_timeseries` turns both kinds into the
journal's :class:`~reports.journal.Timeseries`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kernel.hdr import SparseHistogram
from reports.journal import LatencySample, LatencySeries, Timeseries

__all__ = ["SecondBucket", "SecondFigures", "latency_timeseries"]

_BUCKET_DIGITS = 2  # per-second chart buckets: 1 % resolution is plenty for a chart


@dataclass(slots=True)
class SecondBucket:
    """One second of one (service, endpoint): count, failures and both measures' histograms."""

    count: int = 0
    failures: int = 0
    service: SparseHistogram = field(default_factory=lambda: SparseHistogram(_BUCKET_DIGITS))
    intended: SparseHistogram = field(default_factory=lambda: SparseHistogram(_BUCKET_DIGITS))

    def add(self, other: SecondBucket) -> None:
        """Add another bucket of the same second exactly (HDR slot counts add)."""
        self.count += other.count
        self.failures += other.failures
        self.service.add(other.service)
        self.intended.add(other.intended)


@dataclass(frozen=True, slots=True)
class SecondFigures:
    """A compacted per-second bucket: its histograms reduced to the charted percentiles."""

    count: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    intended_p95_ms: float | None
    intended_p99_ms: float | None

    @classmethod
    def of(cls, b: SecondBucket) -> SecondFigures:
        """The charted figures of a live bucket."""
        sp = b.service.percentiles((50.0, 95.0, 99.0)) if b.service.total else None
        ip = b.intended.percentiles((95.0, 99.0)) if b.intended.total else None
        return cls(
            count=b.count,
            failures=b.failures,
            p50_ms=sp[50.0] / 1000 if sp else None,
            p95_ms=sp[95.0] / 1000 if sp else None,
            p99_ms=sp[99.0] / 1000 if sp else None,
            intended_p95_ms=ip[95.0] / 1000 if ip else None,
            intended_p99_ms=ip[99.0] / 1000 if ip else None,
        )

    def sample(self, offset_s: float) -> LatencySample:
        """These figures as the journal's sample of the bucket starting at ``offset_s``."""
        return LatencySample(offset_s=offset_s, **{name: getattr(self, name) for name in SecondFigures.__slots__})


def latency_timeseries(
    buckets: Mapping[tuple[str, str], Mapping[int, SecondBucket]],
    compacted: Mapping[tuple[str, str], Mapping[int, SecondFigures]],
    run_start: float,
) -> Timeseries:
    """Per-second journal series of live and compacted buckets, keyed (service, endpoint) →
    epoch second (offsets from ``run_start``, epoch seconds)."""
    series_list = []
    for pair in sorted(set(buckets) | set(compacted)):
        figures = dict(compacted.get(pair, {}))
        figures.update((sec, SecondFigures.of(b)) for sec, b in buckets.get(pair, {}).items())
        samples = [figures[sec].sample(round(sec - run_start, 3)) for sec in sorted(figures)]
        series_list.append(LatencySeries(service=pair[0], endpoint=pair[1], samples=samples))
    return Timeseries(bucket_s=1.0, series=series_list)
