"""Confidence intervals for comparing two runs: a quantile's, and a difference of error rates.

**Quantiles — the distribution-free order-statistic interval.** For a sample of ``n``
independent latencies and a quantile ``q``, the number ``B`` of samples below the true
quantile is Binomial(n, q) whatever the latency distribution is. So the interval between
the ``l``-th and the ``u``-th smallest samples, ``[X(l), X(u)]``, covers the true quantile
with probability at least ``P(l ≤ B ≤ u-1)``. :func:`order_statistic_ranks` picks the
equal-tailed ranks: ``l`` the largest with ``P(B ≤ l-1) ≤ α/2`` and ``u`` the smallest with
``P(B ≥ u) ≤ α/2``, so coverage ≥ 1 − α (Conover, *Practical Nonparametric Statistics*,
3rd ed., 1999, §3.2; Hahn & Meeker, *Statistical Intervals*, 1991, §5.2). When too few
samples lie on one side (``l`` < 1 or ``u`` > n) that side is *open*: the data cannot bound
it, and ``lower`` is 0 or ``upper`` is ``None``. The interval is read off the run's exact
HDR histogram: the ``l``-th sample lies in a known slot, whose lowest value is the lower
bound; the ``u``-th sample's slot gives its highest equivalent value as the upper bound —
so the histogram's 0.1 % resolution widens the interval, never narrows it.

**Error rates — Newcombe's hybrid score interval** for the difference of two proportions
(Newcombe, "Interval estimation for the difference between independent proportions",
*Statistics in Medicine* 17, 1998, method 10), built from each run's Wilson score
interval (Wilson, *JASA* 22, 1927). It stays inside [-1, 1] and behaves at 0 failures,
where the textbook Wald interval collapses to a point.

The confidence level is a parameter (dientap uses 95 %, :data:`CONFIDENCE`).

Why hand-written: the venv has no SciPy or statsmodels, and adding them (tens of MB) for
a binomial quantile and two closed-form score intervals is not warranted. The binomial
probabilities are summed exactly (log-gamma terms) over the window where their mass is.
The tests check the ranks and intervals against published values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Final, Protocol

__all__ = [
    "CONFIDENCE",
    "RankedSamples",
    "QuantileInterval",
    "order_statistic_ranks",
    "quantile_interval",
    "wilson_interval",
    "newcombe_difference",
]

#: The confidence level of every interval dientap compares runs with.
CONFIDENCE: Final = 0.95

# Beyond this many standard deviations from the mean the binomial's mass is < 1e-30.
_WINDOW_SD = 12


class RankedSamples(Protocol):
    """A recorded latency distribution that can say where its k-th smallest sample lies.

    The exact HDR histogram of a run is one (:class:`reports.compare_sources.HdrSamples`);
    a per-commune sketch with a known relative accuracy is another — the interval below
    needs nothing else.
    """

    @property
    def count(self) -> int:
        """How many samples were recorded."""
        ...

    def bounds_at_ranks(self, ranks: list[int]) -> list[tuple[float, float]]:
        """For each 1-based rank (ascending), the lowest and highest value (ms) the sample
        of that rank may have."""
        ...

    def value_at_quantile(self, q: float) -> float:
        """The point estimate (ms) shown for quantile ``q`` (the run's report figure)."""
        ...


@dataclass(frozen=True, slots=True)
class QuantileInterval:
    """A quantile's point estimate and confidence interval, in milliseconds.

    ``upper`` is ``None`` when the samples cannot bound the quantile from above (too few
    samples beyond it); ``lower`` is 0.0 when they cannot bound it from below.
    """

    q: float
    count: int
    point: float
    lower: float
    upper: float | None


def _log_pmf(k: int, n: int, log_q: float, log_1q: float, log_n_fact: float) -> float:
    return log_n_fact - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_q + (n - k) * log_1q


@lru_cache(maxsize=4096)
def order_statistic_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """The 1-based ranks ``(l, u)`` of the equal-tailed order-statistic interval for the
    ``q`` quantile of ``n`` samples (see the module docstring).

    ``l`` is 0 when no rank bounds the quantile from below at this confidence, ``u`` is
    ``n + 1`` when none bounds it from above.
    """
    if n < 1:
        raise ValueError(f"need at least one sample, got n={n}")
    if not 0.0 < q < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"q and confidence must lie strictly between 0 and 1, got q={q}, confidence={confidence}")
    tail = (1.0 - confidence) / 2
    mean, sd = n * q, math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(mean - _WINDOW_SD * sd) - _WINDOW_SD)
    hi = min(n, math.ceil(mean + _WINDOW_SD * sd) + _WINDOW_SD)
    log_q, log_1q, log_n_fact = math.log(q), math.log1p(-q), math.lgamma(n + 1)
    pmf = [math.exp(_log_pmf(k, n, log_q, log_1q, log_n_fact)) for k in range(lo, hi + 1)]
    # l: the largest with P(B <= l-1) <= tail. The mass below the window is negligible.
    below, lower_rank = 0.0, lo  # P(B <= lo-1) ≈ 0 <= tail, so l >= lo
    for k in range(lo, hi + 1):
        below += pmf[k - lo]  # P(B <= k)
        if below > tail:
            break
        lower_rank = k + 1
    # u: the smallest with P(B >= u) <= tail.
    above, upper_rank = 0.0, hi + 1  # P(B >= hi+1) ≈ 0 <= tail
    for k in range(hi, lo - 1, -1):
        above += pmf[k - lo]  # P(B >= k)
        if above > tail:
            break
        upper_rank = k
    return lower_rank, upper_rank


def quantile_interval(samples: RankedSamples, q: float, confidence: float = CONFIDENCE) -> QuantileInterval:
    """The point estimate and order-statistic interval of quantile ``q`` (0 < q < 1)."""
    n = samples.count
    if n < 1:
        raise ValueError("no samples: a quantile needs at least one")
    low_rank, high_rank = order_statistic_ranks(n, q, confidence)
    wanted = [r for r in (low_rank, high_rank) if 1 <= r <= n]
    bounds = dict(zip(wanted, samples.bounds_at_ranks(wanted), strict=True))
    lower = bounds[low_rank][0] if low_rank >= 1 else 0.0
    upper = bounds[high_rank][1] if high_rank <= n else None
    return QuantileInterval(q=q, count=n, point=samples.value_at_quantile(q), lower=lower, upper=upper)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(failures: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``failures / n`` (n ≥ 1)."""
    if n < 1 or not 0 <= failures <= n:
        raise ValueError(f"need 0 <= failures <= n and n >= 1, got {failures}/{n}")
    z = _z(confidence)
    p = failures / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def newcombe_difference(failures_a: int, n_a: int, failures_b: int, n_b: int,
                        confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``p_b − p_a`` (run B's error rate minus run A's)."""
    p_a, p_b = failures_a / n_a, failures_b / n_b
    low_a, high_a = wilson_interval(failures_a, n_a, confidence)
    low_b, high_b = wilson_interval(failures_b, n_b, confidence)
    diff = p_b - p_a
    lower = diff - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    upper = diff + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return max(-1.0, lower), min(1.0, upper)
