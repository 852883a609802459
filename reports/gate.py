"""The budget gate: compare a run's summary with its budgets (and a baseline run).

``evaluate(summary, budgets, runs=None) -> GateResult`` makes one row per budget
line and measured thing (a service-wide budget yields one row per endpoint of that
service; ``province: "*"`` one row per province). A budget that names something the run
did not measure is a *failed* row ("not measured"), never a silent pass.

Regression limits compare the run's records with a baseline run's (``runs``: both runs'
histograms and load records) by the logic of ``dientap compare`` (:mod:`reports.compare`):
a regressed figure fails, one with too few samples on either side is skipped with a note
(never failed), one within noise or improved passes.

Exit codes (:class:`kernel.errors.ExitCode`): ``OK`` (0) when every row passes,
``BUDGET_BREACHED`` (1) when one fails; unreadable or invalid inputs raise
:class:`kernel.errors.ConfigError` (``CONFIG_ERROR``, 3) before any row is made.
"""

from __future__ import annotations

import os

# Only builds and writes XML; never parses untrusted input (which would need defusedxml).
import xml.etree.ElementTree as ET  # nosec B405
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.errors import ConfigError, ConfigProblem, ExitCode
from kernel.latency_records import Measure
from kernel.terminal_text import terminal_text
from reports.budgets import BudgetLine, Budgets, RegressionLimit, load_gate_budgets
from reports.compare import (
    QUANTILES,
    ErrorRateChange,
    Estimate,
    LineVerdict,
    QuantileChange,
    compare_error_rate,
    compare_quantile,
)
from reports.compare_sources import Observed, observe_endpoints
from reports.compared_run import RunPair, load_run_pair
from reports.load_record import LOAD_RECORD_FILE
from reports.run_files import (
    JOURNAL_FILE,
    SUMMARY_FILE,
    atomic_write_text,
    check_same_run,
    load_journal_of,
    load_record,
    load_summary,
    record_present,
)
from reports.summary import EndpointStats, LatencyPercentiles, Summary
from reports.xml_text import xml_text

__all__ = [
    "GATE_FILE",
    "GateRow",
    "GateResult",
    "evaluate",
    "render_table",
    "format_value",
    "write_junit",
    "write_gate_result",
    "load_gate_result",
    "run_gate",
]

GATE_FILE = "gate.json"

RowVerdict = Literal["PASS", "FAIL", "SKIP"]
Unit = Literal["ms", "ratio", "flag"]


class GateRow(BaseModel):
    """One budget line applied to one measured thing (NaN and infinities are refused when
    ``gate.json`` is read back: such a figure is neither within a limit nor over it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    budget: str  # label of the budget line, e.g. "portal latency and errors"
    subject: str  # what was measured, e.g. "portal POST /dossiers" or "province 04"
    metric: str  # p95_ms | intended p95_ms | error_rate | throttled_rate | throughput | p95 regression ...
    measured: float | None  # None: not measured
    limit: float
    comparison: Literal["<=", ">="]
    unit: Unit
    verdict: RowVerdict
    note: str = ""

    @property
    def name(self) -> str:
        """A unique, readable name (JUnit test case name)."""
        return f"{self.subject} {self.metric}"


class GateResult(BaseModel):
    """All rows of one gate evaluation, and the exit code they map to."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    run_id: str
    budgets_source: str = ""
    baseline_run_id: str | None = None
    rows: list[GateRow] = Field(default_factory=list)

    @property
    def failed(self) -> list[GateRow]:
        """The failed rows."""
        return [r for r in self.rows if r.verdict == "FAIL"]

    @property
    def passed(self) -> bool:
        """True when no row failed."""
        return not self.failed

    @property
    def exit_code(self) -> ExitCode:
        """``OK`` or ``BUDGET_BREACHED``."""
        return ExitCode.OK if self.passed else ExitCode.BUDGET_BREACHED


# --------------------------------------------------------------------------- evaluation


def _row(budget: str, subject: str, metric: str, measured: float | None, limit: float,
         comparison: Literal["<=", ">="], unit: Unit, note: str = "") -> GateRow:
    if measured is None:
        return GateRow(budget=budget, subject=subject, metric=metric, measured=None, limit=limit,
                       comparison=comparison, unit=unit, verdict="FAIL", note=note or "not measured")
    ok = measured <= limit if comparison == "<=" else measured >= limit
    return GateRow(budget=budget, subject=subject, metric=metric, measured=measured, limit=limit,
                   comparison=comparison, unit=unit, verdict="PASS" if ok else "FAIL", note=note)


