"""Accounts a staging system really holds, instead of passwords derived from one secret.

A real staging system will not hold an account for every synthetic citizen, nor passwords
derived from dientap's dry-run secret. ``targets.yaml`` may name an accounts file::

    credentials:
      accounts_file: /secure/staging-accounts.csv

a CSV with a header row (the standard library's ``csv``; RFC 4180 quoting)::

    kind,account,commune,password,full_name,date_of_birth
    officer,hcm.tanhung.mc01,26734,env:STAGING_OFFICER_PASSWORD,,
    citizen,079203001234,26734,file:/secure/citizen-079203001234.txt,Nguyễn Văn An,1990-05-17
    agency,000.00.31.H29,,env:STAGING_AXIS_SECRET,,
    client,province-79,,env:STAGING_C06_SECRET,,

* ``kind`` — ``officer`` (a commune's one-stop officer: the n-th officer row of a commune
  plays its officer n), ``citizen`` (a resident who submits: personal ID, full name and
  date of birth as the target's population data holds them), ``agency`` (a document-axis
  system, by agency code) or ``client`` (a population-database client, ``province-NN``);
* ``password`` — **where** the password is, never the password: ``env:NAME`` (an
  environment variable of the load processes) or ``file:PATH`` (a file holding it, one
  line). A literal is refused, so the file itself holds no secret; passwords are read
  when the run starts, kept in memory and never written to the journal, the report or
  the run configuration.

:meth:`AccountsFile.coverage_problems` names every commune (and province) the profile
plays that the file gives no account for, so a run stops before any load with an
``ERROR:`` naming the commune, rather than failing its sign-ins against the target.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import io
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kernel.errors import ConfigError, ConfigProblem

__all__ = ["ACCOUNT_KINDS", "AccountsFile", "CitizenAccount"]

ACCOUNT_KINDS = ("officer", "citizen", "agency", "client")
_COLUMNS = ("kind", "account", "commune", "password", "full_name", "date_of_birth")
_MAX_ROWS = 1_000_000  # a bound on what one file may hold (the national roster needs ~30,000)


# C0 controls and DEL, but not the tab and line ends a quoted cell may hold (a name on two lines).
_CONTROLS = frozenset(chr(code) for code in (*range(32), 127)) - {"\t", "\n", "\r"}
_MAX_FILE_BYTES = 256 * 1024 * 1024  # _MAX_ROWS rows of ~250 bytes; read whole, so bounded
_MAX_PASSWORD_BYTES = 64 * 1024  # a password file holds one line


def _read_regular_file(path: Path, limit: int, encoding: str) -> str:
    """The text of the regular file at ``path``, of at most ``limit`` bytes (else OSError).

    Anything else is refused without reading from it: a pipe may never answer (the check
    would hang before the run starts), and /dev/zero never ends. Opened without blocking, so
    a pipe is found by what it is, not by waiting on it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file (a device or a pipe)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes")
    return data.decode(encoding)


def _why(error: OSError) -> str:
    # strerror, not str(error): the latter repeats the path, and says "[Errno 21]".
    return (error.strerror or str(error)).lower()


@dataclass(frozen=True, slots=True)
class CitizenAccount:
    """A citizen the target holds: what a submission's applicant block carries."""

    personal_id: str
    full_name: str
    date_of_birth: dt.date
    commune_code: str


