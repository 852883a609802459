"""LatencyRecorder: keys, both measures, drain/absorb exactness, files, summary records."""

from __future__ import annotations

import pytest

from kernel.latency_records import HistogramKey, load_histograms
from reports.summary_build import endpoint_stats_of
from scenarios.latency import LatencyRecorder, request_context
from scenarios.recorder_delta import RecorderDelta


def _fire(rec: LatencyRecorder, ms: float, ctx: dict, name: str = "POST /dossiers", start: float = 1000.0, failed=False):
    rec.on_request(
        request_type="POST", name=name, response_time=ms, response_length=10,
        exception=RuntimeError("boom") if failed else None, context=ctx, start_time=start,
    )


def test_request_event_records_both_measures_under_context_keys():
    rec = LatencyRecorder()
    ctx = request_context("portal", "01", commune="00004", intended_start=999.5)  # 500 ms before send
    _fire(rec, 20.0, ctx)
    _fire(rec, 30.0, request_context("portal", "79"), failed=True)
    sent = rec.histograms[HistogramKey("portal", "POST /dossiers", "01", "service")]
    intended = rec.histograms[HistogramKey("portal", "POST /dossiers", "01", "intended")]
    assert sent.value_at_percentile(50) == pytest.approx(20_000, rel=0.001)
    assert intended.value_at_percentile(50) == pytest.approx(520_000, rel=0.001)
    assert HistogramKey("portal", "POST /dossiers", "79", "intended") not in rec.histograms  # no schedule given
    assert rec.requests == 2 and rec.failures == 1
    assert rec.communes["00004"].requests == 1 and rec.communes["00004"].failures == 0


def test_missing_context_goes_to_unknown_keys():
    rec = LatencyRecorder()
    rec.on_request(request_type="GET", name="GET /x", response_time=1.0, response_length=0)
    assert list(rec.histograms) == [HistogramKey("unknown", "GET /x", "--", "service")]


def test_intended_never_below_send_time():
    rec = LatencyRecorder()
    _fire(rec, 50.0, request_context("portal", "01", intended_start=1000.01), start=1000.0)  # clock skew
    key = HistogramKey("portal", "POST /dossiers", "01", "intended")
    assert rec.histograms[key].value_at_percentile(100) >= 50_000


