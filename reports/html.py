"""``report.html``: one self-contained page a non-engineer can read at a glance.

Order: overall verdict → readiness matrix (34 provinces × checks, "N/34 ready") →
latency and throughput charts with fault markers → per-endpoint table (send-time and
intended-start latency) → worst communes (with their p95, or "too few") → budget
verdicts (``gate.json``) → drill → security scorecard → generator health, timeline and
provenance.

Self-contained: inline CSS, charts as inline SVG (matplotlib), no script, no external
URL. Every string from a record is escaped with :func:`html.escape`. Rendering reads
only the run directory (aggregated records), so a run of a million requests renders
in seconds.

The matrix is machine-readable for tests and tools: each row is
``<tr data-province="04" data-ready="no">`` and each cell
``<td class="cell red" data-check="sign_in">``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from string import Template

from reports.charts import latency_chart, throughput_chart
from reports.gate import format_value
from reports.golive_night import cutover_view
from reports.markdown import commune_p95_text, render_markdown
from reports.process_growth import CpuTimeline, cpu_timeline, load_process_samples, process_growth
from reports.readiness import ReadinessThresholds
from reports.run_files import atomic_write_text
from reports.summary import READINESS_CHECKS, LatencyPercentiles
from reports.verdict import RunData, load_run, overall_verdict

__all__ = ["REPORT_FILE", "REPORT_CSS", "READY_LOOK", "render_report", "render_html", "render_markdown", "readiness_legend"]

REPORT_FILE = "report.html"
MAX_TIMELINE_ROWS = 300
NAMED_IN_REPORT = 20  # lost, duplicated and unexpected items named per reconciliation row (the journal has more)

# The report's look; the live board (metrics.board) wears it too.
REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#1b1b1b;max-width:1280px}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9rem}
.verdict{padding:.8rem 1rem;border-radius:6px;margin:1rem 0;font-size:1.05rem}
.verdict b{font-size:1.4rem;margin-right:.6rem}.verdict ul{margin:.3rem 0 0;padding-left:1.2rem}
.v-PASS{background:#e3f5e1;border:2px solid #2e7d32}.v-WARN{background:#fff4d6;border:2px solid #b7791f}
.v-FAIL{background:#fde2e1;border:2px solid #c62828}
.ready-count{font-size:2rem;font-weight:700}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cell{text-align:center;white-space:nowrap;min-width:7.5rem}
.green{background:#c8e6c9}.amber{background:#ffe0a3}.red{background:#f8b4b4;font-weight:600}.grey{background:#e6e6e6;color:#777}
.PASS{color:#2e7d32;font-weight:700}.FAIL,.ERROR{color:#c62828;font-weight:700}.SKIP{color:#777}
.legend span{display:inline-block;padding:.1rem .5rem;margin-right:.4rem;border-radius:3px}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.4rem;font-size:.8rem;margin:.2rem 0}
svg{max-width:100%;height:auto}
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dientap dry run $run_id</title><style>$css</style></head>
<body>
$body
</body></html>
""")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _table(headers: list[str], rows: list[list[str]], num_from: int = 99) -> str:
    """A table from already-escaped cells; columns from ``num_from`` on are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i >= num_from else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(t: datetime) -> str:
    """``2026-12-04 16:56:44 UTC``: to the second, in UTC, as a person reads it."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _header(run: RunData) -> str:
    p = run.journal.provenance
    end = _when(p.ended_at) if p.ended_at else "—"
    target = p.target.name or p.target.kind
    return (f"<h1>Dry run {_e(p.run_id)} — profile {_e(p.profile)}</h1>"
            f'<p class="meta">{_e(_when(p.started_at))} → {_e(end)} · target {_e(target)} · '
            f"seed {p.seed} · scale {p.scale:g} · {p.workers} worker(s) · dientap {_e(p.dientap_version)}</p>")


def _verdict(run: RunData) -> str:
    v = overall_verdict(run)
    items = "".join(f"<li>{_e(r)}</li>" for r in v.reasons)
    return f'<div class="verdict v-{v.level}" id="verdict"><b>{v.level}</b><ul>{items}</ul></div>'


