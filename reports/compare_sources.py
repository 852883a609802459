"""What each kind of comparison line observes in a run: counts, failures and, where the
records hold one, a latency distribution.

A *line kind* is a name and a function from a run's records to ``{subject: Observed}``.
:data:`LINE_KINDS` lists them in display order:

* ``endpoint`` — each (service, endpoint), every province merged: the HDR histograms of
  ``latency.hdr`` and the failures of ``load.json``;
* ``province`` — each province, every endpoint merged (what its citizens and officers saw);
* ``commune`` — each commune's requests and failures from ``load.json``, and its latency
  sketch from ``histograms/communes.hdr`` (:mod:`kernel.commune_latency`: every request of
  the commune, from the send, HDR at 2 significant digits — so its p50/p95/p99 read one
  slot at most 0.79 % above the exact sample, and the order-statistic interval is taken
  over those slots). The sketch has the send-time measure only: with ``--measure
  intended``, and for runs recorded before the sketches, commune lines compare error
  rates only.

Any latency source plugs in the same way: an observer that fills ``Observed.latency``
with anything that satisfies :class:`reports.intervals.RankedSamples`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal

from kernel.hdr import SparseHistogram
from kernel.latency_records import Measure, merge_matching
from kernel.roster import load_roster
from reports.compared_run import ComparedRun
from reports.intervals import RankedSamples

__all__ = ["LineKind", "HdrSamples", "Observed", "LineKindSpec", "LINE_KINDS", "observe_endpoints",
           "observe_provinces", "observe_communes"]

LineKind = Literal["endpoint", "province", "commune"]


class HdrSamples:
    """An exact HDR histogram seen as ranked samples (in milliseconds) for the intervals."""

    __slots__ = ("_cumulative", "_histogram", "_slots")

    def __init__(self, histogram: SparseHistogram) -> None:
        self._histogram = histogram
        self._slots = histogram.slot_ranges()
        self._cumulative = list(accumulate(count for _, _, count in self._slots))

    @property
    def count(self) -> int:
        """How many samples the histogram holds."""
        return self._histogram.total

    def bounds_at_ranks(self, ranks: list[int]) -> list[tuple[float, float]]:
        """The slot each rank falls in, as (lowest, highest equivalent) value in ms."""
        result, slot = [], 0
        for rank in ranks:  # ascending, so one walk over the slots serves them all
            while self._cumulative[slot] < rank:
                slot += 1
            low, high, _ = self._slots[slot]
            result.append((low / 1000, high / 1000))
        return result

    def value_at_quantile(self, q: float) -> float:
        """HdrHistogram's value at ``q`` (the figure the run's summary shows), in ms."""
        return self._histogram.value_at_percentile(100 * q) / 1000


@dataclass(frozen=True)
class Observed:
    """What a run recorded about one subject of a line."""

    requests: int
    failures: int
    latency: RankedSamples | None = None  # None: this kind records no latency (yet)


@dataclass(frozen=True)
class LineKindSpec:
    """One kind of line: its name and how to observe a run's subjects of that kind."""

    kind: LineKind
    observe: Callable[[ComparedRun, Measure], Mapping[str, Observed]]


def _failures_by(run: ComparedRun, part: Callable[[str, str, str], str]) -> dict[str, int]:
    """Failures summed by ``part(service, endpoint, province)``."""
    totals: dict[str, int] = {}
    for k in run.load.key_failures:
        key = part(k.service, k.endpoint, k.province)
        totals[key] = totals.get(key, 0) + k.failures
    return totals


def observe_endpoints(run: ComparedRun, measure: Measure) -> dict[str, Observed]:
    """Every (service, endpoint) the run measured, all provinces merged."""
    failures = _failures_by(run, lambda service, endpoint, _province: f"{service} {endpoint}")
    result = {}
    for service, endpoint in sorted({(k.service, k.endpoint) for k in run.histograms if k.measure == measure}):
        merged = merge_matching(run.histograms, service, endpoint, measure=measure)
        sent = merge_matching(run.histograms, service, endpoint, measure="service")
        subject = f"{service} {endpoint}"
        result[subject] = Observed(sent.total, failures.get(subject, 0), HdrSamples(merged))
    return result


def observe_provinces(run: ComparedRun, measure: Measure) -> dict[str, Observed]:
    """Every province the run touched, all endpoints merged."""
    names = {p.code: p.name for p in load_roster().provinces}
    failures = _failures_by(run, lambda _service, _endpoint, province: province)
    result = {}
    for code in sorted({k.province for k in run.histograms if k.measure == measure}):
        merged = merge_matching(run.histograms, province=code, measure=measure)
        sent = merge_matching(run.histograms, province=code, measure="service")
        subject = f"{code} {names[code]}" if code in names else code
        result[subject] = Observed(sent.total, failures.get(code, 0), HdrSamples(merged))
    return result


def observe_communes(run: ComparedRun, measure: Measure) -> dict[str, Observed]:
    """Every commune that made requests: counts, failures and, for the send-time measure
    of a run that recorded them, its latency sketch."""
    roster = load_roster()
    names = {c.code: c.name for c in roster.communes}
    sketches = run.communes if run.communes is not None and measure == "service" else {}
    result = {}
    for code, c in sorted(run.load.communes.items()):
        if not c.requests:
            continue
        sketch = sketches.get(code)
        latency = HdrSamples(sketch) if sketch is not None and sketch.total else None
        result[f"{code} {names[code]}" if code in names else code] = Observed(c.requests, c.failures, latency)
    return result


LINE_KINDS: tuple[LineKindSpec, ...] = (
    LineKindSpec("endpoint", observe_endpoints),
    LineKindSpec("province", observe_provinces),
    LineKindSpec("commune", observe_communes),
)
