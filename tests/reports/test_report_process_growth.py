"""The growth of a run's processes: the least-squares slope after the warm-up (MB/min and
open files/min), a process that levels off against one that keeps growing, a restarted
process flagged, the samples read back from the run's records; and each process's share of
a core after the warm-up and window by window, in the summary line and the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reports.html import render_report
from reports.process_growth import (
    PROCESSES_FILE,
    ProcessSample,
    cpu_timeline,
    growth_line,
    load_process_samples,
    process_growth,
)
from reports.run_files import load_journal

T0 = 1_780_000_000.0


def _samples(process: str, rss_mb: list[float], fds: list[int], *, every_s: float = 10.0, pid: int = 100,
             cpu_s: list[float] | None = None, from_s: float = 0.0) -> list[ProcessSample]:
    cpu: list[float | None] = list(cpu_s) if cpu_s is not None else [None] * len(rss_mb)
    return [ProcessSample(at=T0 + from_s + i * every_s, process=process, pid=pid, rss_kb=round(mb * 1024), open_fds=f,
                          cpu_s=c)
            for i, (mb, f, c) in enumerate(zip(rss_mb, fds, cpu, strict=True))]


def _busy(shares: list[float], every_s: float = 10.0, start: float = 0.0) -> list[float]:
    """CPU-time readings of a process using ``shares[i]`` (fraction of a core) between sample i and i + 1."""
    readings = [start]
    for share in shares:
        readings.append(readings[-1] + share * every_s)
    return readings


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


def test_the_cpu_share_after_the_warm_up_is_in_the_row_and_its_line() -> None:
    # 10 minutes: 90 % of a core during the 3-minute warm-up, then 34 %.
    cpu = _busy([0.9] * 18 + [0.34] * 42)
    (row,) = process_growth(_samples("portal", [80.0] * 61, [40] * 61, cpu_s=cpu))
    assert row.cpu_pct == pytest.approx(34.0)
    assert growth_line(row) == ("portal: 80.0 → 80.0 MB (+0.000 MB/min), 40 → 40 open files (+0.00/min), "
                                "CPU 34 % of a core, 180–600 s")
    (untimed,) = process_growth(_samples("portal", [80.0] * 61, [40] * 61))  # a run recorded before CPU was
    assert untimed.cpu_pct is None and "CPU" not in growth_line(untimed)


def test_the_cpu_timeline_shows_more_work_from_the_window_it_starts_in() -> None:
    # 10 minutes in 50-s windows: 20 % of a core for 300 s, then 50 %; a second process idle.
    busy = _samples("portal", [80.0] * 61, [40] * 61, cpu_s=_busy([0.2] * 30 + [0.5] * 30))
    idle = _samples("population", [60.0] * 61, [9] * 61, cpu_s=_busy([0.0] * 60, start=2.0), pid=200)
    timeline = cpu_timeline(busy + idle)
    assert timeline is not None and timeline.window_s == 50 and timeline.starts_s == [50.0 * k for k in range(12)]
    assert timeline.cpu_pct["portal"] == [pytest.approx(20.0)] * 6 + [pytest.approx(50.0)] * 6
    assert timeline.cpu_pct["population"] == [0.0] * 12
    assert cpu_timeline(_samples("portal", [80.0] * 61, [40] * 61)) is None  # no CPU time recorded


def test_a_restart_starts_the_cpu_timeline_from_the_new_process_s_counter() -> None:
    # 30 % of a core for 300 s; killed and restarted at 300 s: its counter starts again at 1 s,
    # and then 60 %. The interval across the restart is no one's: neither reading counts it.
    before = _samples("portal", [80.0] * 31, [40] * 31, cpu_s=_busy([0.3] * 30, start=100.0))
    after = _samples("portal", [70.0] * 30, [40] * 30, pid=101, from_s=310.0, cpu_s=_busy([0.6] * 29, start=1.0))
    timeline = cpu_timeline(before + after)
    assert timeline is not None and timeline.window_s == 50
    shares = timeline.cpu_pct["portal"]
    assert shares[:6] == [pytest.approx(30.0)] * 6 and shares[6:] == [pytest.approx(60.0)] * 6
    (row,) = process_growth(before + after)
    assert row.restarted and row.cpu_pct is None  # a mean across two processes' counters means nothing


def test_the_cpu_timeline_gives_the_request_rate_and_the_cpu_per_request_of_each_window() -> None:
    # 600 s in 50-s windows; two processes at 20 % and 30 % of a core; 100 requests/s for the
    # first 300 s, then 250/s: half a core over 100 then 250 requests a second.
    portal = _samples("portal", [80.0] * 61, [40] * 61, cpu_s=_busy([0.2] * 60))
    worker = _samples("locust-worker-0", [300.0] * 61, [9] * 61, cpu_s=_busy([0.3] * 60), pid=200)
    requests = [(T0 + s + 0.5, 100 if s < 300 else 250) for s in range(600)]
    timeline = cpu_timeline(portal + worker, requests=requests)
    assert timeline is not None and timeline.requests_per_s == [100.0] * 6 + [250.0] * 6
    assert timeline.cpu_ms_per_request == [pytest.approx(5.0)] * 6 + [pytest.approx(2.0)] * 6
    quiet = cpu_timeline(portal, requests=[(T0 + 10, 0)])
    assert quiet is not None and quiet.requests_per_s == [None] * 12 and quiet.cpu_ms_per_request == [None] * 12


def _cells(table: str) -> list[list[str]]:
    """The body rows of an HTML table, each as its cells' inner HTML."""
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in table.split("<tbody>")[1].split("<tr>")[1:]]


def test_the_report_shows_each_process_s_cpu_after_the_warm_up_and_per_window(fixture_run) -> None:
    run_dir = fixture_run("healthy")  # 5,812 requests in its first 30 s
    started = load_journal(run_dir).provenance.started_at.timestamp()
    samples = _samples("portal", [80.0] * 19, [40] * 19, every_s=5.0, cpu_s=_busy([0.5] * 18, every_s=5.0),
                       from_s=started - T0)
    (run_dir / PROCESSES_FILE).write_text("".join(s.model_dump_json() + "\n" for s in samples))
    html = render_report(run_dir).read_text(encoding="utf-8")
    section = html[html.index('<h2 id="processes">'):]
    assert "Processes: memory, open files and CPU" in section
    (row,) = _cells(section.split("</table>")[0])
    assert row[0] == "portal" and row[6] == "50"  # the CPU % column: the mean after the 30-s warm-up
    windows = section[section.index('id="process-cpu"'):].split("</table>")[0]
    assert "per 30-s window" in windows and "<th>60 s</th>" in windows
    assert _cells(windows) == [
        ["portal", "50", "50", "50"],
        ["<b>requests/s</b>", "194", "—", "—"],  # 5,812 requests in the first window, none after
        ["<b>CPU ms per request</b> (all processes)", "2.58", "—", "—"],  # 15 CPU seconds / 5,812
    ]
