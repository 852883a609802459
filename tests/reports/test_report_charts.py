"""Chart data: re-binning by time, fault windows from events and drill results."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from reports import charts
from reports.drill_result import DrillResult, FaultWindow
from reports.journal import LatencySample, LatencySeries
from reports.sample import sample_run
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


def _series(service: str, endpoint: str, count: int, p99: float | None) -> LatencySeries:
    return LatencySeries(service=service, endpoint=endpoint,
                         samples=[LatencySample(offset_s=0, count=count, failures=0, p95_ms=p99, p99_ms=p99)])


def test_chart_lines_are_half_the_busiest_then_the_slowest_not_yet_chosen() -> None:
    series = [_series("portal", f"GET /busy{i}", 1000 - i, 10.0) for i in range(5)]
    series += [_series("axis", f"GET /slow{i}", 5, 900.0 - i) for i in range(5)]
    series.append(_series("axis", "GET /quiet", 1, None))
    chosen = [s.endpoint for s in charts.chart_endpoints(series, limit=6)]
    assert chosen == ["GET /busy0", "GET /busy1", "GET /busy2", "GET /slow0", "GET /slow1", "GET /slow2"]
    # A line that is both busy and slow is drawn once, and the next slowest takes the free place.
    series[0] = _series("portal", "GET /busy0", 1000, 5000.0)
    chosen = [s.endpoint for s in charts.chart_endpoints(series, limit=4)]
    assert chosen == ["GET /busy0", "GET /busy1", "GET /slow0", "GET /slow1"]
    assert len(charts.chart_endpoints(series[:3], limit=8)) == 3  # fewer series than places: all of them


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_latency_chart_is_byte_identical_self_contained_and_labelled() -> None:
    journal = sample_run("c", total_requests=3000, duration_s=20, fault=(5.0, 10.0)).journal
    svg = charts.latency_chart(journal)
    assert svg == charts.latency_chart(journal)  # same journal, same bytes (no date, fixed hash salt)
    assert svg.startswith("<svg") and "<metadata>" not in svg and "<?xml" not in svg
    ids = set(re.findall(r' id="([^"]+)"', svg))
    assert ids and all(i.startswith("lat-") for i in ids)
    refs = set(re.findall(r'(?:href="#|url\(#)([^")]+)', svg))
    assert refs and refs <= ids  # every internal reference resolves inside this chart
    legend = [f"{s.service} {s.endpoint}" for s in charts.chart_endpoints(journal.timeseries.series)]
    texts = _texts(svg)
    assert len(legend) == charts.TOP_ENDPOINTS and all(name in texts for name in legend)
    assert "axis-latency-spike" in texts  # the fault is named on the chart


def test_throughput_chart_has_one_line_per_service_and_its_own_ids() -> None:
    journal = sample_run("c", total_requests=3000, duration_s=20, fault=None).journal
    svg = charts.throughput_chart(journal)
    assert {"portal", "population", "axis"} <= set(_texts(svg))
    assert {"requests/s", "failures/s"} <= set(_texts(svg))
    assert all(i.startswith("tput-") for i in re.findall(r' id="([^"]+)"', svg))


def test_an_aborted_run_gets_a_black_line_on_both_charts() -> None:
    journal = sample_run("c", total_requests=3000, duration_s=20, fault=None).journal
    for draw in (charts.latency_chart, charts.throughput_chart):
        plain, aborted = draw(journal), draw(journal, aborted_at=12.0)
        # one vertical line per panel (two panels each)
        assert aborted.count("stroke: #000000; stroke-width: 1.2") == plain.count("stroke: #000000; stroke-width: 1.2") + 2
