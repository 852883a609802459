"""Charts of a run as inline SVG, drawn with matplotlib (object API, Agg-free SVG canvas).

No pyplot and no global backend switch: each chart is a fresh :class:`Figure` saved as
SVG with text kept as text, no metadata and a fixed hash salt, so the same journal
gives byte-identical SVG and the page fetches nothing.

Long runs are re-binned to at most ``MAX_POINTS`` points per line: counts are summed
and percentiles take the bin's *maximum* (an upper bound — a spike is never averaged
away).

matplotlib (with numpy, fontTools and PIL behind it) is imported on the first chart, not
with this module: it took 0.8 s of the 1.76 s every ``dientap`` command spent importing,
for commands that draw nothing (``validate``, ``run`` refusing a flag, ``drill --list``).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reports.journal import Journal, LatencySeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MAX_POINTS", "FaultSpan", "fault_spans", "chart_endpoints", "latency_chart", "throughput_chart", "rate_axis"]

MAX_POINTS = 600
TOP_ENDPOINTS = 8
# The longest name a chart writes (the longest real one, "portal POST /dossiers/{code}/transitions",
# is 40): the SVG grows to fit its legend, and a page scales it back to its width, so a name of
# 10,000 characters made a chart 42,000 pt wide with its plot a sliver. The tables name it whole.
MAX_LABEL_CHARS = 60



@dataclass(frozen=True, slots=True)
class FaultSpan:
    """A fault's window on the timeline (``end`` None: never removed)."""

    name: str
    start: float
    end: float | None


def fault_spans(journal: Journal) -> list[FaultSpan]:
    """Fault windows from the drill result and the fault_start/fault_stop events."""
    spans: dict[tuple[str, float], FaultSpan] = {}
    if journal.drill:
        for f in journal.drill.faults:
            spans[(f.name, round(f.start_offset_s, 3))] = FaultSpan(f.name, f.start_offset_s, f.end_offset_s)
    open_: dict[str, float] = {}
    for e in journal.events:
        if e.kind == "fault_start":
            open_[e.name] = e.offset_s
        elif e.kind == "fault_stop" and e.name in open_:
            start = open_.pop(e.name)
            spans.setdefault((e.name, round(start, 3)), FaultSpan(e.name, start, e.offset_s))
    for name, start in open_.items():
        spans.setdefault((name, round(start, 3)), FaultSpan(name, start, None))
    return sorted(spans.values(), key=lambda s: s.start)


def chart_endpoints(series: list[LatencySeries], limit: int = TOP_ENDPOINTS) -> list[LatencySeries]:
    """The lines worth drawing: half the busiest endpoints, then the slowest (highest peak p99)."""

    def peak(s: LatencySeries) -> float:
        return max((x.p99_ms for x in s.samples if x.p99_ms is not None), default=0.0)

    busiest = sorted(series, key=lambda s: (-sum(x.count for x in s.samples), s.service, s.endpoint))
    slowest = sorted(series, key=lambda s: (-peak(s), s.service, s.endpoint))
    chosen = busiest[: limit // 2]
    for s in slowest:
        if len(chosen) >= limit:
            break
        if all(s is not c for c in chosen):  # identity: comparing models would compare every sample
            chosen.append(s)
    return chosen


def _label(name: str) -> str:
    """``name`` cut to :data:`MAX_LABEL_CHARS` characters (marked with "…" when cut)."""
    return name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "…"


def _figure(width_in: float, height_in: float) -> Figure:
    """A fresh figure in the charts' style; matplotlib is imported here, on first use."""
    import matplotlib
    from matplotlib.figure import Figure

    # Names are data: "$...$" in an endpoint or fault name is text, not mathtext to typeset (a
    # name such as "GET /a$\foo$" made matplotlib raise, and no report was written).
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "dientap", "font.size": 9,
                                "text.parse_math": False})
    return Figure(figsize=(width_in, height_in))


