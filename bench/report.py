"""Benchmark: build the summary and report of a run of 1,000,000 recorded requests.

    .venv/bin/python bench/report.py [--requests 1000000] [--duration 3600] [--keep DIR]

Steps, each timed (wall clock, one process):

1. *setup, not timed as report cost*: record the requests' latencies into HDR histograms
   per (service, endpoint, province) — 14 × 34 = 476 histograms, encoded to
   ``histograms/*.hdr`` as the load generator does — and write a synthetic journal with
   per-second latency series (``reports.sample.sample_run``).
2. **summary**: decode and merge the encoded histograms per endpoint and per province,
   read the exact percentiles, write ``summary.json``.
3. **report**: importing the report modules (matplotlib included) + ``run_gate``
   (budgets → gate.json) + ``render_report`` (report.html) + ``render_markdown``.

Goal (issue #4): summary + report ≤ 10 s for 1 M requests. Prints one line per step and
the ratio to the goal. Absolute seconds drift between machines; the ratio to the goal
is what BENCHMARKS.md records.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reports.run_files import write_run_dir, write_summary  # noqa: E402
from reports.sample import SAMPLE_ENDPOINTS, sample_run  # noqa: E402
from reports.summary import EndpointStats, LatencyPercentiles  # noqa: E402

GOAL_S = 10.0
HIGHEST_US = 3_600_000_000  # one hour, in microseconds


def record_histograms(run_dir: Path, requests: int, provinces: list[str], seed: int) -> None:
    """Record ``requests`` latencies (lognormal around each endpoint's median) and encode them."""
    rng = random.Random(seed)  # nosec B311
    out = run_dir / "histograms"
    out.mkdir(parents=True)
    for i, (service, _name, share, median) in enumerate(SAMPLE_ENDPOINTS):
        per_province = max(1, int(requests * share / len(provinces)))
        for code in provinces:
            h = HdrHistogram(1, HIGHEST_US, 3)
            for _ in range(per_province):
                h.record_value(int(rng.lognormvariate(0, 0.6) * median * 1000))
            (out / f"{i:02d}-{service}-{code}.hdr").write_bytes(h.encode())


def build_summary(run_dir: Path, template_summary) -> int:
    """Decode + merge the histograms per endpoint; write summary.json. Returns requests merged."""
    merged: dict[int, HdrHistogram] = {}
    for path in sorted((run_dir / "histograms").glob("*.hdr")):
        index = int(path.name[:2])
        h = HdrHistogram.decode(path.read_bytes())
        if index in merged:
            merged[index].add(h)
        else:
            merged[index] = h
    endpoints = []
    for index, h in sorted(merged.items()):
        service, name, _, _ = SAMPLE_ENDPOINTS[index]
        pct = LatencyPercentiles(**{f"{k}_ms": h.get_value_at_percentile(q) / 1000
                                    for k, q in (("p50", 50), ("p95", 95), ("p99", 99), ("p999", 99.9))},
                                 max_ms=h.get_max_value() / 1000)
        endpoints.append(EndpointStats(service=service, name=name, count=h.get_total_count(), failures=0,
                                       intended=pct, intended_count=h.get_total_count(), **pct.model_dump()))
    total = sum(e.count for e in endpoints)
    summary = template_summary.model_copy(update={"endpoints": endpoints, "requests": template_summary.requests.model_copy(
        update={"total": total, "intended_total": total})})
    write_summary(run_dir, summary)
    return total


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=3600, help="run length in seconds (1-s buckets)")
    parser.add_argument("--keep", type=Path, help="write the run directory here and keep it")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dientap-bench-report-"))
    run_dir = args.keep or tmp / "bench-run"
    try:
        t0 = time.perf_counter()
        sample = sample_run("bench-1m", total_requests=args.requests, duration_s=args.duration,
                            fault=(args.duration * 0.4, args.duration * 0.5), drill=True, security=True)
        write_run_dir(run_dir, sample.journal, sample.summary)
        record_histograms(run_dir, args.requests, [p.code for p in sample.summary.provinces], seed=1)
        setup = time.perf_counter() - t0

        t1 = time.perf_counter()
        merged = build_summary(run_dir, sample.summary)
        t_summary = time.perf_counter() - t1

        t2 = time.perf_counter()
        # Imported here so the report's cost includes loading matplotlib, as `dientap report` pays it.
        from reports.gate import run_gate
        from reports.html import render_report
        from reports.markdown import render_markdown

        run_gate(run_dir)
        page = render_report(run_dir)
        render_markdown(run_dir)
        t_report = time.perf_counter() - t2

        samples = sum(len(s.samples) for s in sample.journal.timeseries.series)
        total = t_summary + t_report
        print(f"setup (record {merged:,} requests into HDR, write journal of {samples:,} samples): {setup:.2f} s")
        print(f"summary.json from {len(list((run_dir / 'histograms').glob('*.hdr')))} encoded histograms: {t_summary:.2f} s")
        print(f"gate + report.html ({page.stat().st_size / 1e6:.2f} MB) + markdown: {t_report:.2f} s")
        print(f"summary + report for {merged:,} requests: {total:.2f} s = {total / GOAL_S:.2f} of the {GOAL_S:.0f} s goal "
              f"({'met' if total <= GOAL_S else 'MISSED'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
