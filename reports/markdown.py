"""A short Markdown summary of a run for a CI comment (``dientap report RUN_DIR --format md``).

Verdict, "N/34 provinces ready" with the red checks of every unready province, the
busiest endpoints, the worst communes with their p95, failed budget lines, drill and
security outcome. Every string from a record is escaped (:mod:`reports.markdown_text`) so a
name with ``|``, a line ending, backticks or markup cannot break the comment.
"""

from __future__ import annotations

from pathlib import Path

from reports.gate import format_value
from reports.golive_night import cutover_view
from reports.markdown_text import md_code, md_text
from reports.readiness import ReadinessThresholds
from reports.summary import CommuneStats
from reports.verdict import RunData, load_run, overall_verdict

__all__ = ["render_markdown", "markdown_for", "commune_p95_text"]

MAX_ENDPOINT_ROWS = 15


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def commune_p95_text(stats: CommuneStats, min_samples: int) -> str:
    """A commune's p95 cell (plain text, shared with the HTML report): the figure in ms;
    "too few (n < min)" when fewer requests were measured than a p95 needs; "—" when none."""
    if stats.p95_ms is not None:
        return _ms(stats.p95_ms)
    if stats.latency_samples:
        return f"too few ({stats.latency_samples} < {min_samples})"
    return "—"


def markdown_for(run: RunData) -> str:
    """The Markdown summary of an already loaded run."""
    s, m = run.summary, run.matrix
    v = overall_verdict(run)
    icon = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌"}[v.level]
    out = [f"## {icon} dientap dry run {md_code(s.run_id)} — {v.level}", ""]
    out += [f"- {md_text(r)}" for r in v.reasons]
    not_proven = f" · {len(m.not_proven)} not proven" if m.not_proven else ""
    if m.throttled:
        not_proven += f" · {len(m.throttled)} throttled by the target"
    out += ["", f"**{m.ready_count}/{m.total} provinces ready**{not_proven} · {m.proven_cells}/{m.total_cells} checks proven · "
            f"{s.requests.total:,} requests, "
            f"{s.requests.failed:,} failed, {s.requests.throttled:,} throttled by the target, "
            f"{s.requests.rps:,.1f} req/s over {s.duration_s:,.0f} s (profile {md_code(s.profile)})", ""]
    if m.not_ready:
        out += ["| Province | Not ready because |", "|---|---|"]
        for r in m.not_ready:
            red = [c for c in r.cells if c.color == "red"]
            why = "; ".join(f"{c.label}: {c.reason}" for c in red) or "no check exercised"
            out.append(f"| {md_text(r.code)} {md_text(r.name)} | {md_text(why)} |")
        out.append("")
    if m.throttled:
        out += ["| Province | Throttled by the target | Status |", "|---|--:|---|"]
        out += [f"| {md_text(r.code)} {md_text(r.name)} | {r.throttled:,} ({100 * r.throttled_share:.1f} %) | {r.status} |"
                for r in m.throttled]
        out.append("")
    out += ["| Service | Endpoint | Requests | Errors | Throttled | p95 ms | p99 ms | Scheduled | p95 ms (intended) |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for ep in sorted(s.endpoints, key=lambda e: -e.count)[:MAX_ENDPOINT_ROWS]:
        rate = f"{100 * ep.failures / ep.count:.2f} %" if ep.count else "—"
        intended = _ms(ep.intended.p95_ms) if ep.intended else "—"
        out.append(f"| {md_text(ep.service)} | {md_text(ep.name)} | {ep.count:,} | {rate} | {ep.throttled:,} "
                   f"| {_ms(ep.p95_ms)} | {_ms(ep.p99_ms)} | {ep.intended_count or 0:,} | {intended} |")
    if len(s.endpoints) > MAX_ENDPOINT_ROWS:
        out.append(f"\n… {len(s.endpoints) - MAX_ENDPOINT_ROWS} more endpoints in report.html")
    c = s.communes
    if c.worst:
        out += ["", f"**Worst communes** ({c.active:,} of {c.total:,} active, {c.with_failures:,} with failures; "
                f"p95 from {c.min_latency_samples} requests):", "",
                "| Commune | Province | Requests | Errors | p95 ms |", "|---|---|--:|--:|--:|"]
        for w in c.worst:
            rate = f"{100 * w.failures / w.requests:.2f} %" if w.requests else "—"
            out.append(f"| {md_text(w.code)} {md_text(w.name)} | {md_text(w.province_code)} | {w.requests:,} | {rate} "
                       f"| {md_text(commune_p95_text(w, c.min_latency_samples))} |")
    if run.gate is not None:
        out += ["", f"**Budgets:** {len(run.gate.rows) - len(run.gate.failed)} of {len(run.gate.rows)} lines within budget."]
        if run.gate.failed:
            out += ["", "| Budget | Measured | Limit |", "|---|--:|--:|"]
            for row in run.gate.failed:
                out.append(f"| {md_text(row.budget)}: {md_text(row.name)} | {md_text(format_value(row.measured, row.unit))} | "
                           f"{'≤' if row.comparison == '<=' else '≥'} {md_text(format_value(row.limit, row.unit))} |")
    d = run.journal.drill
    if d is not None:
        lost = sum(r.lost for r in d.reconciliation)
        dup = sum(r.duplicated for r in d.reconciliation)
        rec = f"{d.recovery_time_s:,.1f} s" if d.recovery_time_s is not None else "not measured"
        out += ["", f"**Drill** {md_code(d.name)}: {d.verdict} · lost {lost} · duplicated {dup} · recovery {rec}"]
        view = cutover_view(d)  # the go-live night (reports/golive_night.py)
        if view is not None:
            out += ["", f"**Cut-over** at {view.start_offset_s:,.1f} s, {view.batches} batch(es): "
                    + ", ".join(f"{md_text(code)} {md_text(name)} {n}" for code, name, n in view.per_province)]
            out += [f"- {label}: {md_text(', '.join(ids))}" for label, ids in
                    (("lost in the migration", view.lost_ids), ("duplicated by the migration", view.duplicated_ids)) if ids]
    sc = run.journal.security
    if sc is not None:
        bad = [c for c in sc.checks if c.verdict != "PASS"]
        out += ["", f"**Security:** {len(sc.checks) - len(bad)} of {len(sc.checks)} checks passed."]
        if sc.target_limits is not None:
            out += [f"Limits the target stated: {md_text(sc.target_limits.describe())}"]
        out += [f"- {c.verdict} {md_code(c.id)} {md_text(c.title)}: {md_text(c.summary)}" for c in bad]
    return "\n".join(out) + "\n"


def render_markdown(run_dir: str | Path, thresholds: ReadinessThresholds | None = None) -> str:
    """The Markdown summary of the run in ``run_dir`` (read from its records only)."""
    return markdown_for(load_run(run_dir, thresholds))
