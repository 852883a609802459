"""What a hostile target put in the records reaches the console as text, never as terminal control.

The run directories are written by the project's own record writers, holding what a target
may answer with: an escape sequence that erases and climbs a line, a carriage return that
overwrites it, an OSC 8 hyperlink, the one-byte C1 form of ESC ``[`` and NEL, the bidi
overrides that reorder a line, and line feeds. The CLI runs as a real process, its output is
read as the bytes a terminal or a CI log would get, and none of those bytes may be there —
the gate's FAIL row must not be able to make itself read PASS.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dientap.cli import _TerminalFormatter
from dientap.commands.drill_cmd import _print_result
from dientap.commands.run_cmd import finish_run
from dientap.commands.security_cmd import _Progress
from drills.security import console_line
from kernel.errors import ExitCode
from reports.drill_result import DrillResult, HypothesisCheck, ReconciliationRow
from reports.gate import load_gate_result
from reports.run_files import write_run_dir
from reports.security_scorecard import SecurityCheckResult
from reports.summary import AbortInfo, GeneratorHealth
from tests.reports.compare_support import latencies, write_recorded_run
from tests.reports.rpt_support import endpoint, make_journal, make_summary

ROOT = Path(__file__).parents[2]

# Erase the line and climb one, return to its start, a hyperlink, C1 CSI and NEL, a
# right-to-left override and isolate, and a line feed that would start a fake row.
HOSTILE = ("\x1b[2K\x1b[1A\r\x1b]8;;http://evil.example\x07PASS\x1b]8;;\x07 \x9b2K\x85 "
           "\u202eSSAP\u202c \u2066x\u2069\nportal GET /fake  1.0 ms  <= 9.0 ms  PASS")

# Independent of the code under test: the raw bytes a terminal acts on, as UTF-8 writes them.
# Only the line feed is allowed (the program's own line ends).
RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]|"
                         rb"\xd8\x9c")
SHOWN = "\\x1b]8;;http://evil.example\\x07PASS"  # how the hyperlink reads once escaped


def _dientap(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a CI job runs it; stdout and stderr as the bytes the terminal gets."""
    return subprocess.run([sys.executable, "-m", "dientap.cli", *map(str, args)], cwd=ROOT,  # nosec B603
                          capture_output=True, timeout=120, check=False)


def _raw_controls(output: bytes) -> list[bytes]:
    return RAW_CONTROL.findall(output)


def _hostile_run(run_dir: Path) -> None:
    """A run whose endpoint name, abort reason and generator reason all quote the target."""
    summary = make_summary(endpoint("portal", f"POST /dossiers {HOSTILE}", p95=900.0))
    summary = summary.model_copy(update={"abort": AbortInfo(aborted=True, reason=HOSTILE),
                                         "generator": GeneratorHealth(trustworthy=False, reasons=[HOSTILE])})
    write_run_dir(run_dir, make_journal(summary.run_id), summary)


def test_the_gate_table_shows_hostile_names_and_reasons_escaped_one_row_each(tmp_path: Path) -> None:
    _hostile_run(tmp_path)
    done = _dientap("gate", tmp_path)
    assert done.returncode == ExitCode.BUDGET_BREACHED, done.stderr.decode(errors="replace")
    assert _raw_controls(done.stdout) == [] and _raw_controls(done.stderr) == []
    out = done.stdout.decode("utf-8")
    result = load_gate_result(tmp_path)
    assert result is not None
    lines = out.splitlines()
    assert len(lines) == 2 + len(result.rows) + 1  # header, rule, one line per row, verdict: no row split
    verdicts = lines[0].index("Verdict")
    for row, line in zip(result.rows, lines[2:], strict=False):
        assert line[verdicts:].startswith(row.verdict), line  # each row's verdict in its column
    assert "portal GET /fake" not in "\n".join(line.split(" ")[0] for line in lines)  # no fake row begins a line
    assert SHOWN in out and "\\u202eSSAP\\u202c" in out and "\\x9b2K\\x85" in out
    assert lines[-1].endswith("BUDGET BROKEN (exit 1)")


@pytest.fixture
def hostile_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two recorded runs of an endpoint the target named; run B's profile quotes it too (a warning)."""
    keys = [("portal", f"GET /procedures {HOSTILE}", "01")]
    a = write_recorded_run(tmp_path / "a", "a", {k: latencies(200, seed=1) for k in keys})
    b = write_recorded_run(tmp_path / "b", "b", {k: latencies(200, seed=2, shift_ms=50) for k in keys},
                           profile=f"smoke {HOSTILE}")
    return a, b


