"""What the budget gate writes and prints: its rows and result (``gate.json``), the console
table and the JUnit XML — apart from the evaluation (:mod:`reports.gate`), which makes them.

Every string a row holds may come from a hostile target (an endpoint it named, an abort
reason): the table escapes control characters (:mod:`kernel.terminal_text`), the JUnit file
what XML forbids (:mod:`reports.xml_text`); ``gate.json`` keeps them as they are.
"""

from __future__ import annotations

# Only builds and writes XML; never parses untrusted input (which would need defusedxml).
import xml.etree.ElementTree as ET  # nosec B405
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.errors import ConfigError, ConfigProblem, ExitCode
from kernel.terminal_text import terminal_text
from reports.run_files import SUMMARY_FILE, atomic_write_text, load_record, load_summary
from reports.xml_text import xml_text

__all__ = [
    "GATE_FILE",
    "GateRow",
    "GateResult",
    "RowVerdict",
    "Unit",
    "render_table",
    "format_value",
    "limit_text",
    "write_junit",
    "write_gate_result",
    "load_gate_result",
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



def format_value(value: float | None, unit: Unit) -> str:
    """Render a measured value or limit for people: ``812.4 ms``, ``1.25 %``, ``yes``."""
    if value is None:
        return "not measured"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "ratio":
        return f"{100 * value:.2f} %"
    return "yes" if value >= 1 else "no"


def limit_text(row: GateRow) -> str:
    """A row's limit as the table and the JUnit file show it (``<= 800.0 ms``; ``—`` when skipped)."""
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
             format_value(r.measured, r.unit) if r.verdict != "SKIP" else "—", limit_text(r),
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
        measured, limit = format_value(row.measured, row.unit), limit_text(row)
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
