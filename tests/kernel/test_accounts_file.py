"""kernel.accounts_file: the accounts a staging system holds — every bad row named by line and
column, passwords read from where the row says (never from the file), coverage named by commune;
and paths that are no file to read (a pipe, a device, a directory) refused without waiting on them."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kernel.accounts_file import AccountsFile
from kernel.errors import ConfigError
from kernel.targets import load_targets

HEADER = "kind,account,commune,password,full_name,date_of_birth\n"


def _file(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_rows_become_officers_by_commune_citizens_and_systems_with_passwords_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "citizen.txt"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("OFFICER_PW", "from-the-env")
    accounts = AccountsFile.load(_file(tmp_path, (
        "officer,hcm.mc01,26734,env:OFFICER_PW,,\n"
        "officer,hcm.mc02,26734,env:OFFICER_PW,,\n"
        f'citizen,079203001234,26734,file:{secret},"Nguyễn Văn An",1990-05-17\n'
        "agency,000.00.31.H29,,env:OFFICER_PW,,\n")))
    assert accounts.officer("26734", 1) == "hcm.mc01" and accounts.officer("26734", 2) == "hcm.mc02"
    assert accounts.officer("26734", 3) is None and accounts.officer("00004", 1) is None
    assert accounts.citizens[0].full_name == "Nguyễn Văn An" and accounts.citizens[0].date_of_birth == dt.date(1990, 5, 17)
    assert accounts.password("hcm.mc02") == "from-the-env" and accounts.password("079203001234") == "from-a-file"
    assert accounts.unreadable_passwords() == []
    assert "from-the-env" not in repr(accounts)  # held, never shown
    problems = accounts.coverage_problems(
        [("26734", "commune 26734"), ("00004", "commune 00004 Phường Ba Đình (province 01)")], 2,
        [("000.00.31.H29", "axis of 79"), ("province-79", "population client of 79")], citizens_needed=True)
    assert problems == [
        f"{accounts.path} gives 0 officer account(s) for commune 00004 Phường Ba Đình (province 01); the profile "
        "signs in 2 per commune",
        f"{accounts.path} has no account for province-79 (population client of 79)",
    ]


def test_every_bad_row_is_named_by_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        AccountsFile.load(_file(tmp_path, (
            "officer,a.mc01,26734,hunter2,,\n"          # line 2: a literal password
            "chief,a.mc02,26734,env:X,,\n"              # line 3: unknown kind
            "officer,a.mc03,,env:X,,\n"                 # line 4: an officer without a commune
            "citizen,0792,26734,env:X,,17/05/1990\n"    # line 5: no name, a date that is not ISO
            "officer,a.mc04,26734,env:X,,\n"            # line 6: fine
            "officer,a.mc04,26734,env:X,,\n")))         # line 7: the same account again
    found = {(p.line, p.field) for p in refused.value.problems}
    assert found == {(2, "password"), (3, "kind"), (4, "commune"), (5, "full_name"), (5, "date_of_birth"), (7, "account")}
    assert "never the password itself" in str(refused.value)


def test_a_file_without_the_columns_or_with_unreadable_passwords_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("account,password\nx,env:Y\n")
    with pytest.raises(ConfigError, match="missing column"):
        AccountsFile.load(bad)
    bad.write_text("kind,account,commune,password,password\nofficer,a.mc01,26734,env:Y,hunter2\n")
    with pytest.raises(ConfigError) as twice:  # read as the last "password" before: the literal one
        AccountsFile.load(bad)
    assert [(p.line, p.field) for p in twice.value.problems] == [(1, "header")]
    assert "password given twice" in str(twice.value) and "hunter2" not in str(twice.value)
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    accounts = AccountsFile.load(_file(tmp_path, f"officer,a.mc01,26734,env:NOT_SET_HERE,,\n"
                                                  f"officer,a.mc02,26734,file:{tmp_path / 'missing.txt'},,\n"))
    unreadable = {(p.line, p.message.split(":")[0]) for p in accounts.unreadable_passwords()}
    assert unreadable == {(2, "a.mc01"), (3, "a.mc02")}
    assert accounts.unknown_communes({"00004"})[0].line == 2


def test_a_bad_row_after_blank_lines_and_a_field_spanning_lines_is_named_by_its_own_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        AccountsFile.load(_file(tmp_path, (
            "\n"                                                   # line 2: blank
            "\n"                                                   # line 3: blank
            'citizen,079203001234,26734,env:X,"Nguyễn\nVăn An",1990-05-17\n'  # lines 4-5: a name on two lines
            "officer,a.mc01,26734,hunter2,,\n"                     # line 6: a literal password
            "\n"                                                   # line 7: blank
            "chief,a.mc02,26734,env:X,,\n")))                      # line 8: unknown kind
    assert [(p.line, p.field) for p in refused.value.problems] == [(6, "password"), (8, "kind")]


def test_a_control_character_in_a_cell_is_named_and_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        AccountsFile.load(_file(tmp_path, "officer,a.mc01\x00x,26734,env:X,,\nofficer,a.mc02,267\x1b[2J34,env:X,,\n"))
    assert [(p.line, p.field) for p in refused.value.problems] == [(2, "account"), (3, "commune")]
    assert "\x00" not in str(refused.value) and "\x1b" not in str(refused.value)


def test_where_names_an_accounts_row_and_where_its_password_is_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFICER_PW", "from-the-env")
    accounts = AccountsFile.load(_file(tmp_path, "\nofficer,hcm.mc01,26734,env:OFFICER_PW,,\n"))
    assert accounts.where("hcm.mc01") == (3, "env:OFFICER_PW") and accounts.where("nobody") is None


SERVICES = """\
portal: {base_url: "http://127.0.0.1:8701"}
population: {base_url: "http://127.0.0.1:8702"}
axis: {base_url: "http://127.0.0.1:8703"}
"""


def _without_hanging(call: Callable[[], object]) -> object:
    """``call()``'s result or exception, from a daemon thread: a call that blocks on a pipe fails
    the test rather than the whole session (the bound only catches a hang, it measures nothing)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # noqa: BLE001 - handed back to the test, which judges it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "blocked reading a pipe"
    return outcome[0]