def _percentiles(ep: EndpointStats, measure: str) -> LatencyPercentiles | None:
    return ep if measure == "sent" else ep.intended


def _error_rate(requests: int, failures: int) -> float | None:
    return failures / requests if requests else None


def _endpoint_rows(label: str, line: BudgetLine, subject: str, ep: EndpointStats) -> Iterator[GateRow]:
    pct = _percentiles(ep, line.measure)
    prefix = "intended " if line.measure == "intended" else ""
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        limit = getattr(line, key)
        if limit is not None:
            measured = getattr(pct, key) if pct is not None else None
            note = "" if pct is not None else "no intended-start latency recorded"
            yield _row(label, subject, prefix + key, measured, limit, "<=", "ms", note)
    if line.error_rate is not None:
        yield _row(label, subject, "error_rate", _error_rate(ep.count, ep.failures), line.error_rate, "<=", "ratio",
                   "" if ep.count else "no requests")
    if line.max_throttled_rate is not None:
        yield _throttled_row(label, subject, ep.count, ep.throttled, line.max_throttled_rate)
    if line.min_throughput is not None:
        achieved = ep.count / ep.intended_count if ep.intended_count else None
        yield _row(label, subject, "throughput", achieved, line.min_throughput, ">=", "ratio",
                   "" if ep.intended_count else "no intended count recorded")


def _throttled_row(label: str, subject: str, requests: int, throttled: int, limit: float) -> GateRow:
    """The share of ``subject``'s requests the target throttled (423/429 with Retry-After)."""
    note = f"{throttled:,} of {requests:,} requests throttled by the target" if requests else "no requests"
    return _row(label, subject, "throttled_rate", _error_rate(requests, throttled), limit, "<=", "ratio", note)


def _selector(service: str | None, endpoint: str | None) -> str:
    return " ".join(p for p in (service or "*", endpoint or "*"))


def _budget_rows(summary: Summary, index: int, line: BudgetLine) -> Iterator[GateRow]:
    label = line.label(index)
    named = line.service is not None or line.endpoint is not None

    def match(ep: EndpointStats) -> bool:
        return (line.service is None or ep.service == line.service) and (line.endpoint is None or ep.name == line.endpoint)

    if not named and line.province is None:  # whole run
        req = summary.requests
        if line.error_rate is not None:
            yield _row(label, "whole run", "error_rate", _error_rate(req.total, req.failed), line.error_rate, "<=", "ratio")
        if line.max_throttled_rate is not None:
            yield _throttled_row(label, "whole run", req.total, req.throttled, line.max_throttled_rate)
        if line.min_throughput is not None:
            achieved = req.total / req.intended_total if req.intended_total else None
            yield _row(label, "whole run", "throughput", achieved, line.min_throughput, ">=", "ratio",
                       "" if req.intended_total else "no intended request count recorded")
        return
    if not named:  # province-wide
        provinces = summary.provinces if line.province == "*" else [p for p in summary.provinces if p.code == line.province]
        if not provinces:
            yield from _missing(label, f"province {line.province}", line)
        for p in provinces:
            subject = f"province {p.code}"
            if line.p95_ms is not None:
                yield _row(label, subject, "p95_ms", p.p95_ms, line.p95_ms, "<=", "ms")
            if line.error_rate is not None:
                yield _row(label, subject, "error_rate", _error_rate(p.requests, p.failures), line.error_rate, "<=", "ratio",
                           "" if p.requests else "no requests")
            if line.max_throttled_rate is not None:
                yield _throttled_row(label, subject, p.requests, p.throttled, line.max_throttled_rate)
        return
    if line.province is None:
        endpoints = [ep for ep in summary.endpoints if match(ep)]
        if not endpoints:
            yield from _missing(label, _selector(line.service, line.endpoint), line)
        for ep in endpoints:
            yield from _endpoint_rows(label, line, f"{ep.service} {ep.name}", ep)
        return
    rows = [ep for ep in summary.endpoint_provinces if match(ep) and (line.province == "*" or ep.province_code == line.province)]
    if not rows:
        yield from _missing(label, f"{_selector(line.service, line.endpoint)} province {line.province}", line)
    for ep in rows:
        yield from _endpoint_rows(label, line, f"{ep.service} {ep.name} province {ep.province_code}", ep)


