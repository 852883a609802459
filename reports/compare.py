"""Compare two runs line by line, with a noise guard: ``compare_runs(baseline, current)``.

Each *line* is one subject of one kind (an endpoint, a province, a commune —
:mod:`reports.compare_sources`) with both runs' counts, error rates and, where recorded,
p50/p95/p99 — each with its 95 % confidence interval (:mod:`reports.intervals`: the
distribution-free order-statistic interval on the exact HDR histogram; Newcombe's
interval for a difference of error rates). Each figure, and so each line, gets a verdict:

``not comparable``
    fewer than ``min_samples`` samples (requests, for error rates) on either side. Never
    a failure: a handful of samples says nothing about a tail.
``regressed`` / ``improved``
    the two intervals do not overlap (for error rates: the interval of the difference
    excludes 0) **and** the change is big enough to matter — at least ``min_growth``
    (relative) *and* ``min_delta_ms`` (absolute) for latency, ``min_error_delta``
    (error-rate points) for errors. Improvements use the same floors the other way
    round (the baseline is ``1 + min_growth`` times the current), so swapping the runs
    swaps the two verdicts.
``within noise``
    anything else.

The two conditions are the noise guard. The interval only knows sampling noise; two runs
on a busy 2-core machine also differ by scheduling (a GC pause, another process), which
shifts a few-millisecond tail by a few milliseconds — the practical floor absorbs that,
while a real regression such as a 50 ms delay on a route clears both. A line's verdict is
its worst figure's: regressed, then improved, then within noise, then not comparable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from pydantic import Field

from kernel.errors import ExitCode
from kernel.latency_records import Measure
from reports._record import Record
from reports.compare_sources import LINE_KINDS, LineKind, LineKindSpec, Observed
from reports.compared_run import ComparedRun, differences
from reports.intervals import CONFIDENCE, RankedSamples, newcombe_difference, quantile_interval
from reports.noise_guard import MIN_SAMPLES, NoiseGuard

__all__ = [
    "MIN_SAMPLES",
    "QUANTILES",
    "LineVerdict",
    "NoiseGuard",
    "Estimate",
    "QuantileChange",
    "ErrorRateChange",
    "ComparisonLine",
    "RunComparison",
    "compare_quantile",
    "compare_error_rate",
    "compare_observed",
    "compare_runs",
]

#: The quantiles every latency line compares: (label, q).
QUANTILES: Final = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))

LineVerdict = Literal["regressed", "improved", "within noise", "not comparable"]
_SEVERITY: dict[LineVerdict, int] = {"regressed": 3, "improved": 2, "within noise": 1, "not comparable": 0}


class Estimate(Record):
    """One run's figure for a quantile: point and confidence interval (ms).

    ``upper`` is ``None`` when the run's samples cannot bound the quantile from above.
    """

    count: int
    point: float
    lower: float
    upper: float | None


class QuantileChange(Record):
    """One quantile of one line in both runs, and its verdict."""

    quantile: str  # p50 | p95 | p99
    baseline: Estimate | None  # None: no samples in that run
    current: Estimate | None
    verdict: LineVerdict


class ErrorRateChange(Record):
    """The error rates of one line in both runs, the interval of their difference, a verdict."""

    baseline: float | None  # failures / requests; None: no requests
    current: float | None
    difference_lower: float | None = None  # of current − baseline; None when not comparable
    difference_upper: float | None = None
    verdict: LineVerdict


class ComparisonLine(Record):
    """One subject (endpoint, province or commune) side by side in both runs."""

    kind: LineKind
    subject: str
    baseline_requests: int
    current_requests: int
    baseline_failures: int
    current_failures: int
    errors: ErrorRateChange
    latency: list[QuantileChange] = Field(default_factory=list)  # empty: the kind records no latency
    verdict: LineVerdict


class RunComparison(Record):
    """Every line of a comparison, the thresholds used, and what differs between the runs."""

    baseline_run_id: str
    current_run_id: str
    measure: Literal["sent", "intended"] = "sent"
    guard: NoiseGuard
    warnings: list[str] = Field(default_factory=list)
    lines: list[ComparisonLine] = Field(default_factory=list)

    def count(self, verdict: LineVerdict) -> int:
        """How many lines have this verdict."""
        return sum(line.verdict == verdict for line in self.lines)

    @property
    def regressed(self) -> list[ComparisonLine]:
        """The lines that regressed."""
        return [line for line in self.lines if line.verdict == "regressed"]

    @property
    def exit_code(self) -> ExitCode:
        """``BUDGET_BREACHED`` when a line regressed, like the gate; ``OK`` otherwise."""
        return ExitCode.BUDGET_BREACHED if self.regressed else ExitCode.OK


def _worst(verdicts: Iterable[LineVerdict]) -> LineVerdict:
    return max(verdicts, key=_SEVERITY.__getitem__, default="not comparable")


def _estimate(samples: RankedSamples | None, q: float, confidence: float) -> Estimate | None:
    if samples is None or samples.count == 0:
        return None
    interval = quantile_interval(samples, q, confidence)
    return Estimate(count=interval.count, point=interval.point, lower=interval.lower, upper=interval.upper)


def _clears(slower: float, faster: float, min_growth: float, min_delta_ms: float) -> bool:
    """Whether going from ``faster`` to ``slower`` is a change that matters."""
    return slower - faster >= min_delta_ms and slower >= (1 + min_growth) * faster


def compare_quantile(label: str, q: float, baseline: RankedSamples | None, current: RankedSamples | None, *,
                     min_samples: int, min_growth: float, min_delta_ms: float,
                     confidence: float = CONFIDENCE) -> QuantileChange:
    """One quantile of two runs' latency, judged as the module docstring says."""
    a, b = _estimate(baseline, q, confidence), _estimate(current, q, confidence)
    verdict: LineVerdict = "not comparable"
    if a is not None and b is not None and min(a.count, b.count) >= min_samples:
        verdict = "within noise"
        if a.upper is not None and b.lower > a.upper and _clears(b.point, a.point, min_growth, min_delta_ms):
            verdict = "regressed"
        elif b.upper is not None and a.lower > b.upper and _clears(a.point, b.point, min_growth, min_delta_ms):
            verdict = "improved"
    return QuantileChange(quantile=label, baseline=a, current=b, verdict=verdict)


