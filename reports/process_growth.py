"""How each process of a run grew and worked: resident memory, open files and CPU time sampled
every few seconds (``<run_dir>/processes.jsonl``, written by the run's process sampler), the
slope of each after the warm-up — the figure a soak is for — and each process's share of a
core over the run, window by window (:func:`cpu_timeline`), which tells a target doing more
work per request from one merely offered more requests.

The slope is an ordinary least-squares line through the samples after the warm-up
(:func:`statistics.linear_regression`), in MB per minute and open files per minute: a
process whose data is bounded levels off, and its slope goes to zero as the run lengthens;
one that leaks keeps a slope however long the run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, ValidationError

from kernel.configfile import field_path
from kernel.errors import ConfigError, ConfigProblem
from reports._record import Count, Record
from reports.run_files import read_record_text, record_present

__all__ = ["PROCESSES_FILE", "WARMUP_S", "CpuTimeline", "ProcessSample", "ProcessGrowth", "cpu_timeline",
           "load_process_samples", "process_growth", "growth_line"]

PROCESSES_FILE = "processes.jsonl"
#: Samples before this many seconds after the first one are not in the slope: the spawn, the
#: login storm, caches filling and the first database pages are growth a run always has.
WARMUP_S = 180.0
_MIN_SAMPLES = 3  # a line through fewer says nothing
#: :func:`cpu_timeline` cuts a run into about this many windows (a whole number of 10 s each,
#: at least 30 s): an hour's soak in 5-minute windows, a ten-minute run in 50-s ones.
TIMELINE_WINDOWS = 12
#: The largest processes.jsonl read: a sample of each of ten processes every 10 s for a week
#: is 6·10⁵ lines of about 110 bytes.
MAX_PROCESSES_FILE_BYTES = 128 * 1024 * 1024


class ProcessSample(Record):
    """One reading of one process (``/proc/<pid>/status`` VmRSS and ``/proc/<pid>/fd``)."""

    at: float  # seconds since the epoch
    process: str  # portal, population, axis, locust-master, locust-worker-1, locust ...
    pid: int = Field(ge=1)
    rss_kb: Count
    open_fds: Count
    # User + system CPU seconds since the process started (two samples give its share of a
    # core between them); None in runs recorded before it was sampled.
    cpu_s: float | None = Field(default=None, ge=0)


class ProcessGrowth(Record):
    """One process's growth over the run and its slope after the warm-up."""

    process: str
    samples: int  # after the warm-up, in the slope
    from_s: float  # the slope's window, seconds after the first sample of the run
    to_s: float
    rss_start_mb: float  # first and last sample of the window
    rss_end_mb: float
    rss_peak_mb: float  # over the whole run
    rss_mb_per_min: float | None  # None: fewer than three samples after the warm-up
    fds_start: int
    fds_end: int
    fds_per_min: float | None
    restarted: bool = False  # the pid changed (a drill killed it): the slope mixes two processes
    # Mean share of one core after the warm-up, in % (100: one core busy all along); None when
    # the samples carry no CPU time or the process restarted in that window.
    cpu_pct: float | None = None


class CpuTimeline(Record):
    """Each process's share of one core (%) in consecutive windows of ``window_s`` seconds,
    counted from the run's first sample; a window a process has no samples in is None. Given
    the run's requests, also the request rate and the CPU all the processes used per request
    in each window (None in a window without requests)."""

    window_s: float
    starts_s: list[float]  # each window's start
    cpu_pct: dict[str, list[float | None]]  # process → one share per window
    requests_per_s: list[float | None] | None = None
    cpu_ms_per_request: list[float | None] | None = None


def load_process_samples(run_dir: str | Path) -> list[ProcessSample]:
    """The run's samples, oldest first (empty when the run sampled nothing). A damaged line is
    a ConfigError naming the file, the line and the field, like any other record's — except a
    last line with no newline that does not parse: the sampler appends a line at a time, so
    that is a sample cut off as it was written (the run was killed), not damage."""
    path = Path(run_dir) / PROCESSES_FILE
    if not record_present(path):
        return []
    text = read_record_text(path, "the run's process samples (JSON lines dientap writes)", MAX_PROCESSES_FILE_BYTES)
    samples = []
    lines = text.splitlines()
    torn = len(lines) if text and not text.endswith("\n") else None  # the last line, cut off
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            samples.append(ProcessSample.model_validate_json(line))
        except ValidationError as exc:
            if number == torn:
                break
            err = exc.errors()[0]  # one line's first problem says which line is damaged, and how
            raise ConfigError([ConfigProblem(str(path), number, field_path(err["loc"]), err["msg"])]) from None
    return sorted(samples, key=lambda s: s.at)