def _missing(label: str, subject: str, line: BudgetLine) -> Iterator[GateRow]:
    """Failed rows for a budget whose subject is absent from the summary."""
    note = f"not measured: {subject} is not in the run's summary"
    prefix = "intended " if line.measure == "intended" else ""
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        if getattr(line, key) is not None:
            yield _row(label, subject, prefix + key, None, getattr(line, key), "<=", "ms", note)
    if line.error_rate is not None:
        yield _row(label, subject, "error_rate", None, line.error_rate, "<=", "ratio", note)
    if line.max_throttled_rate is not None:
        yield _row(label, subject, "throttled_rate", None, line.max_throttled_rate, "<=", "ratio", note)
    if line.min_throughput is not None:
        yield _row(label, subject, "throughput", None, line.min_throughput, ">=", "ratio", note)


def _ms_interval(est: Estimate) -> str:
    upper = f"{est.upper:.1f}" if est.upper is not None else "∞"
    return f"{est.point:.1f} ms ({est.lower:.1f}–{upper})"


def _judged(verdict: LineVerdict) -> RowVerdict:
    # Regressed fails; too few samples to say is skipped (never failed); the rest pass.
    if verdict == "regressed":
        return "FAIL"
    return "SKIP" if verdict == "not comparable" else "PASS"


def _latency_regression_row(label: str, subject: str, metric: str, change: QuantileChange, limit: float,
                            min_samples: int) -> GateRow:
    base, now = change.baseline, change.current
    if change.verdict == "not comparable":
        counts = f"{base.count if base else 0} vs {now.count if now else 0} samples"
        note = (f"not comparable: absent from this run ({counts})" if now is None
                else f"not comparable: {counts}, at least {min_samples} needed")
    else:
        assert base is not None and now is not None  # comparable: both measured
        note = f"baseline {_ms_interval(base)}, now {_ms_interval(now)}: {change.verdict}"
    return GateRow(budget=label, subject=subject, metric=metric, measured=now.point if now else None, limit=limit,
                   comparison="<=", unit="ms", verdict=_judged(change.verdict), note=note)


def _error_regression_row(label: str, subject: str, change: ErrorRateChange, limit: float, base: Observed,
                          now: Observed | None, min_samples: int) -> GateRow:
    if change.verdict == "not comparable":
        counts = f"{base.requests} vs {now.requests if now else 0} requests"
        note = (f"not comparable: absent from this run ({counts})" if now is None
                else f"not comparable: {counts}, at least {min_samples} needed")
    else:
        assert change.difference_lower is not None and change.difference_upper is not None
        note = (f"baseline {format_value(change.baseline, 'ratio')}, difference "
                f"{100 * change.difference_lower:+.2f} to {100 * change.difference_upper:+.2f} points: {change.verdict}")
    return GateRow(budget=label, subject=subject, metric="error_rate regression", measured=change.current, limit=limit,
                   comparison="<=", unit="ratio", verdict=_judged(change.verdict), note=note)


def _regression_rows(runs: RunPair, index: int, limit: RegressionLimit) -> Iterator[GateRow]:
    """One row per baseline endpoint and limited figure, judged by :mod:`reports.compare`:
    regressed → FAIL, not comparable → SKIP, within noise or improved → PASS. The row's
    limit is where the change would clear both floors; the intervals decide the rest."""
    label = limit.label(index)
    measure: Measure = "service" if limit.measure == "sent" else "intended"
    prefix = "intended " if limit.measure == "intended" else ""
    baseline, current = observe_endpoints(runs.baseline, measure), observe_endpoints(runs.current, measure)
    for subject, base in baseline.items():
        service, endpoint = subject.split(" ", 1)  # service names have no spaces
        if (limit.service and service != limit.service) or (limit.endpoint and endpoint != limit.endpoint):
            continue
        now = current.get(subject)
        for (key, q), growth in zip(QUANTILES, (limit.p50_growth, limit.p95_growth, limit.p99_growth), strict=True):
            if growth is None or base.latency is None or not base.latency.count:
                continue
            change = compare_quantile(key, q, base.latency, now.latency if now else None, min_samples=limit.min_samples,
                                      min_growth=growth, min_delta_ms=limit.min_delta_ms)
            assert change.baseline is not None  # the baseline measured it
            point = change.baseline.point
            allowed = max(point * (1 + growth), point + limit.min_delta_ms)
            yield _latency_regression_row(label, subject, f"{prefix}{key}_ms regression", change, allowed,
                                          limit.min_samples)
        if limit.error_rate_growth is not None and base.requests:
            errors = compare_error_rate(base, now, min_samples=limit.min_samples, min_error_delta=limit.error_rate_growth)
            yield _error_regression_row(label, subject, errors, base.failures / base.requests + limit.error_rate_growth,
                                        base, now, limit.min_samples)


