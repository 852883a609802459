"""LoadFigures: the load's read face metrics observe (kernel.load_observation)."""

from __future__ import annotations

import types

from kernel.load_observation import ArrivalTotals, LoadObservation, observe
from scenarios.abort import AbortDecision
from scenarios.lag import GeneratorSnapshot
from scenarios.latency import LatencyRecorder
from scenarios.load_figures import LoadFigures, progress_line


def _figures(**state: object) -> LoadFigures:
    figures = LoadFigures(LatencyRecorder())
    for name, value in state.items():
        setattr(figures, name, value)
    return figures


def test_arrivals_are_summed_over_every_process_snapshot() -> None:
    snaps = [
        GeneratorSnapshot(node="worker-0", arrivals_due=100, arrivals_started=90, arrivals_late=3,
                          arrivals_dropped_late=2, arrivals_shed=1),
        GeneratorSnapshot(node="worker-1", arrivals_due=50, arrivals_started=50, arrivals_late=1),
    ]
    figures = _figures(shipping=types.SimpleNamespace(snapshots=lambda: snaps))
    assert figures.arrival_totals() == ArrivalTotals(due=150, started=140, late=4, dropped_late=2, shed=1)


def test_a_broken_snapshot_source_reads_as_no_arrivals_not_an_error() -> None:
    def broken() -> list[GeneratorSnapshot]:
        raise RuntimeError("worker message garbled")

    figures = _figures(shipping=types.SimpleNamespace(snapshots=broken))
    assert figures.arrival_totals() == ArrivalTotals()


def test_citizens_in_flight_come_from_the_local_scheduler_pool_and_are_unknown_without_one() -> None:
    assert _figures().citizens_in_flight() is None
    assert _figures(scheduler_getter=lambda: None).citizens_in_flight() is None
    pool = [object()] * 7
    assert _figures(scheduler_getter=lambda: types.SimpleNamespace(pool=pool)).citizens_in_flight() == 7


def test_the_abort_rule_is_the_monitors_decision() -> None:
    assert _figures().abort_rule() is None
    assert _figures(abort=types.SimpleNamespace(decision=None)).abort_rule() is None
    decision = AbortDecision(rule="p99", reason="p99 4,000 ms above 2,000 ms", at_offset_s=12.0, observed=4000, limit=2000)
    assert _figures(abort=types.SimpleNamespace(decision=decision)).abort_rule() == "p99"


def test_the_harness_extension_is_what_observe_finds_on_the_environment() -> None:
    figures: LoadObservation = _figures(started_at=1_700_000_000.0)
    environment = types.SimpleNamespace(dientap=figures)
    found = observe(environment)
    assert found is figures and found.started_at == 1_700_000_000.0
    assert observe(types.SimpleNamespace()) is None


def test_the_progress_line_counts_throttled_apart_from_errors_and_is_unchanged_without_any():
    recorder = LatencyRecorder()
    for i in range(200):
        recorder.record("portal", "POST /auth/token", "01", None, 2_000, None, failed=i < 10, at=1.0)
    assert progress_line(5, 40, 68, 33.3, recorder, 21) == (
        "[    5/40s] users     68 |    33.3 req/s | errors   5.0% | p95     21 ms")
    for _ in range(50):
        recorder.record("portal", "POST /auth/token", "01", None, 2_000, None, failed=False, throttled=True, at=1.0)
    assert progress_line(10, 40, 68, 33.3, recorder, 21) == (
        "[   10/40s] users     68 |    33.3 req/s | errors   4.0% | p95     21 ms | throttled by target  20.0%")