def _populate(rec: LatencyRecorder, n: int, first: int = 0) -> None:
    """Record responses number ``first`` .. ``first + n - 1`` of a fixed synthetic stream."""
    for i in range(first, first + n):
        province = ("01", "79", "46")[i % 3]
        rec.record("portal", f"E{i % 4}", province, f"0000{i % 5}", 1000 + 37 * i, 5000 + 41 * i, i % 9 == 0,
                   at=1_700_000_000 + i // 50)


def test_drain_and_absorb_through_wire_form_is_exact():
    direct = LatencyRecorder()
    _populate(direct, 500)
    # The same stream split over two workers, one of them drained twice.
    worker_a, worker_b, master = LatencyRecorder(), LatencyRecorder(), LatencyRecorder()
    _populate(worker_a, 150)
    master.absorb(RecorderDelta.from_wire(worker_a.take_delta().to_wire()))
    assert worker_a.histograms == {} and worker_a.requests == 0  # drained
    _populate(worker_a, 50, first=150)
    _populate(worker_b, 300, first=200)
    for rec in (worker_a, worker_b):
        master.absorb(RecorderDelta.from_wire(rec.take_delta().to_wire()))
    assert master.histograms == direct.histograms
    assert master.requests == direct.requests == 500


def test_absorb_merges_buckets_and_communes():
    a, b, master = LatencyRecorder(), LatencyRecorder(), LatencyRecorder()
    _populate(a, 100)
    _populate(b, 100)
    for rec in (a, b):
        master.absorb(rec.take_delta())
    both = LatencyRecorder()
    _populate(both, 100)
    _populate(both, 100)
    assert master.histograms == both.histograms
    assert {c: (v.requests, v.failures) for c, v in master.communes.items()} == {
        c: (v.requests, v.failures) for c, v in both.communes.items()
    }
    assert master.requests == 200 and master.failures == both.failures
    for key, series in both.buckets.items():
        for second, bucket in series.items():
            got = master.buckets[key][second]
            assert (got.count, got.failures) == (bucket.count, bucket.failures)
            assert got.service == bucket.service and got.intended == bucket.intended


def test_sealed_recorder_counts_late_records():
    rec = LatencyRecorder()
    rec.seal()
    _fire(rec, 1.0, request_context("portal", "01"))
    assert rec.requests == 0 and rec.late_after_seal == 1
    rec.unseal()
    _fire(rec, 1.0, request_context("portal", "01"))
    assert rec.requests == 1


def test_dump_and_load_round_trip(tmp_path):
    rec = LatencyRecorder()
    _populate(rec, 300)
    path = rec.dump(tmp_path / "histograms")
    assert path.name == "latency.hdr"
    assert load_histograms(path) == rec.histograms
    assert (tmp_path / "histograms" / "percentiles.json").read_text().count('"p99_ms"') == len(rec.histograms)


def test_load_names_the_bad_line(tmp_path):
    bad = tmp_path / "x.hdr"
    bad.write_text("# header\nportal\tGET /\t01\tservice\n")
    with pytest.raises(ValueError, match=r"x.hdr:2: expected service, endpoint, province, measure, histogram"):
        load_histograms(bad)


def test_the_recorded_histograms_give_reports_both_measures_and_the_failures():
    rec = LatencyRecorder()
    _populate(rec, 400)
    stats = {(s.service, s.name): s for s in endpoint_stats_of(rec.histograms, rec.key_failures)}
    e0 = stats[("portal", "E0")]
    assert e0.count == 100 and e0.intended is not None and e0.intended_count == 100
    assert e0.intended.p99_ms > e0.p99_ms
    assert e0.failures == sum(1 for i in range(400) if i % 4 == 0 and i % 9 == 0)
    series = rec.timeseries(run_start=1_700_000_000).series
    assert [s.endpoint for s in series] == ["E0", "E1", "E2", "E3"]
    assert [round(x.offset_s) for x in series[0].samples] == list(range(8))
    assert sum(x.count for x in series[0].samples) == 100


def test_failures_by_service_endpoint_province_survive_shipping():
    worker, master = LatencyRecorder(), LatencyRecorder()
    _populate(worker, 300)
    direct = LatencyRecorder()
    _populate(direct, 300)
    master.absorb(RecorderDelta.from_wire(worker.take_delta().to_wire()))
    expected_01 = sum(1 for i in range(300) if i % 9 == 0 and i % 3 == 0)
    for rec in (direct, master):
        assert rec.failures_of(province="01") == expected_01
        assert rec.failures_of() == rec.failures == sum(1 for i in range(300) if i % 9 == 0)
        assert rec.failures_of("portal", "E1", "79") == sum(1 for i in range(300) if i % 9 == 0 and i % 4 == 1 and i % 3 == 1)
    assert worker.failures_of() == 0  # drained


def test_old_seconds_are_compacted_and_still_charted():
    rec = LatencyRecorder(bucket_horizon_s=5)
    base = 1_700_000_000
    for sec in range(40):
        for i in range(10):
            rec.record("portal", "GET /x", "01", None, 1000 * (i + 1), None, i == 0, at=base + sec)
    live = rec.buckets[("portal", "GET /x")]
    assert len(live) <= 16 and min(live) >= base + 20  # older seconds compacted
    samples = rec.timeseries(run_start=base).series[0].samples
    assert [s.offset_s for s in samples] == list(range(40))
    assert all(s.count == 10 and s.failures == 1 and s.p50_ms == pytest.approx(5.0, rel=0.01) for s in samples)
    # a late report for a compacted second adds to its counts
    late = LatencyRecorder()
    late.record("portal", "GET /x", "01", None, 1000, None, True, at=base + 1)
    rec.absorb(late.take_delta())
    assert rec.late_bucket_samples == 1
    assert rec.timeseries(run_start=base).series[0].samples[1].count == 11
