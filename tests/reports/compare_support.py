"""Recorded runs for the comparison and gate tests, written by the project's own writers.

A run directory gets what a real run leaves behind: ``histograms/latency.hdr`` (exact HDR
histograms of the given latencies), ``load.json`` (failures per key, per-commune counts),
``summary.json`` built from those two records by :func:`reports.summary_build.build_summary`,
and a journal carrying the profile and seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path

from kernel.commune_latency import dump_commune_latency, new_commune_sketch
from kernel.hdr import SparseHistogram
from kernel.latency_records import HistogramKey, Measure, dump_histograms
from kernel.roster import load_roster
from reports.compared_run import ComparedRun, load_compared_run
from reports.journal import Journal, Provenance, TargetInfo
from reports.load_record import CommuneCounts, KeyFailures, LoadRecord, write_load_record
from reports.run_files import write_journal, write_summary
from reports.summary import GeneratorHealth
from reports.summary_build import build_summary
from tests.reports.rpt_support import make_journal

#: (service, endpoint, province)
Key = tuple[str, str, str]


def histogram(latencies_ms: Iterable[float]) -> SparseHistogram:
    """An exact HDR histogram of the given latencies (ms)."""
    hist = SparseHistogram()
    for ms in latencies_ms:
        hist.record(round(ms * 1000))
    return hist


def latencies(n: int, *, median_ms: float = 5.0, spread: float = 0.4, shift_ms: float = 0.0, seed: int = 1) -> list[float]:
    """``n`` lognormal latencies around ``median_ms`` (seeded), each plus ``shift_ms``."""
    rng = random.Random(seed)  # nosec B311 - synthetic test data
    return [median_ms * rng.lognormvariate(0.0, spread) + shift_ms for _ in range(n)]


def write_recorded_run(run_dir: Path, run_id: str, samples: Mapping[Key, Iterable[float]], *,
                       failures: Mapping[Key, int] | None = None,
                       communes: Mapping[str, tuple[int, int]] | None = None,
                       intended: Mapping[Key, Iterable[float]] | None = None,
                       commune_latencies: Mapping[str, Iterable[float]] | None = None,
                       profile: str = "smoke", seed: int = 42) -> Path:
    """Write a run directory holding exactly these samples, failures and commune counts."""
    histograms: dict[HistogramKey, SparseHistogram] = {}
    measures: tuple[tuple[Measure, Mapping[Key, Iterable[float]]], ...] = (("service", samples), ("intended", intended or {}))
    for measure, source in measures:
        for (service, endpoint, province), values in source.items():
            histograms[HistogramKey(service, endpoint, province, measure)] = histogram(values)
    dump_histograms(histograms, run_dir / "histograms", run_id)
    if commune_latencies is not None:
        sketches = {}
        for code, values in commune_latencies.items():
            sketch = sketches[code] = new_commune_sketch()
            for ms in values:
                sketch.record(round(ms * 1000))
        dump_commune_latency(sketches, run_dir / "histograms", run_id)
    record = LoadRecord(
        run_id=run_id, profile=profile, started_at=1_800_000_000.0, ended_at=1_800_000_060.0,
        key_failures=[KeyFailures(service=s, endpoint=e, province=p, failures=n) for (s, e, p), n in (failures or {}).items()],
        communes={code: CommuneCounts(requests=r, failures=f) for code, (r, f) in (communes or {}).items()},
        generator=GeneratorHealth(trustworthy=True),
    )
    write_load_record(run_dir, record)
    write_summary(run_dir, build_summary(record, histograms, load_roster()))
    base = make_journal(run_id)
    provenance = Provenance(**{**base.provenance.model_dump(), "profile": profile, "seed": seed,
                               "target": TargetInfo(kind="embedded")})
    write_journal(run_dir, Journal(provenance=provenance))
    return run_dir


def recorded_run(tmp_path: Path, run_id: str, samples: Mapping[Key, Iterable[float]], **kwargs) -> ComparedRun:
    """:func:`write_recorded_run` into ``tmp_path/run_id``, read back as the comparison reads it."""
    return load_compared_run(write_recorded_run(tmp_path / run_id, run_id, samples, **kwargs))