def evaluate(summary: Summary, budgets: Budgets, runs: RunPair | None = None, *, budgets_source: str = "") -> GateResult:
    """Apply every budget line to ``summary`` and, when the records of a baseline and of this
    run are given (``runs``), every regression limit to their comparison."""
    rows: list[GateRow] = []
    if budgets.generator.fail_on_abort:
        reason = summary.abort.reason or "no reason recorded"
        rows.append(_row("generator", "run", "completed", 0.0 if summary.abort.aborted else 1.0, 1.0, ">=", "flag",
                         f"aborted: {reason}" if summary.abort.aborted else ""))
    if budgets.generator.require_trustworthy:
        rows.append(_row("generator", "load generator", "trustworthy", 1.0 if summary.generator.trustworthy else 0.0, 1.0,
                         ">=", "flag", "; ".join(summary.generator.reasons)))
    for i, line in enumerate(budgets.budgets):
        rows.extend(_budget_rows(summary, i, line))
    for i, limit in enumerate(budgets.regression):
        if runs is None:
            rows.append(GateRow(budget=limit.label(i), subject="baseline", metric="regression", measured=None, limit=0,
                                comparison="<=", unit="flag", verdict="SKIP", note="no baseline run given"))
        else:
            rows.extend(_regression_rows(runs, i, limit))
    return GateResult(run_id=summary.run_id, budgets_source=budgets_source,
                      baseline_run_id=runs.baseline.run_id if runs else None, rows=rows)


# --------------------------------------------------------------------------- output


def format_value(value: float | None, unit: Unit) -> str:
    """Render a measured value or limit for people: ``812.4 ms``, ``1.25 %``, ``yes``."""
    if value is None:
        return "not measured"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "ratio":
        return f"{100 * value:.2f} %"
    return "yes" if value >= 1 else "no"


def _limit_text(row: GateRow) -> str:
    if row.verdict == "SKIP":
        return "—"
    return f"{row.comparison} {format_value(row.limit, row.unit)}"


def render_table(result: GateResult) -> str:
    """A plain-text table (budget, measured, limit, verdict) and a one-line verdict.

    Names and notes may quote a hostile target (an endpoint it named, an abort reason): each
    cell is passed through :func:`kernel.terminal_text.terminal_text` before its width is
    taken, so no control character reaches the terminal and none can end or overwrite a row.
    """
    header = ("Budget", "Measured", "Limit", "Verdict")
    body = [(terminal_text(f"{r.budget}: {r.name}", one_line=True),
             format_value(r.measured, r.unit) if r.verdict != "SKIP" else "—", _limit_text(r),
             r.verdict + (f" ({terminal_text(r.note, one_line=True)})" if r.note and r.verdict != "PASS" else ""))
            for r in result.rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(3)]
    lines = [f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}"]
    lines.append("  ".join("-" * w for w in widths) + "  -------")
    lines += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in body]
    failed = len(result.failed)
    skipped = sum(r.verdict == "SKIP" for r in result.rows)
    verdict = "within budget" if result.passed else "BUDGET BROKEN"
    lines.append(f"{len(result.rows)} budget lines: {len(result.rows) - failed - skipped} passed, {failed} failed, "
                 f"{skipped} skipped — {verdict} (exit {int(result.exit_code)})")
    return "\n".join(lines)