def test_compare_prints_the_table_and_its_warning_with_no_control_byte(hostile_pair: tuple[Path, Path]) -> None:
    done = _dientap("compare", *hostile_pair)
    assert done.returncode == ExitCode.BUDGET_BREACHED, done.stderr.decode(errors="replace")
    assert _raw_controls(done.stdout) == [] and _raw_controls(done.stderr) == []
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert SHOWN in out and SHOWN in err
    assert len(err.splitlines()) == 1 and err.startswith("WARNING: runs differ: profile smoke vs smoke ")
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("portal GET /procedures"))
    assert "  A  " in lines[at] and lines[at + 1].startswith("  regressed")  # A's row whole, B's right below
    assert "Thành phố Hà Nội" in out  # diacritics as they are


def test_compare_json_on_a_terminal_has_no_control_byte_and_is_the_same_json(hostile_pair: tuple[Path, Path]) -> None:
    done = _dientap("compare", *hostile_pair, "--format", "json")
    assert _raw_controls(done.stdout) == []
    subjects = [line["subject"] for line in json.loads(done.stdout)["lines"]]
    # The JSON escapes read back as the very characters the records hold.
    assert any("\x1b]8;;http://evil.example\x07PASS" in s and "\x9b2K" in s and "\u202e" in s for s in subjects)


def test_compare_markdown_and_report_markdown_on_a_terminal_have_no_control_byte(
        hostile_pair: tuple[Path, Path], tmp_path: Path) -> None:
    compared = _dientap("compare", *hostile_pair, "--format", "markdown")
    assert _raw_controls(compared.stdout) == []
    assert "http://evil.example\\x07PASS" in compared.stdout.decode("utf-8")  # Markdown escaped the brackets too
    _hostile_run(tmp_path / "run")
    reported = _dientap("report", tmp_path / "run", "--format", "md")
    assert reported.returncode == ExitCode.OK, reported.stderr.decode(errors="replace")
    assert _raw_controls(reported.stdout) == [] and _raw_controls(reported.stderr) == []


def test_the_end_of_a_run_prints_the_abort_and_generator_reasons_escaped(tmp_path: Path,
                                                                       capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    run_dir = tmp_path / "runs" / "run-1"
    _hostile_run(run_dir)
    assert finish_run(tmp_path / "runs", run_dir, 0, 1.0) == ExitCode.BUDGET_BREACHED
    captured = capfdbinary.readouterr()
    assert _raw_controls(captured.out) == [] and _raw_controls(captured.err) == []
    (aborted,) = [line for line in captured.err.decode("utf-8").splitlines() if line.startswith("ABORTED:")]
    assert SHOWN in aborted and aborted.endswith("PASS")  # the fake row stayed on the ABORTED line
    assert SHOWN in captured.out.decode("utf-8")


def test_a_security_check_quoting_the_target_prints_one_line_with_no_control_byte(
        capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    result = SecurityCheckResult(id="auth.lockout", title="Lockout", owasp="API2:2023", verdict="FAIL",
                                 summary=f"the target answered 200: {HOSTILE}")
    line = console_line(result)
    assert "\n" not in line and line.startswith("auth.lockout") and SHOWN in line
    _Progress()(result, 0.5)  # what `dientap security` does with each result
    out = capfdbinary.readouterr().out
    assert _raw_controls(out) == [] and out.count(b"\n") == 1


def test_the_drill_result_prints_target_strings_escaped_one_line_each(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    check = HypothesisCheck(phase="during", probe=f"portal p95 {HOSTILE}", expected="< 800 ms", measured=HOSTILE, ok=False)
    row = ReconciliationRow(item_kind="dossiers", ok=1, lost=1, duplicated=0, unexpected=0, recovered=0,
                            lost_ids=[f"hs-{HOSTILE}"])
    _print_result(DrillResult(name="axis-partition", title="Axis partition", verdict="FAIL", hypothesis=[check],
                              reconciliation=[row], expectations=[HOSTILE], error=f"target said: {HOSTILE}"))
    out = capfdbinary.readouterr().out
    assert _raw_controls(out) == []
    lines = out.decode("utf-8").splitlines()
    assert len(lines) == 6 and lines[-1] == "drill axis-partition: FAIL"
    assert all(SHOWN in line for line in (lines[0], lines[2], lines[3], lines[4]))


def test_a_log_line_quoting_the_target_is_escaped_and_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        record = logging.LogRecord("dientap.security", logging.ERROR, __file__, 1, "check crashed: %s", (HOSTILE,),
                                   exc_info=sys.exc_info())
    line = _TerminalFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert _raw_controls(line.encode("utf-8")) == []
    message, *traceback = line.splitlines()
    assert message.startswith("ERROR dientap.security: check crashed: \\x1b[2K") and SHOWN in message
    assert message.endswith("\\nportal GET /fake  1.0 ms  <= 9.0 ms  PASS")  # the fake line stayed in the message
    # A traceback spans lines by nature (and an exception's message keeps its line feeds there):
    # its control characters are escaped, its lines kept.
    assert traceback[0] == "Traceback (most recent call last):"
    assert any(line.startswith("ValueError: \\x1b[2K") and SHOWN in line for line in traceback)