def readiness_legend(t: ReadinessThresholds) -> str:
    """The matrix legend: what each colour means with these thresholds, and the p95 limits."""
    limits = ", ".join(f"{lbl} {getattr(t.p95_ms, c):,.0f} ms" for c, lbl in READINESS_CHECKS)
    return (
        '<p class="legend">'
        f'<span class="green">green</span> error rate ≤ {100 * t.error_rate_green:g} % and p95 ≤ limit · '
        f'<span class="amber">amber</span> error rate ≤ {100 * t.error_rate_amber:g} % and p95 ≤ {t.amber_factor:g}× limit · '
        f'<span class="red">red</span> worse · <span class="grey">grey</span> not exercised: not proven.<br>'
        f"p95 limits: {_e(limits)}. Cells show the share of successful requests and p95. "
        "A province is ready when every check ran and no cell is red; with a check that did not run "
        "it is not proven; when the target throttled (423/429 with Retry-After) more than "
        f"{100 * t.max_throttled_rate:g} % of its requests it is throttled — the target protected itself "
        "instead of serving the load — and not counted as ready either.</p>"
    )


# province status → (data-ready attribute, cell text, cell colour); the live board shows the same
READY_LOOK = {"ready": ("yes", "yes", "green"), "not ready": ("no", "no", "red"),
              "throttled": ("throttled", "throttled", "amber"), "not proven": ("not-proven", "not proven", "grey")}