@dataclass
class AccountsFile:
    """The accounts of one file, and their passwords (read from where each row says)."""

    path: Path
    officers: dict[str, list[str]] = field(default_factory=dict)  # commune code → officer accounts in file order
    citizens: list[CitizenAccount] = field(default_factory=list)
    systems: set[str] = field(default_factory=set)  # agency codes and client IDs
    _where: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)  # account → (line, reference)
    _communes: list[tuple[int, str]] = field(default_factory=list, repr=False)  # (line, commune code) of each row
    _passwords: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> AccountsFile:
        """Read and check the file (every problem, each naming its line and column)."""
        path = Path(path)
        try:
            text = _read_regular_file(path, _MAX_FILE_BYTES, "utf-8-sig")
        except OSError as exc:
            raise ConfigError([ConfigProblem(str(path), None, "accounts_file", f"cannot read it: {_why(exc)}; give "
                                             f"a CSV file with the columns {','.join(_COLUMNS)}")]) from None
        except UnicodeDecodeError as exc:
            raise ConfigError([ConfigProblem(str(path), None, "accounts_file", f"cannot read it: {exc}; save it "
                                             "as UTF-8")]) from None
        accounts = cls(path)
        problems: list[ConfigProblem] = []
        # Lines are counted by the reader itself (``line_num``), not by rows: a blank line or
        # a quoted field that spans lines would otherwise shift every line number after it.
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = tuple(next(reader, ()))
            missing = [column for column in _COLUMNS[:4] if column not in header]
            if missing:
                raise ConfigError([ConfigProblem(str(path), 1, "header", f"missing column(s) {', '.join(missing)}; "
                                                 f"the columns are {','.join(_COLUMNS)}")])
            twice = sorted({column for column in header if header.count(column) > 1})
            if twice:  # which of two "password" columns holds the password? Not ours to guess
                raise ConfigError([ConfigProblem(str(path), 1, "header", f"column(s) {', '.join(twice)} given twice; "
                                                 f"the columns are {','.join(_COLUMNS)}, each once")])
            rows, end = 0, reader.line_num
            for record in reader:
                line, end = end + 1, reader.line_num  # the record's first line (its last is ``end``)
                if not record:  # a blank line
                    continue
                rows += 1
                if rows > _MAX_ROWS:
                    problems.append(ConfigProblem(str(path), line, "", f"more than {_MAX_ROWS:,} rows"))
                    break
                if len(record) != len(header):
                    # A cell missing or one too many shifts every cell after it into the wrong
                    # column, and a shifted row is where a literal password lands in a column
                    # whose errors quote their cell: the row is named by its width, never shown.
                    problems.append(ConfigProblem(str(path), line, "", (
                        f"{len(record)} cells where the header has {len(header)}; give every row the header's "
                        "columns, an empty cell for one that does not apply (the cells are not shown: a "
                        "shifted row may hold a password)")))
                    continue
                problems.extend(accounts._add(line, dict(zip(header, record, strict=True))))
        except csv.Error as exc:
            problems.append(ConfigProblem(str(path), reader.line_num, "", f"not CSV: {exc}"))
        if problems:
            raise ConfigError(problems)
        return accounts

    def where(self, account: str) -> tuple[int, str] | None:
        """The line of ``account``'s row and where its password is (``env:NAME``, ``file:PATH``),
        or None — for an error that must point at the row to fix, never at the password."""
        return self._where.get(account)

    def _add(self, line: int, row: dict[str, str]) -> list[ConfigProblem]:
        def value(column: str) -> str:
            return (row.get(column) or "").strip()

        def problem(column: str, message: str) -> ConfigProblem:
            return ConfigProblem(str(self.path), line, column, message)

        kind, account, commune, reference = value("kind"), value("account"), value("commune"), value("password")
        controls = [column for column in _COLUMNS if any(c in _CONTROLS for c in value(column))]
        if controls:  # a NUL or an escape sequence in a name is sent to the target and echoed to terminals
            return [problem(column, "holds a control character (a NUL, an escape...); a cell holds text")
                    for column in controls]
        if kind not in ACCOUNT_KINDS:
            return [problem("kind", f"{kind!r} is not one of {', '.join(ACCOUNT_KINDS)}")]
        problems = []
        if not account:
            problems.append(problem("account", "empty"))
        elif account in self._where:
            problems.append(problem("account", f"{account!r} is already on line {self._where[account][0]}"))
        scheme, _, target = reference.partition(":")
        if scheme not in ("env", "file") or not target:
            problems.append(problem("password", "give env:NAME or file:PATH — where the password is, never the "
                                    "password itself"))
        if kind in ("officer", "citizen") and not commune:
            problems.append(problem("commune", f"a {kind} belongs to a commune: give its code"))
        birth = None
        if kind == "citizen":
            if not value("full_name"):
                problems.append(problem("full_name", "a citizen's full name as the target's population data holds it"))
            try:
                birth = dt.date.fromisoformat(value("date_of_birth"))
            except ValueError:
                problems.append(problem("date_of_birth", f"{value('date_of_birth')!r} is not a date (YYYY-MM-DD)"))
        if problems:
            return problems
        self._where[account] = (line, reference)
        if commune:
            self._communes.append((line, commune))
        if kind == "officer":
            self.officers.setdefault(commune, []).append(account)
        elif kind == "citizen":
            assert birth is not None
            self.citizens.append(CitizenAccount(account, value("full_name"), birth, commune))
        else:
            self.systems.add(account)
        return []

    def unknown_communes(self, known: set[str]) -> list[ConfigProblem]:
        """Rows whose commune code is not one of ``known`` (the 2025 roster's)."""
        return [ConfigProblem(str(self.path), line, "commune", f"{code!r} is not a commune code of the 2025 roster")
                for line, code in self._communes if code not in known]

    def unreadable_passwords(self) -> list[ConfigProblem]:
        """Every row whose password cannot be read now (an unset variable, a missing file)."""
        problems = []
        for account, (line, reference) in self._where.items():
            try:
                self._read(reference)
            except LookupError as exc:
                problems.append(ConfigProblem(str(self.path), line, "password", f"{account}: {exc}"))
        return problems

    def password(self, account: str) -> str:
        """The password of ``account`` (read once, then kept in memory)."""
        known = self._passwords.get(account)
        if known is not None:
            return known
        where = self._where.get(account)
        if where is None:
            raise LookupError(f"{self.path} has no account {account!r}")
        password = self._passwords[account] = self._read(where[1])
        return password

    @staticmethod
    def _read(reference: str) -> str:
        scheme, _, target = reference.partition(":")
        if scheme == "env":
            value = os.environ.get(target)
            if not value:
                raise LookupError(f"environment variable {target} is not set (or is empty)")
            return value
        try:
            text = _read_regular_file(Path(target), _MAX_PASSWORD_BYTES, "utf-8").strip()
        except OSError as exc:
            raise LookupError(f"cannot read {target}: {_why(exc)}") from None
        except UnicodeDecodeError:  # its message quotes none of the bytes, but say less: it is a secret
            raise LookupError(f"cannot read {target}: not UTF-8 text") from None
        if not text:
            raise LookupError(f"{target} is empty")
        return text

    def officer(self, commune_code: str, number: int) -> str | None:
        """The account that plays officer ``number`` (1-based) of a commune, or None."""
        accounts = self.officers.get(commune_code, [])
        return accounts[number - 1] if 0 < number <= len(accounts) else None

    def coverage_problems(self, communes: Iterable[tuple[str, str]], officers_per_commune: int,
                          systems: Iterable[tuple[str, str]], citizens_needed: bool) -> list[str]:
        """What the profile needs and the file lacks: ``communes`` as (code, "commune 00004
        Phường Ba Đình (province 01)"), ``systems`` as (agency code or client ID, whose)."""
        problems = []
        for code, whose in communes:
            held = len(self.officers.get(code, []))
            if held < officers_per_commune:
                problems.append(f"{self.path} gives {held} officer account(s) for {whose}; the profile signs in "
                                f"{officers_per_commune} per commune")
        for account, whose in systems:
            if account not in self.systems:
                problems.append(f"{self.path} has no account for {account} ({whose})")
        if citizens_needed and not self.citizens:
            problems.append(f"{self.path} has no citizen rows; the profile's citizens sign in and submit")
        return problems