def compare_error_rate(baseline: Observed | None, current: Observed | None, *, min_samples: int,
                       min_error_delta: float, confidence: float = CONFIDENCE) -> ErrorRateChange:
    """Two runs' error rates: Newcombe's interval of the difference and the noise floor."""
    rate_a = baseline.failures / baseline.requests if baseline is not None and baseline.requests else None
    rate_b = current.failures / current.requests if current is not None and current.requests else None
    if baseline is None or current is None or min(baseline.requests, current.requests) < min_samples:
        return ErrorRateChange(baseline=rate_a, current=rate_b, verdict="not comparable")
    lower, upper = newcombe_difference(baseline.failures, baseline.requests, current.failures, current.requests,
                                       confidence)
    assert rate_a is not None and rate_b is not None  # both have requests (≥ min_samples ≥ 1)
    verdict: LineVerdict = "within noise"
    if lower > 0 and rate_b - rate_a >= min_error_delta:
        verdict = "regressed"
    elif upper < 0 and rate_a - rate_b >= min_error_delta:
        verdict = "improved"
    return ErrorRateChange(baseline=rate_a, current=rate_b, difference_lower=lower, difference_upper=upper,
                           verdict=verdict)


def compare_observed(kind: LineKind, subject: str, baseline: Observed | None, current: Observed | None,
                     guard: NoiseGuard) -> ComparisonLine:
    """One line: error rate and (when either run recorded latency) p50/p95/p99."""
    errors = compare_error_rate(baseline, current, min_samples=guard.min_samples,
                                min_error_delta=guard.min_error_delta, confidence=guard.confidence)
    a_latency = baseline.latency if baseline is not None else None
    b_latency = current.latency if current is not None else None
    latency = [] if a_latency is None and b_latency is None else [
        compare_quantile(label, q, a_latency, b_latency, min_samples=guard.min_samples, min_growth=guard.min_growth,
                         min_delta_ms=guard.min_delta_ms, confidence=guard.confidence)
        for label, q in QUANTILES
    ]
    return ComparisonLine(
        kind=kind, subject=subject,
        baseline_requests=baseline.requests if baseline is not None else 0,
        current_requests=current.requests if current is not None else 0,
        baseline_failures=baseline.failures if baseline is not None else 0,
        current_failures=current.failures if current is not None else 0,
        errors=errors, latency=latency, verdict=_worst([errors.verdict, *(c.verdict for c in latency)]),
    )


_MEASURES: dict[str, Measure] = {"sent": "service", "intended": "intended"}


def compare_runs(baseline: ComparedRun, current: ComparedRun, guard: NoiseGuard | None = None, *,
                 measure: Literal["sent", "intended"] = "sent",
                 kinds: Iterable[LineKindSpec] = LINE_KINDS) -> RunComparison:
    """Every line of every kind, side by side (subjects only one run has are lines too:
    ``not comparable``, with their counts)."""
    guard = guard or NoiseGuard()
    lines = []
    for spec in kinds:
        a, b = spec.observe(baseline, _MEASURES[measure]), spec.observe(current, _MEASURES[measure])
        for subject in sorted(a.keys() | b.keys()):
            lines.append(compare_observed(spec.kind, subject, a.get(subject), b.get(subject), guard))
    warnings = []
    if differing := differences(baseline, current):
        warnings.append(f"runs differ: {', '.join(differing)}; comparing what is comparable")
    return RunComparison(baseline_run_id=baseline.run_id, current_run_id=current.run_id, measure=measure,
                         guard=guard, warnings=warnings, lines=lines)