def _matrix(run: RunData) -> str:
    m = run.matrix
    head = "<th>Province</th>" + "".join(f"<th>{_e(lbl)}</th>" for _, lbl in READINESS_CHECKS) + "<th>Ready</th>"
    rows = []
    for r in m.rows:
        cells = "".join(f'<td class="cell {c.color}" data-check="{_e(c.check)}" title="{_e(c.reason)}">{_e(c.text)}</td>'
                        for c in r.cells)
        ready, text, color = READY_LOOK[r.status]
        how_hard = f'<br><small class="throttled">{_e(r.throttled_text)} by the target</small>' if r.throttled else ""
        rows.append(f'<tr data-province="{_e(r.code)}" data-ready="{ready}"><td>{_e(r.code)} {_e(r.name)}<br>'
                    f'<small>{r.communes_active:,}/{r.communes_total:,} communes on line</small></td>{cells}'
                    f'<td class="cell {color}">{text}{how_hard}</td></tr>')
    not_proven = f' · <span id="not-proven-count">{len(m.not_proven)}</span> not proven' if m.not_proven else ""
    if m.throttled:
        not_proven += f' · <span id="throttled-count">{len(m.throttled)}</span> throttled by the target'

    return (f'<h2 id="readiness">Readiness</h2><p><span class="ready-count" id="ready-count">{m.ready_count}/{m.total}</span> '
            f'provinces ready{not_proven} · <span id="proven-cells">{m.proven_cells}/{m.total_cells}</span> checks proven</p>'
            f"{readiness_legend(m.thresholds)}"
            f'<table class="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _charts(run: RunData) -> str:
    if not any(s.samples for s in run.journal.timeseries.series):
        return '<h2 id="charts">Over time</h2><p>No time series recorded.</p>'
    aborted_at = run.summary.abort.at_offset_s if run.summary.abort.aborted else None
    return ('<h2 id="charts">Latency over time</h2>' + latency_chart(run.journal, aborted_at)
            + '<h2 id="throughput">Throughput and errors over time</h2>' + throughput_chart(run.journal, aborted_at))


def _pct_cells(p: LatencyPercentiles | None) -> list[str]:
    if p is None:
        return ["—"] * 5
    return [_ms(p.p50_ms), _ms(p.p95_ms), _ms(p.p99_ms), _ms(p.p999_ms), _ms(p.max_ms)]


def _endpoints(run: RunData) -> str:
    s = run.summary
    rows = []
    for ep in sorted(s.endpoints, key=lambda e: (e.service, e.name)):
        rate = f"{100 * ep.failures / ep.count:.2f} %" if ep.count else "—"
        rows.append([_e(ep.service), _e(ep.name), f"{ep.count:,}", f"{ep.failures:,}", rate, f"{ep.throttled:,}",
                     *_pct_cells(ep), f"{ep.intended_count or 0:,}", *_pct_cells(ep.intended)])
    headers = ["Service", "Endpoint", "Requests", "Failures", "Errors", "Throttled", "p50", "p95", "p99", "p99.9", "max",
               "Scheduled", "p50 (int.)", "p95 (int.)", "p99 (int.)", "p99.9 (int.)", "max (int.)"]
    return ('<h2 id="endpoints">Endpoints</h2>'
            f"<p>{s.requests.total:,} requests, {s.requests.failed:,} failed, {s.requests.throttled:,} throttled by "
            "the target (423/429 with Retry-After: the target protecting itself, counted apart from failures), "
            f"{s.requests.rps:,.1f} req/s over {s.duration_s:,.0f} s. Latency in ms from the actual send time over "
            "<em>Requests</em>, then from the intended start time over <em>Scheduled</em> — the requests that "
            "carried one: every request a citizen's journey or an officer's or agency's pacing sent (int.; "
            "includes time the request waited behind a slow server or generator).</p>"
            + _table(headers, rows, num_from=2))


def _communes(run: RunData) -> str:
    c = run.summary.communes
    rows = [[_e(w.code), _e(w.name), _e(w.province_code), f"{w.requests:,}", f"{w.failures:,}",
             f"{100 * w.failures / w.requests:.2f} %" if w.requests else "—", _e(commune_p95_text(w, c.min_latency_samples))]
            for w in c.worst]
    return ('<h2 id="communes">Communes</h2>'
            f"<p>{c.active:,} of {c.total:,} communes active, {c.with_failures:,} with failures, {c.with_p95:,} with a p95 "
            f"(at least {c.min_latency_samples:,} requests; fewer say “too few”). Worst first: highest error rate, then "
            "most failures, then highest p95. The p95 is over every request of the commune's citizens and officers, "
            "from the send time, within 1 %.</p>"
            + (_table(["Commune", "Name", "Province", "Requests", "Failures", "Errors", "p95 ms"], rows, num_from=3)
               if rows else ""))


def _gate(run: RunData) -> str:
    g = run.gate
    if g is None:
        return '<h2 id="budgets">Budgets</h2><p>The budget gate was not run (<code>dientap gate RUN_DIR</code>).</p>'
    order = {"FAIL": 0, "SKIP": 1, "PASS": 2}
    rows = [[_e(r.budget), _e(r.name), format_value(r.measured, r.unit) if r.verdict != "SKIP" else "—",
             "—" if r.verdict == "SKIP" else _e(f"{r.comparison} {format_value(r.limit, r.unit)}"),
             f'<span class="{r.verdict}">{r.verdict}</span>', _e(r.note)]
            for r in sorted(g.rows, key=lambda r: order[r.verdict])]
    base = f", baseline {_e(g.baseline_run_id)}" if g.baseline_run_id else ""
    return (f'<h2 id="budgets">Budgets</h2><p>{len(g.rows) - len(g.failed)} of {len(g.rows)} lines within budget '
            f"({_e(g.budgets_source)}{base}).</p>"
            + _table(["Budget", "Subject / metric", "Measured", "Limit", "Verdict", "Note"], rows))


def _drill(run: RunData) -> str:
    d = run.journal.drill
    if d is None:
        return ""
    faults = [[_e(f.name), _e(f.kind), _e(f.target), f"{f.start_offset_s:,.1f}",
               f"{f.end_offset_s:,.1f}" if f.end_offset_s is not None else '<span class="FAIL">never removed</span>']
              for f in d.faults]
    hyp = [[_e(h.phase), _e(h.probe), "—" if h.offset_s is None else f"{h.offset_s:,.1f}", _e(h.expected), _e(h.measured),
            f'<span class="{"PASS" if h.ok else "FAIL"}">{"held" if h.ok else "broken"}</span>'] for h in d.hypothesis]
    rec = [[_e(r.item_kind), f"{r.ok:,}", f"{r.lost:,}", f"{r.duplicated:,}", f"{r.unexpected:,}", f"{r.recovered:,}",
            "<br>".join(_e(line) for line in r.named(NAMED_IN_REPORT)) or "—"] for r in d.reconciliation]
    recovery = f"{d.recovery_time_s:,.1f} s" if d.recovery_time_s is not None else "not measured"
    broken = "".join(f"<li>{_e(x)}</li>" for x in d.expectations)
    error = f"<pre>{_e(d.error)}</pre>" if d.error else ""
    return (f'<h2 id="drill">Drill: {_e(d.title)} ({_e(d.name)})</h2>'
            f'<p>Verdict <span class="{d.verdict}">{d.verdict}</span> · recovery time {recovery}</p>'
            + (f"<ul>{broken}</ul>" if broken else "") + error
            + "<h3>Faults injected</h3>" + _table(["Fault", "Kind", "Target", "Start s", "End s"], faults, num_from=3)
            + "<h3>Steady-state hypothesis</h3>" + _table(["Phase", "Probe", "At s", "Expected", "Measured", "Result"], hyp)
            + "<h3>Reconciliation</h3>"
            + _table(["Items", "OK", "Lost", "Duplicated", "Unexpected", "Recovered", "Named by key"], rec, num_from=1))


def _golive_night(run: RunData) -> str:
    """The go-live night's cut-over per province and the migrated dossiers not placed once (reports/golive_night.py)."""
    view = cutover_view(run.journal.drill)
    if view is None:
        return ""
    end = f"{view.end_offset_s:,.1f}" if view.end_offset_s is not None else "—"
    rows = [[_e(code), _e(name), f"{n:,}"] for code, name, n in view.per_province]
    landed = "not reconciled" if view.landed is None else f"{view.landed:,} landed in exactly one successor worklist"
    named = "".join(f"<p>{label}: {_e(', '.join(ids))}</p>" for label, ids in
                    (("Lost in the migration", view.lost_ids), ("Duplicated by the migration", view.duplicated_ids)) if ids)
    return ('<h3 id="cutover">Cut-over</h3>'
            f"<p>The district tier closed at {view.start_offset_s:,.1f} s (cut-over window {view.start_offset_s:,.1f}–{end} s), "
            f"migrated in {view.batches:,} batch(es); {landed}.</p>" + named
            + _table(["Province", "Name", "Dossiers migrated"], rows, num_from=2))


def _security(run: RunData) -> str:
    sc = run.journal.security
    if sc is None:
        return ""
    rows = []
    for c in sorted(sc.checks, key=lambda c: (c.verdict == "PASS", c.phase or "", c.id)):
        evidence = "".join(
            f"<details><summary>evidence {i + 1}{': ' + _e(x.note) if x.note else ''}</summary>"
            f"<pre>{_e(x.request)}</pre><pre>{_e(x.response)}</pre></details>" for i, x in enumerate(c.evidence))
        detected = "—" if c.detected_after_s is None else f"{c.detected_after_s:,.1f} s"
        rows.append([_e(c.id), _e(c.title), _e(c.owasp), _e(c.phase or "—"), f'<span class="{c.verdict}">{c.verdict}</span>',
                     _e(c.summary) + evidence, detected])
    passed = sum(c.verdict == "PASS" for c in sc.checks)
    limits = ""
    if sc.target_limits is not None:
        unknown = "".join(f"<br>{_e(n)}: {_e(s)}" for n, s in sc.target_limits.sources.items() if s.startswith("unknown"))
        limits = f"<p>Limits the target stated: {_e(sc.target_limits.describe())}{unknown}</p>"
    return (f'<h2 id="security">Security scorecard</h2><p>{passed} of {len(sc.checks)} checks passed. '
            "Evidence excerpts have secrets redacted.</p>" + limits
            + _table(["Check", "Title", "OWASP / rule", "Phase", "Verdict", "Evidence", "Detected after"], rows))


def _generator_and_timeline(run: RunData) -> str:
    g, a, p = run.summary.generator, run.summary.abort, run.journal.provenance
    cpu = ", ".join(f"{_e(k)} {v:.0f} %" for k, v in sorted(g.cpu_percent.items())) or "—"
    lag = _ms(g.max_schedule_lag_ms)
    trust = ('<span class="PASS">trustworthy</span>' if g.trustworthy
             else '<span class="FAIL">untrustworthy</span>: ' + _e("; ".join(g.reasons)))
    abort = f'<p><span class="FAIL">Aborted</span>: {_e(a.reason or "no reason recorded")}</p>' if a.aborted else ""
    events = run.journal.events[:MAX_TIMELINE_ROWS]
    rows = [[f"{e.offset_s:,.1f}", _e(e.kind), _e(e.name), _e(e.status or ""),
             _e(", ".join(f"{k}={v}" for k, v in e.detail.items()) + (f" error: {e.error}" if e.error else ""))] for e in events]
    more = len(run.journal.events) - len(events)
    services = ", ".join(f"{_e(s.name)} {_e(s.base_url)}" for s in p.target.services) or "—"
    return (f'<h2 id="generator">Load generator</h2><p>{trust} · max schedule lag {lag} ms · CPU {cpu}</p>{abort}'
            + '<h2 id="timeline">Timeline</h2>' + _table(["At s", "Kind", "Name", "Status", "Detail"], rows)
            + (f"<p>… and {more:,} more events in journal.json.</p>" if more > 0 else "")
            + f'<h2 id="provenance">Provenance</h2><p class="meta">Services: {services}<br>Hosts: {_e(", ".join(p.hosts) or "—")}'
            f"<br>Command: <code>{_e(' '.join(p.command_line))}</code></p>")


def _slope(per_min: float | None) -> str:
    return "—" if per_min is None else f"{per_min:+.3f}"


def _processes(run: RunData) -> str:
    samples = load_process_samples(run.run_dir)
    rows = process_growth(samples)
    if not rows:
        return ""
    return ('<h2 id="processes">Processes: memory, open files and CPU</h2>'
            f"<p>Sampled every few seconds; the slope is a least-squares line after the warm-up "
            f"({rows[0].from_s:,.0f}–{rows[0].to_s:,.0f} s), and CPU is the mean share of one core in it.</p>"
            + _table(["Process", "RSS MB (window)", "Peak MB", "MB/min", "Open files", "Files/min", "CPU %", "Samples"],
                     [[_e(r.process) + (" (restarted)" if r.restarted else ""), f"{r.rss_start_mb:,.1f} → {r.rss_end_mb:,.1f}",
                       f"{r.rss_peak_mb:,.1f}", _slope(r.rss_mb_per_min), f"{r.fds_start} → {r.fds_end}",
                       _slope(r.fds_per_min), _pct(r.cpu_pct), str(r.samples)] for r in rows], num_from=1)
            + _cpu_windows(cpu_timeline(samples, requests=_requests_by_second(run))))


def _requests_by_second(run: RunData) -> list[tuple[float, int]]:
    """The run's answered requests per time bucket, at seconds since the epoch (the process
    samples' clock)."""
    started = run.journal.provenance.started_at.timestamp()
    return [(started + sample.offset_s, sample.count) for series in run.journal.timeseries.series
            for sample in series.samples]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _cpu_windows(timeline: CpuTimeline | None) -> str:
    """Each process's share of a core window by window: more CPU at the same request rate is
    more work per request (read it beside the throughput chart)."""
    if timeline is None:
        return ""
    heads = [f"{start:,.0f} s" for start in timeline.starts_s]
    rows = [[_e(name), *(_pct(v) for v in shares)] for name, shares in timeline.cpu_pct.items()]
    if timeline.requests_per_s is not None and timeline.cpu_ms_per_request is not None:
        rows.append(["<b>requests/s</b>", *("—" if v is None else f"{v:,.0f}" for v in timeline.requests_per_s)])
        rows.append(["<b>CPU ms per request</b> (all processes)",
                     *("—" if v is None else f"{v:,.2f}" for v in timeline.cpu_ms_per_request)])
    return (f'<h3 id="process-cpu">CPU per {timeline.window_s:,.0f}-s window: % of one core, and per request</h3>'
            "<p>Windows counted from the first sample (the mocks start before the load). At a steady "
            "request rate, a rising CPU per request is more work per request.</p>"
            + _table(["Process", *heads], rows, num_from=1))


def render_html(run: RunData) -> str:
    """The whole page for an already loaded run."""
    body = "".join([_header(run), _verdict(run), _matrix(run), _charts(run), _endpoints(run), _communes(run),
                    _gate(run), _drill(run), _golive_night(run), _security(run), _processes(run),
                    _generator_and_timeline(run)])
    return _PAGE.substitute(run_id=_e(run.summary.run_id), css=REPORT_CSS, body=body)


def render_report(run_dir: str | Path, thresholds: ReadinessThresholds | None = None) -> Path:
    """Render ``run_dir/report.html`` from the run's records only; returns its path."""
    run = load_run(run_dir, thresholds)
    return atomic_write_text(Path(run_dir) / REPORT_FILE, render_html(run))
