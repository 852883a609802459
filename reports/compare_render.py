"""A run comparison for people and tools: a terminal table, Markdown for a CI comment, JSON.

Every format lists every endpoint and province line; commune lines — 3,321 of them in a
national run — are listed when they regressed or improved, and counted otherwise (the JSON
lists all of them). Figures are ``point (lower–upper)`` in ms, the interval at the
comparison's confidence; ``∞`` is an upper bound the samples cannot give (too few beyond
that quantile). The last line of the table says the verdict and the exit code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from kernel.terminal_text import terminal_text
from reports.compare import ComparisonLine, ErrorRateChange, Estimate, LineVerdict, RunComparison
from reports.compare_sources import LineKind
from reports.markdown_text import md_text

__all__ = ["OutputFormat", "verdict_line", "render_table", "render_markdown", "render_json", "render"]

OutputFormat = Literal["table", "markdown", "json"]

_KIND_TITLES: dict[LineKind, str] = {"endpoint": "ENDPOINT", "province": "PROVINCE", "commune": "COMMUNE"}
_MARKS: dict[LineVerdict, str] = {"regressed": "▲", "improved": "▼", "within noise": "", "not comparable": ""}
_VERDICTS: tuple[LineVerdict, ...] = ("regressed", "improved", "within noise", "not comparable")


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _estimate(est: Estimate | None) -> str:
    if est is None:
        return "—"
    upper = _ms(est.upper) if est.upper is not None else "∞"
    return f"{_ms(est.point)} ({_ms(est.lower)}–{upper})"


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.2f} %"


def _listed(comparison: RunComparison) -> list[ComparisonLine]:
    return [line for line in comparison.lines
            if line.kind != "commune" or line.verdict in ("regressed", "improved")]


def _why(line: ComparisonLine) -> str:
    """What moved: ``p95 p99`` or ``errors``; for not comparable, the sample counts."""
    if line.verdict == "not comparable":
        return f"{line.verdict} ({line.baseline_requests} vs {line.current_requests} requests)"
    moved = [c.quantile for c in line.latency if c.verdict == line.verdict]
    if line.errors.verdict == line.verdict:
        moved.append("errors")
    return line.verdict if line.verdict == "within noise" else f"{line.verdict}: {' '.join(moved)}"


def _headline(comparison: RunComparison) -> str:
    guard = comparison.guard
    return (f"{comparison.baseline_run_id} (A, baseline) → {comparison.current_run_id} (B): "
            f"{comparison.measure} latency, {100 * guard.confidence:g} % intervals, at least {guard.min_samples} samples; "
            f"a change counts from +{100 * guard.min_growth:g} % and +{guard.min_delta_ms:g} ms "
            f"(errors: +{100 * guard.min_error_delta:g} points)")


def verdict_line(comparison: RunComparison) -> str:
    """The last line: how many lines got each verdict, and the exit code."""
    counts = ", ".join(f"{comparison.count(v)} {v}" for v in _VERDICTS)
    verdict = "REGRESSED" if comparison.regressed else "no regression"
    return f"{len(comparison.lines)} lines: {counts} — {verdict} (exit {int(comparison.exit_code)})"


def _unlisted(comparison: RunComparison) -> str | None:
    hidden = [line for line in comparison.lines if line.kind == "commune" and line.verdict not in ("regressed", "improved")]
    if not hidden:
        return None
    counts = ", ".join(f"{n} {v}" for v in _VERDICTS if (n := sum(line.verdict == v for line in hidden)))
    # Commune latency comes from the run's sketches (send time only); say when it was missing.
    what = "error rates and latency" if any(line.latency for line in hidden) else "error rates only"
    return f"{len(hidden)} commune lines not listed ({counts}; {what} — --format json lists them)"


def _figure_cells(line: ComparisonLine, side: Literal["baseline", "current"]) -> list[str]:
    cells = []
    for change in line.latency:
        est = change.baseline if side == "baseline" else change.current
        mark = _MARKS[change.verdict] if side == "current" else ""
        cells.append(f"{_estimate(est)}{mark}")
    return cells


def _errors_cell(errors: ErrorRateChange, side: Literal["baseline", "current"]) -> str:
    if side == "baseline":
        return _rate(errors.baseline)
    return _rate(errors.current) + _MARKS[errors.verdict]


def render_table(comparison: RunComparison) -> str:
    """The terminal table: two rows per line (A, then B with its verdict), one block per kind.

    Subjects and run ids come from the records (a hostile target may have named an endpoint):
    passed through :func:`kernel.terminal_text.terminal_text`, each stays one cell of one line.
    """
    rows: list[tuple[str, ...]] = []
    header = ("", "run", "requests", "errors", "p50 ms", "p95 ms", "p99 ms")
    listed = _listed(comparison)
    for kind, title in _KIND_TITLES.items():
        lines = [line for line in listed if line.kind == kind]
        if not lines:
            continue
        rows.append((title,))
        for line in lines:
            sides: tuple[tuple[Literal["baseline", "current"], str], ...] = (
                ("baseline", terminal_text(line.subject, one_line=True)), ("current", "  " + _why(line)))
            for side, first in sides:
                requests = line.baseline_requests if side == "baseline" else line.current_requests
                rows.append((first, "A" if side == "baseline" else "B", f"{requests:,}",
                             _errors_cell(line.errors, side), *_figure_cells(line, side)))
    widths = [max(len(r[i]) for r in [header, *rows] if len(r) > i) for i in range(len(header))]
    # Warnings are not repeated here: the command prints them on stderr (Markdown and JSON carry them).
    out = [terminal_text(_headline(comparison), one_line=True), ""]
    for row in [header, *rows]:
        if len(row) == 1:
            out.append(row[0])
            continue
        cells = [f"{row[0]:<{widths[0]}}", f"{row[1]:^3}", f"{row[2]:>{widths[2]}}",
                 *(f"{cell:<{widths[i + 3]}}" for i, cell in enumerate(row[3:]))]
        out.append("  ".join(cells).rstrip())
    if (hidden := _unlisted(comparison)) is not None:
        out.append(hidden)
    out.append("▲ regressed  ▼ improved  (intervals: the figure's confidence interval; ∞: not bounded by the samples)")
    out.append(verdict_line(comparison))
    return "\n".join(out)


def _md_row(line: ComparisonLine) -> str:
    figures = [f"{_estimate(c.baseline)} → {_estimate(c.current)}{_MARKS[c.verdict]}" for c in line.latency]
    figures += ["—"] * (3 - len(figures))
    errors = f"{_rate(line.errors.baseline)} → {_rate(line.errors.current)}{_MARKS[line.errors.verdict]}"
    # The subject comes from the records (an endpoint's name): escaped, it cannot split the row,
    # end it with a line ending, or close the comment's <details> fold.
    cells = [f"{line.kind} {md_text(line.subject)}", f"{line.baseline_requests:,} / {line.current_requests:,}", errors,
             *figures, f"**{_why(line)}**" if line.verdict == "regressed" else _why(line)]
    return "| " + " | ".join(cells) + " |"


def _md_table(lines: list[ComparisonLine]) -> Iterator[str]:
    yield "| Line | Requests A / B | Errors A → B | p50 ms A → B | p95 ms A → B | p99 ms A → B | Verdict |"
    yield "|---|--:|--:|--:|--:|--:|---|"
    yield from (_md_row(line) for line in lines)


def render_markdown(comparison: RunComparison) -> str:
    """Markdown for a CI comment: the verdict, the lines that moved, every line in a fold."""
    moved = [line for line in comparison.lines if line.verdict in ("regressed", "improved")]
    out = [f"### dientap compare: {'❌ regressed' if comparison.regressed else '✅ no regression'}", "",
           md_text(_headline(comparison)), ""]
    out += [f"> **Warning:** {md_text(w)}" for w in comparison.warnings]
    if comparison.warnings:
        out.append("")
    if moved:
        out += [*_md_table(moved), ""]
    else:
        out += ["No line regressed or improved beyond the noise guard.", ""]
    out += ["<details><summary>Every endpoint and province line</summary>", ""]
    out += list(_md_table([line for line in _listed(comparison) if line.kind != "commune"]))
    out += ["", "</details>", ""]
    if (hidden := _unlisted(comparison)) is not None:
        out += [hidden.replace("--format json", "`--format json`"), ""]
    out.append(verdict_line(comparison))
    return "\n".join(out)


def render_json(comparison: RunComparison) -> str:
    """The whole comparison, every line included (:class:`reports.compare.RunComparison`)."""
    return comparison.model_dump_json(indent=1)


def render(comparison: RunComparison, output_format: OutputFormat) -> str:
    """The comparison in ``output_format``."""
    if output_format == "markdown":
        return render_markdown(comparison)
    if output_format == "json":
        return render_json(comparison)
    return render_table(comparison)