def test_an_accounts_file_that_is_a_pipe_is_refused_without_waiting_on_it(tmp_path: Path) -> None:
    fifo = tmp_path / "accounts.csv"
    os.mkfifo(fifo)
    refused = _without_hanging(lambda: AccountsFile.load(fifo))
    assert isinstance(refused, ConfigError), refused
    assert [p.message for p in refused.problems] == [
        "cannot read it: not a regular file (a device or a pipe); give a CSV file with the columns "
        "kind,account,commune,password,full_name,date_of_birth"]


def test_an_accounts_file_that_never_ends_is_not_read() -> None:
    refused = _without_hanging(lambda: AccountsFile.load(Path("/dev/zero")))
    assert isinstance(refused, ConfigError) and "not a regular file" in str(refused), refused


def test_a_password_file_that_is_a_pipe_is_unreadable_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "officer-password"
    os.mkfifo(fifo)
    csv = tmp_path / "accounts.csv"
    csv.write_text(HEADER + f"officer,a.mc01,26734,file:{fifo},,\nofficer,a.mc02,26734,file:/dev/zero,,\n",
                   encoding="utf-8")
    accounts = AccountsFile.load(csv)
    problems = _without_hanging(accounts.unreadable_passwords)
    assert isinstance(problems, list)
    assert [(p.line, p.message) for p in problems] == [
        (2, f"a.mc01: cannot read {fifo}: not a regular file (a device or a pipe)"),
        (3, "a.mc02: cannot read /dev/zero: not a regular file (a device or a pipe)")]


def test_an_empty_password_variable_says_it_may_be_set_but_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_EMPTY_PASSWORD", "")
    csv = tmp_path / "accounts.csv"
    csv.write_text(HEADER + "officer,a.mc01,26734,env:REVIEW_EMPTY_PASSWORD,,\n", encoding="utf-8")
    problems = AccountsFile.load(csv).unreadable_passwords()
    assert [p.message for p in problems] == ["a.mc01: environment variable REVIEW_EMPTY_PASSWORD is not set (or is empty)"]


@pytest.mark.parametrize(("value", "line", "says"), [
    ('""', 4, "credentials.accounts_file: empty; give the accounts CSV file"),
    ("DIR", 4, "credentials.accounts_file: 'DIR': cannot read it: is a directory; give a CSV file"),
])
def test_an_accounts_file_the_targets_file_cannot_use_is_named_in_the_targets_file(
    tmp_path: Path, value: str, line: int, says: str
) -> None:
    """Before: ``ERROR: .: accounts_file: cannot read it: [Errno 21] Is a directory: '.'`` — an
    empty value read as the current directory, and the targets file not named at all."""
    targets = tmp_path / "targets.yaml"
    targets.write_text(SERVICES + f"credentials: {{accounts_file: {value.replace('DIR', str(tmp_path))}}}\n")
    with pytest.raises(ConfigError) as refused:
        load_targets(targets)
    assert len(refused.value.problems) == 1
    problem = refused.value.problems[0]
    assert (problem.file, problem.line) == (str(targets), line)
    assert says.replace("DIR", str(tmp_path)) in str(problem), problem


def test_a_row_of_another_width_than_the_header_is_named_without_showing_its_cells(tmp_path: Path) -> None:
    # A literal password typed in as an extra cell shifts "hunter2" into the commune column,
    # whose error used to quote it; a row cut short shifts nothing but drops a column silently.
    with pytest.raises(ConfigError) as refused:
        AccountsFile.load(_file(tmp_path, (
            "officer,a.mc01,hunter2,26734,env:X,,\n"     # line 2: seven cells
            "officer,a.mc02,26734,env:X\n"               # line 3: four cells
            "officer,a.mc03,26734,env:X,,\n")))          # line 4: fine
    assert [(p.line, p.field) for p in refused.value.problems] == [(2, ""), (3, "")]
    assert "7 cells where the header has 6" in str(refused.value)
    assert "hunter2" not in str(refused.value)
