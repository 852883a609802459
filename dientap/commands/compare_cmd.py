"""``dientap compare RUN_A RUN_B``: two runs side by side, with a verdict per line that
says whether B regressed from A beyond the noise (``reports.compare``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dientap.commands.options import fraction, non_negative_float, positive_int
from kernel.errors import ExitCode
from kernel.terminal_text import terminal_json, terminal_text
from reports.noise_guard import NoiseGuard

__all__ = ["register", "run"]

EXAMPLE = """\
Example:
  dientap compare runs/20261121-093000-ab12 runs/latest
  dientap compare runs/baseline runs/latest --format markdown --output compare.md
  dientap compare runs/baseline runs/latest --min-samples 100 --format json
"""

# The defaults are the NoiseGuard's (declared there, once); the help shows them.
_GUARD = NoiseGuard()


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    parser = sub.add_parser(
        "compare",
        help="compare two runs per endpoint, province and commune (exit 1 when B regressed)",
        description="Compare run B with run A (the baseline) from their records (histograms/latency.hdr, "
        "load.json): counts, error rates and p50/p95/p99 with confidence intervals, and a verdict per line — "
        "regressed, improved, within noise, or not comparable (too few samples; never a failure). A line "
        "regresses only when the intervals do not overlap and the change clears both floors. "
        "Exit 0: nothing regressed; 1: a line regressed; 3: a run directory or record is missing or corrupt.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="the baseline run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="the run to judge against it")
    parser.add_argument("--min-samples", type=positive_int, default=_GUARD.min_samples, metavar="N",
                        help=f"fewer samples on either side: not comparable (default {_GUARD.min_samples})")
    parser.add_argument("--min-growth", type=non_negative_float, default=_GUARD.min_growth, metavar="FRACTION",
                        help=f"smallest relative latency change that counts (default {_GUARD.min_growth:g}: "
                        f"+{100 * _GUARD.min_growth:g} %%)")
    parser.add_argument("--min-delta-ms", type=non_negative_float, default=_GUARD.min_delta_ms, metavar="MS",
                        help=f"smallest absolute latency change that counts (default {_GUARD.min_delta_ms:g} ms)")
    parser.add_argument("--min-error-delta", type=fraction, default=_GUARD.min_error_delta, metavar="POINTS",
                        help=f"smallest error-rate change that counts (default {_GUARD.min_error_delta:g})")
    parser.add_argument("--measure", choices=("sent", "intended"), default="sent",
                        help="latency from the send time (default) or from the intended start time")
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table", dest="output_format")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE", help="write there instead of printing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    """The ``compare`` command: load both runs (every problem before any output), compare, render."""
    from reports.compare import compare_runs
    from reports.compare_render import render, verdict_line
    from reports.compared_run import load_run_pair
    from reports.run_files import atomic_write_text

    if args.output is not None:
        from dientap.commands.preflight import check_output_file

        check_output_file("--output", args.output, "a file to write, in a folder that exists or can be created, e.g. compare.md")
    baseline, current = load_run_pair(args.run_a, args.run_b)
    guard = NoiseGuard(min_samples=args.min_samples, min_growth=args.min_growth, min_delta_ms=args.min_delta_ms,
                       min_error_delta=args.min_error_delta)
    comparison = compare_runs(baseline, current, guard, measure=args.measure)
    for warning in comparison.warnings:
        print(terminal_text(f"WARNING: {warning}", one_line=True), file=sys.stderr)  # quotes the runs' profiles
    text = render(comparison, args.output_format)
    if args.output is None:
        # The table escapes its cells itself; Markdown and JSON carry the records' strings as
        # they are (the file written below keeps them so), but not onto a terminal.
        print(terminal_json(text) if args.output_format == "json" else terminal_text(text))
    else:
        from dientap.commands.results_writing import writing

        with writing(args.output, "the comparison", again="once there is room, run this command again, or leave "
                     "--output out to print it"):
            atomic_write_text(args.output, text + "\n")
        print(f"wrote {args.output}: {verdict_line(comparison)}")
    return comparison.exit_code
