"""kernel.accounts_file: the accounts a staging system holds — every bad row named by line and
column, passwords read from where the row says (never from the file), coverage named by commune."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kernel.accounts_file import AccountsFile
from kernel.errors import ConfigError

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


def test_where_names_an_accounts_row_and_where_its_password_is_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFICER_PW", "from-the-env")
    accounts = AccountsFile.load(_file(tmp_path, "\nofficer,hcm.mc01,26734,env:OFFICER_PW,,\n"))
    assert accounts.where("hcm.mc01") == (3, "env:OFFICER_PW") and accounts.where("nobody") is None