def _slope_per_min(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < _MIN_SAMPLES or len(set(xs)) < 2:
        return None
    return statistics.linear_regression(xs, ys).slope * 60.0


def process_growth(samples: list[ProcessSample], warmup_s: float = WARMUP_S) -> list[ProcessGrowth]:
    """Per process: the slope of RSS and open files after ``warmup_s`` (a third of the run,
    when the run is shorter than three warm-ups, so a short run still gets a figure)."""
    if not samples:
        return []
    t0 = samples[0].at
    span = samples[-1].at - t0
    warmup = min(warmup_s, span / 3)
    by_process: dict[str, list[ProcessSample]] = {}
    for sample in samples:
        by_process.setdefault(sample.process, []).append(sample)
    rows = []
    for name, mine in sorted(by_process.items()):
        window = [s for s in mine if s.at - t0 >= warmup] or mine[-1:]
        xs = [s.at - t0 for s in window]
        rows.append(ProcessGrowth(
            process=name, samples=len(window), from_s=round(xs[0], 1), to_s=round(xs[-1], 1),
            rss_start_mb=round(window[0].rss_kb / 1024, 1), rss_end_mb=round(window[-1].rss_kb / 1024, 1),
            rss_peak_mb=round(max(s.rss_kb for s in mine) / 1024, 1),
            rss_mb_per_min=_rounded(_slope_per_min(xs, [s.rss_kb / 1024 for s in window]), 3),
            fds_start=window[0].open_fds, fds_end=window[-1].open_fds,
            fds_per_min=_rounded(_slope_per_min(xs, [float(s.open_fds) for s in window]), 2),
            restarted=len({s.pid for s in mine}) > 1,
            cpu_pct=_cpu_share(window),
        ))
    return rows


def _cpu_share(window: list[ProcessSample]) -> float | None:
    first, last = window[0], window[-1]
    if first.cpu_s is None or last.cpu_s is None or last.at <= first.at or len({s.pid for s in window}) > 1:
        return None
    return round((last.cpu_s - first.cpu_s) / (last.at - first.at) * 100, 1)


def cpu_timeline(samples: list[ProcessSample], windows: int = TIMELINE_WINDOWS,
                 requests: Sequence[tuple[float, int]] = ()) -> CpuTimeline | None:
    """Each process's share of a core per window (see :class:`CpuTimeline`); None when the
    samples carry no CPU time (runs recorded before it was sampled) or span no time.
    ``requests``: (seconds since the epoch, requests answered then) — the run's time series —
    for the rate and the CPU per request of each window.

    Between two consecutive samples of the same pid a process used their CPU-time difference;
    each such interval's time is spread evenly over it, so a window gets its overlapping share.
    A restart (a new pid) starts from the new process's first sample: its CPU counter is new.
    """
    timed = [s for s in samples if s.cpu_s is not None]
    if len(timed) < 2 or timed[-1].at <= timed[0].at:
        return None
    t0, span = timed[0].at, timed[-1].at - timed[0].at
    width = max(30.0, 10.0 * math.ceil(span / windows / 10.0))
    count = max(1, math.ceil(span / width))
    used: dict[str, list[float]] = {}
    covered: dict[str, list[float]] = {}
    previous: dict[str, ProcessSample] = {}
    for sample in timed:
        before = previous.get(sample.process)
        previous[sample.process] = sample
        used.setdefault(sample.process, [0.0] * count)
        covered.setdefault(sample.process, [0.0] * count)
        if before is None or before.pid != sample.pid or sample.at <= before.at:
            continue
        start, end = before.at - t0, sample.at - t0
        per_s = (sample.cpu_s - before.cpu_s) / (end - start)  # type: ignore[operator]  # both timed
        for k in range(int(start // width), min(count - 1, int(end // width)) + 1):
            overlap = min(end, (k + 1) * width) - max(start, k * width)
            if overlap > 0:
                used[sample.process][k] += per_s * overlap
                covered[sample.process][k] += overlap
    shares = {name: [round(u / c * 100, 1) if c > 0 else None for u, c in zip(used[name], covered[name], strict=True)]
              for name in sorted(used)}
    timeline = CpuTimeline(window_s=width, starts_s=[k * width for k in range(count)], cpu_pct=shares)
    if requests:
        answered = [0] * count
        for at, n in requests:
            k = int((at - t0) // width)
            if 0 <= k < count:
                answered[k] += n
        lengths = [min(width, span - k * width) for k in range(count)]
        timeline.requests_per_s = [round(n / length, 1) if n else None for n, length in zip(answered, lengths, strict=True)]
        timeline.cpu_ms_per_request = [
            round(sum(per[k] for per in used.values()) / answered[k] * 1000, 3) if answered[k] else None
            for k in range(count)
        ]
    return timeline


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def growth_line(row: ProcessGrowth) -> str:
    """One process's growth in words, e.g. ``portal: 85.1 → 86.0 MB (+0.100 MB/min), 41 → 41 open
    files (+0.00/min), CPU 34 % of a core, 180–600 s``."""
    mb = "no slope (too few samples)" if row.rss_mb_per_min is None else f"{row.rss_mb_per_min:+.3f} MB/min"
    fds = "" if row.fds_per_min is None else f" ({row.fds_per_min:+.2f}/min)"
    restarted = " [restarted during the run]" if row.restarted else ""
    cpu = "" if row.cpu_pct is None else f", CPU {row.cpu_pct:.0f} % of a core"
    return (f"{row.process}: {row.rss_start_mb:.1f} → {row.rss_end_mb:.1f} MB ({mb}), {row.fds_start} → "
            f"{row.fds_end} open files{fds}{cpu}, {row.from_s:.0f}–{row.to_s:.0f} s{restarted}")
