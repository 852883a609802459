"""The exporter's collectors against a recorder filled with known values."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kernel.hdr import SparseHistogram
from metrics.buckets import BUDGET_BOUNDARIES_S, LATENCY_BUCKETS_S, EdgeCounter
from metrics.drill_state import MAX_FAULTS, DrillState
from metrics.exporter import MetricsExporter, RunStateCollector, build_registry
from metrics.series import SeriesCache
from scenarios.abort import AbortDecision
from scenarios.lag import GeneratorSnapshot
from scenarios.latency import LatencyRecorder
from scenarios.load_figures import LoadFigures

ROOT = Path(__file__).resolve().parents[2]


def _env(recorder: LatencyRecorder, **state: object) -> types.SimpleNamespace:
    """An environment carrying the load's real figures object (the harness's extension, less the world)."""
    figures = LoadFigures(recorder)
    for name, value in state.items():
        setattr(figures, name, value)
    runner = types.SimpleNamespace(user_classes_count={"CommuneOfficer": 34, "ProvincialAgency": 3})
    return types.SimpleNamespace(dientap=figures, runner=runner)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _bucket(samples: dict, endpoint: str, province: str, le: str, measure: str = "sent") -> float:
    labels = {"service": "portal", "endpoint": endpoint, "province": province, "measure": measure, "le": le}
    return samples[("dientap_request_duration_seconds_bucket", tuple(sorted(labels.items())))]


@pytest.fixture
def recorder() -> LatencyRecorder:
    rec = LatencyRecorder()
    # POST /dossiers in province 01: values (µs) well inside the HDR slots around each edge.
    for value_us, failed in [(900, False), (1_000, False), (120_000, False), (799_000, True), (801_000, False),
                             (2_500_000, True)]:
        rec.record("portal", "POST /dossiers", "01", "00004", value_us, value_us + 50_000, failed, at=100.0)
    rec.record("portal", "GET /procedures", "79", None, 4_000, None, False, at=100.0)
    return rec


def test_bucket_counts_are_exact_at_the_edges(recorder: LatencyRecorder) -> None:
    samples = _samples(MetricsExporter(_env(recorder), process_metrics=False).render().decode())
    expected = {"0.001": 2, "0.1": 2, "0.15": 3, "0.75": 3, "0.8": 4, "1.0": 5, "2.0": 5, "3.0": 6, "30.0": 6, "+Inf": 6}
    for le, count in expected.items():
        assert _bucket(samples, "POST /dossiers", "01", le) == count, le
    # intended = sent + 50 ms: 0.9 ms and 1 ms both land above the 1-ms edge
    assert _bucket(samples, "POST /dossiers", "01", "0.001", "intended") == 0
    assert _bucket(samples, "POST /dossiers", "01", "0.075", "intended") == 2
    count_key = ("dientap_request_duration_seconds_count",
                 tuple(sorted({"service": "portal", "endpoint": "POST /dossiers", "province": "01", "measure": "sent"}.items())))
    assert samples[count_key] == 6


def test_sum_matches_the_recorders_mean(recorder: LatencyRecorder) -> None:
    hist = recorder.histograms[next(k for k in recorder.histograms if k.endpoint == "POST /dossiers" and k.measure == "service")]
    cumulative, sum_us = EdgeCounter().read(hist)
    assert sum_us / hist.total == pytest.approx(hist.mean_value())
    assert sum_us == pytest.approx(900 + 1_000 + 120_000 + 799_000 + 801_000 + 2_500_000, rel=1e-3)
    assert cumulative[-1] == 6


def test_counters_by_key_and_zero_failures_are_present(recorder: LatencyRecorder) -> None:
    samples = _samples(MetricsExporter(_env(recorder), process_metrics=False).render().decode())
    key = tuple(sorted({"service": "portal", "endpoint": "POST /dossiers", "province": "01"}.items()))
    assert samples[("dientap_requests_total", key)] == 6
    assert samples[("dientap_request_failures_total", key)] == 2
    other = tuple(sorted({"service": "portal", "endpoint": "GET /procedures", "province": "79"}.items()))
    assert samples[("dientap_request_failures_total", other)] == 0


def test_fast_exposition_equals_prometheus_client_output(recorder: LatencyRecorder) -> None:
    env = _env(recorder)
    fast = _samples(MetricsExporter(env, process_metrics=False).render().decode())
    reference = _samples(generate_latest(build_registry(env)).decode())
    for volatile in ("dientap_exporter_render_seconds", "dientap_exporter_render_cpu_seconds_total"):
        fast.pop((volatile, ()))
        reference.pop((volatile, ()))
    assert fast == reference


def test_no_commune_or_id_label(recorder: LatencyRecorder) -> None:
    text = MetricsExporter(_env(recorder), process_metrics=False).render().decode()
    assert "00004" not in text
    labels = {name for family in text_string_to_metric_families(text) for s in family.samples for name in s.labels}
    assert labels <= {"service", "endpoint", "province", "measure", "le", "persona", "reason", "rule", "fault", "kind"}


def test_unchanged_histograms_are_not_walked_again(recorder: LatencyRecorder) -> None:
    exporter = MetricsExporter(_env(recorder), process_metrics=False)
    exporter.render()
    assert exporter.cache.recomputed == 3
    exporter.render()
    assert exporter.cache.recomputed == 0
    recorder.record("portal", "GET /procedures", "79", None, 40_000, None, True, at=101.0)
    samples = _samples(exporter.render().decode())
    assert exporter.cache.recomputed == 1
    key = tuple(sorted({"service": "portal", "endpoint": "GET /procedures", "province": "79"}.items()))
    assert samples[("dientap_requests_total", key)] == 2
    assert samples[("dientap_request_failures_total", key)] == 1


def test_run_state_actors_arrivals_abort(recorder: LatencyRecorder) -> None:
    snapshot = GeneratorSnapshot(arrivals_due=120, arrivals_started=110, arrivals_late=4, arrivals_dropped_late=7,
                                 arrivals_shed=3)
    shipping = types.SimpleNamespace(
        snapshots=lambda: [snapshot, GeneratorSnapshot(node="w2", arrivals_due=10, arrivals_started=10)]
    )
    decision = AbortDecision(rule="error_rate", reason="error rate 60 % above 50 %", at_offset_s=20.0, observed=0.6, limit=0.5)
    pool = [object()] * 5
    env = _env(recorder, shipping=shipping, abort=types.SimpleNamespace(decision=decision), started_at=1_700_000_000.0,
               scheduler_getter=lambda: types.SimpleNamespace(pool=pool))
    samples = _samples(generate_latest(build_registry(env)).decode())
    assert samples[("dientap_arrivals_intended_total", ())] == 130
    assert samples[("dientap_arrivals_started_total", ())] == 120
    assert samples[("dientap_arrivals_behind_total", (("reason", "dropped_late"),))] == 7
    assert samples[("dientap_active_actors", (("persona", "CommuneOfficer"),))] == 34
    assert samples[("dientap_active_actors", (("persona", "Citizen"),))] == 5
    assert samples[("dientap_abort_state", (("rule", "error_rate"),))] == 1
    assert samples[("dientap_abort_state", (("rule", "p99"),))] == 0
    assert samples[("dientap_run_start_time_seconds", ())] == 1_700_000_000.0


def test_run_state_before_the_harness_started() -> None:
    env = types.SimpleNamespace(runner=None)
    samples = _samples("".join(_text(m) for m in RunStateCollector(env).collect()))
    assert samples[("dientap_abort_state", (("rule", "p99"),))] == 0
    assert samples[("dientap_arrivals_intended_total", ())] == 0


def test_drill_faults_are_exposed_on_and_off() -> None:
    DrillState.reset()
    try:
        DrillState.set_active("portal-slow", "latency", True)
        DrillState.set_active("axis-partition", "partition", True)
        DrillState.set_active("axis-partition", "partition", False)
        samples = _samples(generate_latest(build_registry(_env(LatencyRecorder()))).decode())
        assert samples[("dientap_drill_fault_active", (("fault", "portal-slow"), ("kind", "latency")))] == 1
        assert samples[("dientap_drill_fault_active", (("fault", "axis-partition"), ("kind", "partition")))] == 0
        assert [f.name for f in DrillState.active()] == ["portal-slow"]
        with pytest.raises(ValueError, match="name and kind must be non-empty"):
            DrillState.set_active("", "latency", True)
    finally:
        DrillState.reset()


def test_drill_state_bounds_its_labels() -> None:
    DrillState.reset()
    try:
        for n in range(MAX_FAULTS):
            DrillState.set_active(f"f{n}", "error", False)
        with pytest.raises(ValueError, match="distinct faults"):
            DrillState.set_active("one-too-many", "error", True)
    finally:
        DrillState.reset()


def test_edges_are_one_declaration_holding_every_default_budget_boundary() -> None:
    import mocks.core.metrics

    assert mocks.core.metrics.LATENCY_BUCKETS_S is LATENCY_BUCKETS_S  # the mocks' /metrics and the exporter's
    doc = yaml.safe_load((ROOT / "reports" / "budgets.yaml").read_text(encoding="utf-8"))
    boundaries = {line[k] / 1000 for line in doc["budgets"] for k in ("p50_ms", "p95_ms", "p99_ms") if k in line}
    boundaries |= {ms / 1000 for ms in doc["readiness"]["p95_ms"].values()}
    assert boundaries <= set(BUDGET_BOUNDARIES_S)
    assert set(BUDGET_BOUNDARIES_S) <= set(LATENCY_BUCKETS_S)


def test_edge_counter_agrees_with_the_harness_percentile_at_a_boundary() -> None:
    # summary p95 ≤ edge  ⇔  bucket(le=edge) ≥ 95 % of the count: the gate and PromQL agree.
    counter = EdgeCounter()
    for p95_us in (799_000, 799_900, 800_000, 800_300, 801_000):
        hist = SparseHistogram()
        hist.record(10_000, 95)
        hist.record(p95_us, 5)
        hist.record(5_000_000, 1)
        at_edge = counter.cumulative(hist)[LATENCY_BUCKETS_S.index(0.8)]
        assert (hist.value_at_percentile(95.0) <= 800_000) == (at_edge >= 0.95 * hist.total), p95_us


def test_edge_counter_rejects_unsorted_edges() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        EdgeCounter((0.1, 0.05))


def test_slot_budget_refreshes_oldest_first_and_full_refresh_catches_up() -> None:
    rec = LatencyRecorder()
    for n in range(10):
        rec.record("portal", f"E{n}", "01", None, 1_000 + n, None, False, at=1.0)
    cache = SeriesCache(slot_budget=1)  # one histogram per scrape once every key is known
    first = cache.collect(rec)
    assert cache.recomputed == 10 and first.stale == 0  # new keys are always shown
    for n in range(10):
        rec.record("portal", f"E{n}", "01", None, 2_000_000, None, True, at=2.0)
    second = cache.collect(rec)
    assert (cache.recomputed, second.stale) == (1, 9)
    counts = dict(second.requests)
    fails = dict(second.failures)
    # A stale key keeps figures taken together: 1 request, 0 failures — never 1 of 2 failed.
    assert sorted(counts.values()) == [1] * 9 + [2]
    assert all(fails[key] == counts[key] - 1 for key in counts)
    refreshed_first = {k for k, n in counts.items() if n == 2}
    third = dict(cache.collect(rec).requests)
    assert cache.recomputed == 1
    assert {k for k, n in third.items() if n == 2} - refreshed_first  # a different, older key this time
    final = cache.collect(rec, full=True)
    assert final.stale == 0 and set(dict(final.requests).values()) == {2} and set(dict(final.failures).values()) == {1}


def test_a_master_reports_its_workers_users() -> None:
    runner = types.SimpleNamespace(user_classes_count={"CommuneOfficer": 0}, reported_user_classes_count={"CommuneOfficer": 3321})
    env = types.SimpleNamespace(dientap=None, runner=runner)
    samples = _samples("".join(_text(m) for m in RunStateCollector(env).collect()))
    assert samples[("dientap_active_actors", (("persona", "CommuneOfficer"),))] == 3321


def _text(metric: object) -> str:
    registry = types.SimpleNamespace(collect=lambda: [metric])
    return generate_latest(registry).decode()  # type: ignore[arg-type]
