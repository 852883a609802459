"""``dientap gate RUN_DIR --budgets FILE``: the latency-budget gate CI uses to block a release."""

from __future__ import annotations

import argparse
from pathlib import Path

from kernel.errors import ExitCode

__all__ = ["register", "apply_gate"]

EXAMPLE = """\
Example:
  dientap gate runs/latest --budgets reports/budgets.yaml --junit gate.xml
  dientap gate runs/latest --budgets budgets.yaml --baseline runs/20261121-093000-ab12
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``gate`` subcommand."""
    parser = sub.add_parser(
        "gate",
        help="check a run against latency/error/throughput budgets (exit 1 when broken)",
        description="Evaluate RUN_DIR/summary.json against a budgets file (and optionally a baseline run), "
        "print budget / measured / limit / verdict, write RUN_DIR/gate.json and optional JUnit XML. "
        "Exit 0: within budget; 1: a budget is broken; 3: invalid budgets file or run directory.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--budgets", type=Path, default=None, help="budgets YAML (default: the shipped reports/budgets.yaml)")
    parser.add_argument("--baseline", type=Path, default=None, help="baseline run directory for regression limits")
    parser.add_argument("--junit", type=Path, default=None, help="write JUnit XML (one test case per budget line)")
    parser.set_defaults(func=run)


def apply_gate(run_dir: Path, budgets: Path | None, baseline: Path | None, junit: Path | None, *,
               again: str = "once there is room, run this command again") -> ExitCode:
    """Evaluate, print the table, write gate.json/JUnit; return the gate's exit code. A gate.json
    that cannot be written is :class:`OutputNotWritten`, saying ``again``: how to judge later."""
    from dientap.commands.results_writing import writing
    from reports.gate import GATE_FILE, render_table, run_gate

    # The JUnit file's own problems are the gate's (ConfigError); what else fails to be written is gate.json.
    with writing(Path(run_dir) / GATE_FILE, "the gate's verdict", again=again):
        result = run_gate(run_dir, budgets, baseline, junit)
    print(render_table(result))
    return ExitCode(result.exit_code)


def run(args: argparse.Namespace) -> ExitCode:
    """The ``gate`` command: a --junit path, or a run directory gate.json cannot be written in,
    is refused before anything is evaluated or written."""
    from dientap.commands.preflight import check_run_dir_writable

    check_run_dir_writable(args.run_dir, "the gate's verdict (gate.json)")
    if args.junit is not None:
        from dientap.commands.preflight import JUNIT_FORMS, check_output_file

        check_output_file("--junit", args.junit, JUNIT_FORMS)
    return apply_gate(args.run_dir, args.budgets, args.baseline, args.junit)
