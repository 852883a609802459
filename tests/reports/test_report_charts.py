"""Chart data: re-binning by time, fault windows from events and drill results."""

from __future__ import annotations

import math
from datetime import timedelta

from reports import charts
from reports.drill_result import DrillResult, FaultWindow
from reports.journal import LatencySample, LatencySeries
from tests.reports.rpt_support import make_journal


def test_sparse_series_rates_count_empty_buckets_as_zero() -> None:
    series = LatencySeries(service="axis", endpoint="GET /inbox", samples=[
        LatencySample(offset_s=0, count=10, failures=0, p95_ms=5.0),
        LatencySample(offset_s=9, count=10, failures=1, p95_ms=50.0),
    ])
    xs, rates = charts._rebin(series, width=1.0, end=10.0, attr="count", how="sum")
    assert xs == [float(i) for i in range(10)] and rates == [10.0] + [0.0] * 8 + [10.0]
    _, p95 = charts._rebin(series, width=5.0, end=10.0, attr="p95_ms", how="max")
    assert p95 == [5.0, 50.0]
    _, gaps = charts._rebin(series, width=1.0, end=10.0, attr="p95_ms", how="max")
    assert math.isnan(gaps[1]) and gaps[9] == 50.0


def test_long_runs_are_capped_at_max_points() -> None:
    assert charts._bin_width(1.0, 3600.0) == 6.0  # 600 bins
    assert charts._bin_width(1.0, 120.0) == 1.0


def test_fault_spans_pair_events_and_merge_drill_faults() -> None:
    journal = make_journal()
    start = journal.provenance.started_at
    journal.add_event("fault_start", "axis-partition", t=start + timedelta(seconds=10))
    journal.add_event("fault_stop", "axis-partition", t=start + timedelta(seconds=40))
    journal.add_event("fault_start", "portal-freeze", t=start + timedelta(seconds=50))
    journal.drill = DrillResult(name="d", title="d", verdict="PASS", faults=[
        FaultWindow(name="axis-partition", kind="reset", target="axis", start_offset_s=10.0, end_offset_s=40.0)])
    spans = charts.fault_spans(journal)
    assert spans == [charts.FaultSpan("axis-partition", 10.0, 40.0), charts.FaultSpan("portal-freeze", 50.0, None)]
