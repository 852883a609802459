"""The growth of a run's processes: the least-squares slope after the warm-up (MB/min and
open files/min), a process that levels off against one that keeps growing, a restarted
process flagged, and the samples read back from the run's records."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.process_growth import (
    PROCESSES_FILE,
    ProcessSample,
    growth_line,
    load_process_samples,
    process_growth,
)

T0 = 1_780_000_000.0


def _samples(process: str, rss_mb: list[float], fds: list[int], *, every_s: float = 10.0, pid: int = 100,
             ) -> list[ProcessSample]:
    return [ProcessSample(at=T0 + i * every_s, process=process, pid=pid, rss_kb=round(mb * 1024), open_fds=f)
            for i, (mb, f) in enumerate(zip(rss_mb, fds, strict=True))]


def test_the_slope_is_taken_after_the_warm_up_only() -> None:
    # 10 minutes at one sample per 10 s: +20 MB of warm-up in the first 3 minutes, then a
    # steady leak of 1.5 MB/min (0.25 MB per sample) and one open file per minute.
    rss = [50 + i * (20 / 18) if i < 18 else 70 + (i - 18) * 0.25 for i in range(61)]
    fds = [40 + i // 6 for i in range(61)]
    (row,) = process_growth(_samples("portal", rss, fds))
    assert row.process == "portal" and row.from_s == 180 and row.to_s == 600 and row.samples == 43
    assert row.rss_mb_per_min == pytest.approx(1.5, abs=1e-3)
    assert row.fds_per_min == pytest.approx(1.0, abs=0.05)
    assert (row.rss_start_mb, row.rss_end_mb, row.rss_peak_mb) == (70.0, 80.5, 80.5)
    assert not row.restarted


def test_data_that_levels_off_has_no_slope_and_a_leak_keeps_one() -> None:
    bounded = [60 + min(i, 15) * 0.5 for i in range(61)]  # grows for 2.5 minutes, then flat
    leaking = [60 + i * 0.1 for i in range(61)]  # +0.6 MB/min from start to end
    rows = {r.process: r for r in process_growth(_samples("portal", bounded, [30] * 61)
                                                 + _samples("locust-worker-0", leaking, [30] * 61, pid=200))}
    assert rows["portal"].rss_mb_per_min == pytest.approx(0.0, abs=1e-9)
    assert rows["locust-worker-0"].rss_mb_per_min == pytest.approx(0.6, abs=1e-6)
    assert rows["portal"].fds_per_min == pytest.approx(0.0)


def test_a_short_run_takes_its_last_two_thirds_and_too_few_samples_give_no_slope() -> None:
    (row,) = process_growth(_samples("axis", [70, 71, 72, 73, 74, 75, 76], [10] * 7))  # 60 s: warm-up 20 s
    assert row.from_s == 20 and row.samples == 5
    assert row.rss_mb_per_min == pytest.approx(6.0)
    (few,) = process_growth(_samples("axis", [70, 71], [10, 10]))
    assert few.rss_mb_per_min is None and few.fds_per_min is None
    assert "no slope (too few samples)" in growth_line(few)


def test_a_restarted_process_is_flagged() -> None:
    samples = [*_samples("portal", [70, 71, 72], [9, 9, 9]),
               ProcessSample(at=T0 + 30, process="portal", pid=101, rss_kb=40 * 1024, open_fds=9)]
    (row,) = process_growth(samples)
    assert row.restarted and growth_line(row).endswith("[restarted during the run]")


def test_samples_are_read_back_from_the_run_directory(tmp_path: Path) -> None:
    assert load_process_samples(tmp_path) == [] and process_growth([]) == []
    samples = _samples("population", [60, 61, 62, 63], [20, 20, 21, 22])
    (tmp_path / PROCESSES_FILE).write_text("".join(s.model_dump_json() + "\n" for s in reversed(samples)))
    assert load_process_samples(tmp_path) == samples  # oldest first
    (row,) = process_growth(load_process_samples(tmp_path))
    assert growth_line(row) == "population: 61.0 → 63.0 MB (+6.000 MB/min), 20 → 22 open files (+6.00/min), 10–30 s"
