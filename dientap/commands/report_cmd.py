"""``dientap report RUN_DIR``: re-render a run's report from its journal and summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from kernel.errors import ExitCode
from kernel.terminal_text import terminal_text

__all__ = ["register"]

EXAMPLE = """\
Example:
  dientap report runs/latest                    # writes runs/latest/report.html (works offline)
  dientap report runs/latest --format md > comment.md
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = sub.add_parser(
        "report",
        help="render the dry-run report (HTML, or Markdown for a CI comment)",
        description="Render RUN_DIR/report.html from RUN_DIR/journal.json and summary.json only "
        "(never from a live target). --format md prints a Markdown summary instead.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--format", choices=("html", "md"), default="html")
    parser.add_argument("--budgets", type=Path, default=None, help="take readiness thresholds from this budgets file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    """The ``report`` command."""
    from dientap.commands.preflight import check_run_dir_writable
    from dientap.commands.results_writing import writing
    from reports.budgets import load_budgets
    from reports.html import REPORT_FILE, render_markdown, render_report

    if args.format == "html":  # before anything is read: the report goes into the run directory
        check_run_dir_writable(args.run_dir, REPORT_FILE, instead=", or --format md to print Markdown instead")
    thresholds = load_budgets(args.budgets).readiness if args.budgets else None
    if args.format == "md":
        print(terminal_text(render_markdown(args.run_dir, thresholds)))  # names and reasons from the records
    else:
        with writing(args.run_dir / REPORT_FILE, "the report",
                     again="once there is room, run this command again, or --format md to print Markdown instead"):
            report = render_report(args.run_dir, thresholds)
        print(report)
    return ExitCode.OK