def _svg(fig: Figure, prefix: str) -> str:
    """SVG text of ``fig`` for inlining; element ids get ``prefix`` so two charts never share one."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE: inline SVG needs neither
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = svg.replace(' id="', f' id="{prefix}-').replace('href="#', f'href="#{prefix}-')
    return svg.replace("url(#", f"url(#{prefix}-")


def _bin_width(bucket_s: float, end: float) -> float:
    """A multiple of the bucket width giving at most MAX_POINTS bins over [0, end)."""
    factor = max(1, math.ceil(end / bucket_s / MAX_POINTS))
    return bucket_s * factor


def _rebin(series: LatencySeries, width: float, end: float, attr: str, how: str) -> tuple[list[float], list[float]]:
    """Re-bin by *time* (buckets without samples count as zero requests / no latency)."""
    bins = max(1, math.ceil(end / width))
    acc: list[float | None] = [None] * bins
    for sample in series.samples:
        value = getattr(sample, attr)
        if value is None:
            continue
        i = min(bins - 1, max(0, int(sample.offset_s // width)))
        current = acc[i]
        if how == "sum":
            acc[i] = (current or 0.0) + value
        else:
            acc[i] = value if current is None else max(current, value)
    xs = [i * width for i in range(bins)]
    if how == "sum":
        return xs, [(v or 0.0) / width for v in acc]  # per second
    return xs, [math.nan if v is None else v for v in acc]


def _end(journal: Journal) -> float:
    ts = journal.timeseries
    last = max((s.samples[-1].offset_s + ts.bucket_s for s in ts.series if s.samples), default=ts.bucket_s)
    return max(last, ts.bucket_s)


def _mark_faults(ax: Axes, spans: list[FaultSpan], end: float, label: bool) -> None:
    for s in spans:
        stop = s.end if s.end is not None else end
        ax.axvspan(s.start, stop, color="#d62728", alpha=0.10, lw=0)
        ax.axvline(s.start, color="#d62728", lw=0.8, ls="--")
        if s.end is not None:
            ax.axvline(s.end, color="#2ca02c", lw=0.8, ls="--")
        if label:
            ax.annotate(_label(s.name), (s.start, 1.0), xycoords=("data", "axes fraction"), fontsize=7, color="#d62728",
                        va="bottom", ha="left")


def latency_chart(journal: Journal, aborted_at: float | None = None) -> str:
    """p95 and p99 over time of the busiest and slowest endpoints, with fault start/stop markers (SVG)."""
    ts = journal.timeseries
    top = chart_endpoints(ts.series)
    fig = _figure(10, 5.2)
    axes = fig.subplots(2, 1, sharex=True)
    end = _end(journal)
    width = _bin_width(ts.bucket_s, end)
    spans = fault_spans(journal)
    for ax, attr, title in ((axes[0], "p95_ms", "p95 latency (ms)"), (axes[1], "p99_ms", "p99 latency (ms)")):
        for s in top:
            xs, ys = _rebin(s, width, end, attr, "max")
            ax.plot(xs, ys, lw=1, label=_label(f"{s.service} {s.endpoint}"))
        _mark_faults(ax, spans, end, label=ax is axes[0])
        if aborted_at is not None:
            ax.axvline(aborted_at, color="black", lw=1.2)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[1].set_xlabel("seconds since start (red: fault active; dashed red/green: fault start/stop)")
    if top:
        axes[0].legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(fig, "lat")


def rate_axis(ax: Axes) -> None:
    """A rate's y axis starts at 0; with no events at all it runs 0–1 (matplotlib would
    centre the flat line on an axis from -0.05 to 0.05)."""
    highest = float(ax.dataLim.y1)  # -inf when nothing was plotted
    if not math.isfinite(highest) or highest <= 0:
        ax.set_ylim(0, 1)
    else:
        ax.set_ylim(bottom=0)


def throughput_chart(journal: Journal, aborted_at: float | None = None) -> str:
    """Requests/s and failures/s over time (all endpoints), with fault markers (SVG)."""
    ts = journal.timeseries
    fig = _figure(10, 3.6)
    axes = fig.subplots(2, 1, sharex=True)
    end = _end(journal)
    width = _bin_width(ts.bucket_s, end)
    by_service: dict[str, list[LatencySeries]] = {}
    for s in ts.series:
        by_service.setdefault(s.service, []).append(s)
    spans = fault_spans(journal)
    for ax, attr, title in ((axes[0], "count", "requests/s"), (axes[1], "failures", "failures/s")):
        for service, group in sorted(by_service.items()):
            xs: list[float] = []
            totals: list[float] = []
            for s in group:
                xs, ys = _rebin(s, width, end, attr, "sum")
                totals = [a + b for a, b in zip(totals, ys, strict=True)] if totals else ys
            ax.plot(xs, totals, lw=1, label=_label(service))
        _mark_faults(ax, spans, end, label=False)
        if aborted_at is not None:
            ax.axvline(aborted_at, color="black", lw=1.2)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        rate_axis(ax)
    axes[1].set_xlabel("seconds since start")
    if by_service:
        axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(fig, "tput")
