"""The exception tree of dientap, and the exit codes the CLI maps it to.

::

    DientapError
     ├── ConfigError            a config file or flag is invalid (names file, line, field)
     ├── TargetNotAllowed       traffic would leave the allowlist
     ├── AccountsMissing        the target lacks an account the profile signs in as
     ├── UsageError             the command line is wrong (unknown profile, drill, ...)
     ├── DrillFailed            a drill's hypothesis or reconciliation did not hold
     ├── BudgetBreached         a latency/error budget is broken
     ├── ServiceStartError      a mock or helper process did not become healthy
     └── OutputNotWritten       a file the command writes could not be (disk full, read-only, too large)

Every error carries the exit code the CLI uses for it, so ``main()`` maps exceptions
to :class:`ExitCode` in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``dientap`` CLI (documented in ``--help`` and README)."""

    OK = 0
    BUDGET_BREACHED = 1  # also: a drill or security check failed
    USAGE_ERROR = 2
    CONFIG_ERROR = 3
    TARGET_NOT_ALLOWED = 4
    INTERNAL_ERROR = 70
    INTERRUPTED = 130


DRILL_FAILED = ExitCode.BUDGET_BREACHED


class DientapError(Exception):
    """Base of every error dientap reports to a user as one ``ERROR:`` line."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR


class UsageError(DientapError):
    """The command line names something that does not exist or is malformed."""

    exit_code = ExitCode.USAGE_ERROR


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where it is and what rule it breaks."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(DientapError):
    """A config file (profile, drill, budgets, readiness, targets) is invalid.

    Holds *all* problems found, each naming file, line and field.
    """

    exit_code = ExitCode.CONFIG_ERROR

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TargetNotAllowed(DientapError):
    """A base URL points at a host outside the allowlist.

    ``problems`` holds one :class:`ConfigProblem` per URL refused when they come from a file
    (a targets file names three services), so a caller can list them one per line; the
    message joins them with "; ".
    """

    exit_code = ExitCode.TARGET_NOT_ALLOWED

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None):
        self.problems = list(problems or [])
        super().__init__(message)

    @classmethod
    def of(cls, problems: list[ConfigProblem]) -> TargetNotAllowed:
        """One error for several refused URLs, each kept as a problem."""
        return cls("; ".join(str(p) for p in problems), problems)


class AccountsMissing(DientapError):
    """The target does not hold an account the profile will sign in as (checked before any load)."""

    exit_code = ExitCode.CONFIG_ERROR


class DrillFailed(DientapError):
    """A drill's steady-state hypothesis, expectations or reconciliation failed."""

    exit_code = DRILL_FAILED


class BudgetBreached(DientapError):
    """A run broke its latency/error/throughput budget."""

    exit_code = ExitCode.BUDGET_BREACHED


class ServiceStartError(DientapError):
    """A service process exited or never became healthy."""

    exit_code = ExitCode.INTERNAL_ERROR


class OutputNotWritten(DientapError):
    """A file a command writes once its work is done (a report, a verdict, a scorecard) could
    not be written: the disk is full, a size limit or a read-only file system refused it.

    Not a bug, so no traceback: one line naming the file and why. The exit code is the one a
    run that could not finish gets (a service that would not start is another).
    """

    exit_code = ExitCode.INTERNAL_ERROR
