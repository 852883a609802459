"""The budget gate: compare a run's summary with its budgets (and a baseline run).

``evaluate(summary, budgets, runs=None) -> GateResult`` makes one row per budget
line and measured thing (a service-wide budget yields one row per endpoint of that
service; ``province: "*"`` one row per province). A budget that names something the run
did not measure is a *failed* row ("not measured"), never a silent pass.

Regression limits compare the run's records with a baseline run's (``runs``: both runs'
histograms and load records) by the logic of ``dientap compare`` (:mod:`reports.compare`):
a regressed figure fails, one with too few samples on either side is skipped with a note
(never failed), one within noise or improved passes.

Its rows, result, table and JUnit file are :mod:`reports.gate_output` (re-exported here).

Exit codes (:class:`kernel.errors.ExitCode`): ``OK`` (0) when every row passes,
``BUDGET_BREACHED`` (1) when one fails; unreadable or invalid inputs raise
:class:`kernel.errors.ConfigError` (``CONFIG_ERROR``, 3) before any row is made.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from kernel.errors import ConfigError, ConfigProblem
from kernel.latency_records import Measure
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
from reports.gate_output import (
    GATE_FILE,
    GateResult,
    GateRow,
    RowVerdict,
    Unit,
    format_value,
    load_gate_result,
    render_table,
    write_gate_result,
    write_junit,
)
from reports.load_record import LOAD_RECORD_FILE
from reports.run_files import JOURNAL_FILE, SUMMARY_FILE, check_same_run, load_journal_of, load_summary, record_present
from reports.summary import EndpointStats, LatencyPercentiles, Summary

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
