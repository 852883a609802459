"""The confidence intervals the comparison rests on, against published values and exact
binomial arithmetic computed independently here (fractions, math.comb)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.compare_sources import HdrSamples
from reports.intervals import newcombe_difference, order_statistic_ranks, quantile_interval, wilson_interval
from tests.reports.compare_support import histogram


def _binomial_cdf(k: int, n: int, q: Fraction) -> Fraction:
    """P(B <= k) for B ~ Binomial(n, q), exactly."""
    return sum((math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(max(k, -1) + 1)), Fraction(0))


@pytest.mark.parametrize(("n", "q", "ranks"), [
    (10, 0.5, (2, 9)),  # Conover (1999), §3.2: the median of 10 lies between X(2) and X(9), coverage 97.85 %
    (20, 0.5, (6, 15)),  # ... and of 20 between X(6) and X(15), coverage 95.86 %
    (71, 0.95, (63, 72)),  # 0.95^71 > 2.5 %: 71 samples cannot bound p95 from above (u = n + 1: open)
    (72, 0.95, (64, 72)),  # 0.95^72 < 2.5 %: from 72 on, the largest sample does
    (5, 0.5, (0, 6)),  # 2 × 0.5^5 > 5 %: 5 samples bound the median on neither side
])
def test_ranks_match_published_and_hand_computed_values(n: int, q: float, ranks: tuple[int, int]) -> None:
    assert order_statistic_ranks(n, q) == ranks


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 250), q=st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_ranks_are_the_tightest_equal_tailed_pair_with_the_stated_coverage(n: int, q: float) -> None:
    low, high = order_statistic_ranks(n, q)
    qf = Fraction(q).limit_denominator(1000)
    tail = Fraction(1, 40)
    # Each tail holds at most 2.5 %, so coverage P(l <= B <= u-1) is at least 95 % ...
    assert _binomial_cdf(low - 1, n, qf) <= tail
    assert 1 - _binomial_cdf(high - 1, n, qf) <= tail
    # ... and neither rank could move inward without breaking its tail.
    if low < n:
        assert _binomial_cdf(low, n, qf) > tail
    if high > 0:
        assert 1 - _binomial_cdf(high - 2, n, qf) > tail


def test_large_counts_agree_with_the_normal_approximation() -> None:
    n, q = 2_000_000, 0.99
    low, high = order_statistic_ranks(n, q)
    half_width = 1.959964 * math.sqrt(n * q * (1 - q))
    assert abs((n * q - half_width) - low) <= 2 and abs((n * q + half_width) - high) <= 2


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.floats(0.05, 5000.0), min_size=1, max_size=400), q=st.sampled_from([0.5, 0.95, 0.99]))
def test_the_interval_contains_the_figure_the_report_shows(values: list[float], q: float) -> None:
    interval = quantile_interval(HdrSamples(histogram(values)), q)
    assert interval.lower <= interval.point
    assert interval.upper is None or interval.point <= interval.upper


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0.05, 5000.0), min_size=40, max_size=200), q=st.sampled_from([0.5, 0.95]))
def test_more_samples_of_the_same_distribution_narrow_the_interval(values: list[float], q: float) -> None:
    one, four = histogram(values), histogram(values * 4)
    narrow = quantile_interval(HdrSamples(four), q)
    wide = quantile_interval(HdrSamples(one), q)
    # Four times the samples, same empirical distribution: the interval lies within the first.
    assert wide.lower <= narrow.lower
    assert wide.upper is None or (narrow.upper is not None and narrow.upper <= wide.upper)
    low1, high1 = order_statistic_ranks(len(values), q)
    low4, high4 = order_statistic_ranks(4 * len(values), q)
    assert (high4 - low4) / (4 * len(values)) < (high1 - low1) / len(values)


def test_the_interval_covers_the_true_quantile_about_as_often_as_it_says() -> None:
    # 400 seeded samples of 200 from a known distribution (exponential, mean 10 ms):
    # the 95 % interval of p95 must cover the true p95 (10·ln 20 ms) in ≥ 95 % of them,
    # give or take the sampling of 400 trials (the exact coverage here is ≈ 95.5 %).
    rng = random.Random(7)
    truth = 10 * math.log(20)
    covered = 0
    for _ in range(400):
        interval = quantile_interval(HdrSamples(histogram(rng.expovariate(0.1) for _ in range(200))), 0.95)
        covered += interval.lower <= truth <= (interval.upper if interval.upper is not None else math.inf)
    assert covered >= 0.93 * 400


def test_histogram_resolution_widens_never_narrows() -> None:
    # 1,000 samples all equal: the interval is the value's HDR slot, not a point inside it.
    interval = quantile_interval(HdrSamples(histogram([123.456] * 1000)), 0.5)
    assert interval.lower <= 123.456 <= interval.upper
    assert interval.upper - interval.lower < 0.001 * 123.456 * 2


@pytest.mark.parametrize(("failures", "n", "expected"), [
    (81, 263, (0.2553, 0.3662)),  # Newcombe (1998a), Table I
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
])
def test_wilson_interval_matches_published_values(failures: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(failures, n) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("a", "b", "expected"), [
    # Newcombe (1998b), Table II, method 10; the function gives p_b − p_a, so the runs are
    # passed in the order that makes it the paper's p1 − p2.
    ((48, 80), (56, 70), (0.0524, 0.3339)),
    ((3, 10), (9, 10), (0.1705, 0.8090)),
    ((0, 29), (5, 56), (-0.0381, 0.1926)),
    ((0, 20), (0, 10), (-0.1611, 0.2775)),
    ((0, 10), (0, 10), (-0.2775, 0.2775)),
])
def test_newcombe_difference_matches_published_values(a: tuple[int, int], b: tuple[int, int],
                                                      expected: tuple[float, float]) -> None:
    assert newcombe_difference(*a, *b) == pytest.approx(expected, abs=1e-4)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        order_statistic_ranks(0, 0.5)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        order_statistic_ranks(10, 1.0)
    with pytest.raises(ValueError, match="0 <= failures <= n"):
        wilson_interval(3, 2)
