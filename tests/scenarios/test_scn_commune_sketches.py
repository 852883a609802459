"""Per-commune latency sketches while recording: the compact whole-run store, the window,
the worker → master wire round trip (through msgpack, as Locust carries it), and the file
the recorder writes."""

from __future__ import annotations

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.commune_latency import load_commune_latency, new_commune_sketch
from scenarios.commune_sketches import CommuneSketches, CompactSketch
from scenarios.latency import LatencyRecorder, request_context
from scenarios.recorder_delta import RecorderDelta

COMMUNES = ("00004", "00070", "26734")
# (commune, latency µs): a request stream over a few communes, 1 µs .. 1 h.
STREAM = st.lists(st.tuples(st.sampled_from(COMMUNES), st.integers(min_value=1, max_value=3_600_000_000)), max_size=300)


def _expected(stream: list[tuple[str, int]]) -> dict:
    sketches: dict = {}
    for commune, value in stream:
        sketches.setdefault(commune, new_commune_sketch()).record(value)
    return sketches


def _over_the_wire(delta: RecorderDelta) -> RecorderDelta:
    # Locust's transport is msgpack: tuples come back as lists.
    return RecorderDelta.from_wire(msgpack.unpackb(msgpack.packb(delta.to_wire()), strict_map_key=False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.integers(min_value=1, max_value=3_600_000_000), max_size=200))
def test_a_compact_sketch_holds_exactly_the_sparse_sketch_s_counts_whatever_the_order(values: list[int]) -> None:
    sparse = new_commune_sketch()
    for value in values:
        sparse.record(value)
    compact = CompactSketch()
    for value in values:  # one slot at a time, in arrival order: grows down and up
        one = new_commune_sketch()
        one.record(value)
        compact.add_slots(one.counts.items())
    assert compact.to_histogram() == sparse and compact.total == len(values)
    assert compact.slot_counts() == sparse.counts


def test_a_compact_sketch_takes_one_array_slot_per_slot_of_its_range() -> None:
    compact = CompactSketch()
    sketch = new_commune_sketch()
    for value in (1_000, 1_010, 2_000, 1_000):
        sketch.record(value)
    compact.add_slots(sketch.counts.items())
    low, high = min(sketch.counts), max(sketch.counts)
    assert (compact.offset, len(compact.counts)) == (low, high - low + 1)
    assert compact.counts.itemsize == 4


def test_the_window_puts_each_value_in_the_slot_sparse_histogram_record_does() -> None:
    sketches = CommuneSketches()
    values = [0, 1, 255, 256, 257, 1_000, 65_535, 65_536, 3_599_999_999, 3_600_000_000, 7_200_000_000]
    reference = new_commune_sketch()
    for value in values:
        sketches.record("00004", value)
        reference.record(value)
    assert sketches.window["00004"] == reference.counts  # an hour and beyond: the last slot, as clamped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=STREAM, folds=st.lists(st.integers(min_value=0, max_value=300), max_size=5))
def test_folding_the_window_at_any_points_keeps_every_count(stream: list[tuple[str, int]], folds: list[int]) -> None:
    sketches = CommuneSketches()
    for number, (commune, value) in enumerate(stream):
        if number in folds:
            sketches.fold()
        sketches.record(commune, value)
    assert sketches.sketches() == _expected(stream)
    assert sketches.window == {}  # reading folds the window in


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=STREAM, cuts=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=6),
       workers=st.integers(min_value=1, max_value=3))
def test_workers_drains_over_the_wire_add_up_exactly_on_the_master(stream, cuts, workers) -> None:
    """Each request goes to one of several workers; each drains at arbitrary points (and
    once folded before draining); the master absorbs every drain it is sent."""
    nodes = [LatencyRecorder() for _ in range(workers)]
    master = LatencyRecorder()
    for number, (commune, value) in enumerate(stream):
        node = nodes[number % workers]
        if number in cuts:
            if number % 2:
                node.commune_latency.fold()  # a drain also carries what was folded
            master.absorb(_over_the_wire(node.take_delta()))
        node.record("portal", "GET /dossiers", "01", commune, value, None, failed=False, at=1_700_000_000.0)
    for node in nodes:
        master.absorb(_over_the_wire(node.take_delta()))
        assert node.commune_sketches() == {}  # drained
    assert master.commune_sketches() == _expected(stream)
    assert {code: counts.requests for code, counts in master.communes.items()} == {
        code: sketch.total for code, sketch in _expected(stream).items()}


def test_a_delta_with_only_commune_latency_is_not_empty() -> None:
    assert not RecorderDelta(commune_latency={"00004": {1200: 1}}).is_empty()
    assert RecorderDelta().is_empty()


def test_the_recorder_sketches_every_request_of_a_commune_and_writes_communes_hdr(tmp_path) -> None:
    recorder = LatencyRecorder()
    for ms, service, failed in ((12.0, "portal", False), (30.0, "axis", True), (7.5, "population", False)):
        recorder.on_request(request_type=service, name="X", response_time=ms, exception=RuntimeError() if failed else None,
                            context=request_context(service, "01", commune="00004"), start_time=1000.0)
    recorder.on_request(request_type="portal", name="X", response_time=5.0, context=request_context("portal", "01"))
    sketches = recorder.commune_sketches()
    assert list(sketches) == ["00004"]  # a request without a commune has no commune sketch
    assert sketches["00004"].total == recorder.communes["00004"].requests == 3  # failed ones too, as the counts do
    assert 30_000 <= sketches["00004"].value_at_percentile(100) <= 30_000 * 1.01  # the slowest, the failed one
    recorder.dump(tmp_path)
    assert load_commune_latency(tmp_path / "communes.hdr") == sketches
    recorder.seal()
    recorder.on_request(request_type="portal", name="X", response_time=5.0,
                        context=request_context("portal", "01", commune="00004"))
    assert recorder.commune_sketches()["00004"].total == 3 and recorder.late_after_seal == 1
