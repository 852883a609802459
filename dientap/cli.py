"""The ``dientap`` command line: the one entry point that wires mocks, scenarios, drills,
metrics and reports together."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
import traceback
from typing import Any

from dientap import __version__
from dientap.commands.options import CliParser
from dientap.commands.results_writing import os_reason, shown_path
from kernel.errors import ConfigError, DientapError, ExitCode
from kernel.stopping import STOP
from kernel.terminal_text import terminal_text

__all__ = ["main", "build_parser"]

# Subcommand modules, in the order --help lists them. A module that is not there yet
# (a part still being built) is skipped rather than breaking the whole CLI.
COMMANDS = (
    "dientap.commands.run_cmd",
    "dientap.commands.mocks_cmd",
    "dientap.commands.worker_cmd",
    "dientap.commands.drill_cmd",
    "dientap.commands.security_cmd",
    "dientap.commands.gate_cmd",
    "dientap.commands.compare_cmd",
    "dientap.commands.report_cmd",
    "dientap.commands.validate_cmd",
)

EXIT_CODES = "\n".join(f"  {code.value:<4} {code.name}" for code in ExitCode)

DESCRIPTION = f"""\
dientap — rehearse Vietnam's nationwide e-government go-live: mocks of the national
portal, population database and document axis; a nationwide Locust dry run; fault and
security drills; a report and a latency-budget gate for CI.

exit codes:
{EXIT_CODES}
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = CliParser(
        prog="dientap",
        description=DESCRIPTION,
        epilog="Example:\n  dientap run smoke\n  dientap mocks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dientap {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    for module_name in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(sub)
    return parser


class _TerminalFormatter(logging.Formatter):
    """Log lines with their control characters escaped: a message or a traceback may quote a
    target's answer, and stderr is a terminal or a CI log. A message stays one line (a line
    feed in it could start a line that looks like ours); a traceback keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return terminal_text(super().formatMessage(record), one_line=True)

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return terminal_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return terminal_text(super().formatStack(stack_info))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to one ``ERROR:`` line and an :class:`ExitCode`."""
    with STOP.installed():  # first: a Ctrl-C while the commands' modules load must count too
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return ExitCode.USAGE_ERROR
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, not at exit: a closed pipe must reach the handler below
        return code
    except ConfigError as exc:
        for problem in exc.problems:
            print(terminal_text(f"ERROR: {problem}"), file=sys.stderr)  # a problem may quote a record
        return exc.exit_code
    except DientapError as exc:
        print(terminal_text(f"ERROR: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`dientap drill --list | head`): not an error of ours, and
        # nothing more can be said on that pipe. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    except OSError as exc:
        if exc.errno not in _STORAGE_REFUSED:
            return _internal_error(exc)
        # A disk that filled during the run, a file-size limit, a file system remounted
        # read-only, met by a write no command wraps itself (results_writing): not a bug, so
        # one line and no traceback. What was written before stays where it is.
        where = f"{shown_path(exc.filename)}: " if exc.filename else ""
        print(terminal_text(f"ERROR: {where}cannot write: {os_reason(exc)}"), file=sys.stderr)
        return ExitCode.INTERNAL_ERROR
    except Exception as exc:  # noqa: BLE001 - the last resort: a bug, printed with its traceback
        return _internal_error(exc)


# What a write meets when the storage refuses it, whatever the code that wrote: never a bug of ours.
_STORAGE_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def _internal_error(exc: Exception) -> ExitCode:
    """A bug of ours, not a user's mistake (an import that fails, say): the traceback to
    report it with, and exit 70 — not the interpreter's 1, which means a broken budget.
    Called while ``exc`` is being handled, so its traceback is at hand."""
    print(terminal_text(traceback.format_exc()), end="", file=sys.stderr)  # its message may quote an answer
    print(terminal_text(f"ERROR: internal error (a bug in dientap, traceback above): {type(exc).__name__}: {exc}"),
          file=sys.stderr)
    return ExitCode.INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