def write_junit(result: GateResult, path: str | Path) -> Path:
    """Write JUnit XML: one test case per row; failed rows carry measured vs limit. Every
    string is passed through :func:`reports.xml_text.xml_text`, so whatever a record holds
    the file stays XML a CI server can parse."""
    suite_attrs = {
        "name": xml_text(f"dientap.gate.{result.run_id}"),
        "tests": str(len(result.rows)),
        "failures": str(len(result.failed)),
        "errors": "0",
        "skipped": str(sum(r.verdict == "SKIP" for r in result.rows)),
        "time": "0",
    }
    root = ET.Element("testsuites", {k: suite_attrs[k] for k in ("tests", "failures", "errors", "time")})
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    seen: dict[str, int] = {}
    for row in result.rows:
        name = row.name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # JUnit consumers merge duplicate names; keep each row visible
            name = f"{name} #{seen[name]}"
        case = ET.SubElement(suite, "testcase", {"classname": xml_text(f"dientap.gate.{row.budget}"),
                                                 "name": xml_text(name), "time": "0"})
        measured, limit = format_value(row.measured, row.unit), _limit_text(row)
        if row.verdict == "FAIL":
            failure = ET.SubElement(case, "failure", {"message": f"measured {measured}, limit {limit}", "type": "BudgetBreached"})
            failure.text = xml_text(f"{row.budget}: {row.name}\nmeasured: {measured}\nlimit: {limit}\n{row.note}".rstrip())
        elif row.verdict == "SKIP":
            ET.SubElement(case, "skipped", {"message": xml_text(row.note)})
        else:
            ET.SubElement(case, "system-out").text = f"measured {measured}, limit {limit}"
    tree = ET.ElementTree(root)
    ET.indent(tree)
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")


def write_gate_result(run_dir: str | Path, result: GateResult) -> Path:
    """Write ``run_dir/gate.json`` (the report shows it)."""
    return atomic_write_text(Path(run_dir) / GATE_FILE, result.model_dump_json(indent=1))


def load_gate_result(run_dir: str | Path) -> GateResult | None:
    """Read ``run_dir/gate.json``; ``None`` when the gate was not run.

    A gate.json judging another run (copied in from elsewhere) is a ConfigError naming it:
    the report must not show a verdict on records it does not hold.
    """
    path = Path(run_dir) / GATE_FILE
    if not path.exists():
        return None
    result = load_record(GateResult, path)
    if (Path(run_dir) / SUMMARY_FILE).exists():
        run_id = load_summary(run_dir).run_id
        if result.run_id != run_id:
            raise ConfigError([ConfigProblem(
                str(path), None, "run_id", f"{result.run_id!r} is another run's gate verdict (this run is {run_id!r}); "
                f"remove the file or run `dientap gate {run_dir}` again")])
    return result


def run_gate(run_dir: str | Path, budgets_path: str | Path | None = None, baseline_dir: str | Path | None = None,
             junit: str | Path | None = None) -> GateResult:
    """What ``dientap gate`` does: load, evaluate, write ``gate.json`` (and JUnit); return the result.

    Input problems raise :class:`kernel.errors.ConfigError`; the caller prints
    :func:`render_table` and exits with ``result.exit_code``.
    """
    budgets = load_gate_budgets(budgets_path, with_baseline=baseline_dir is not None)
    summary = load_summary(run_dir)
    if record_present(Path(run_dir) / JOURNAL_FILE):
        load_journal_of(run_dir, summary)  # gate.json goes beside it: the records must be one run's
    runs = load_run_pair(baseline_dir, run_dir) if baseline_dir is not None else None
    if runs is not None:  # the regression rows judge load.json's run; the other rows summary.json's
        check_same_run(Path(run_dir) / LOAD_RECORD_FILE, "run_id", runs.current.run_id, Path(run_dir) / SUMMARY_FILE,
                       summary.run_id)
    # gate.json is UTF-8: a path that is not (its bytes kept as lone surrogates) shows them as U+FFFD.
    source = (os.fsencode(budgets_path).decode("utf-8", "replace") if budgets_path is not None
              else "reports/budgets.yaml (default)")
    result = evaluate(summary, budgets, runs, budgets_source=source)
    if junit is not None:  # first: a JUnit file that cannot be written leaves no gate.json claiming a verdict
        try:
            write_junit(result, junit)
        except OSError as exc:
            raise ConfigError([ConfigProblem(str(junit), None, "", f"cannot write the JUnit XML: "
                                             f"{(exc.strerror or str(exc)).lower()}")]) from None
    write_gate_result(run_dir, result)
    return result
