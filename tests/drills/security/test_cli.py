"""``dientap security``: list, run, exit codes, scorecard in the run directory and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dientap.cli import main
from dientap.errors import ExitCode
from drills.security import all_checks
from reports.journal import load_journal


def test_list_shows_every_check_and_the_weakness_it_plants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["security", "--list"]) == ExitCode.OK
    out = capsys.readouterr().out
    for c in all_checks():
        assert c.spec.id in out and c.spec.title in out
    assert "population:jwt_alg_none" in out and "portal:no_lockout, portal:trust_forwarded_for" in out


def test_unknown_check_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["security", "--checks", "auth.lockout,auth.nope", "--out", str(tmp_path)]) == ExitCode.USAGE_ERROR
    assert "ERROR: unknown security check(s) auth.nope; known checks:" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_help_ends_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["security", "--help"])
    out = capsys.readouterr().out
    assert "Example:" in out and "--under-load" in out and "--target" in out


@pytest.mark.e2e
def test_embedded_run_writes_scorecard_journal_and_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["security", "--checks", "auth.lockout,exposure.verify-mismatch,integrity.untrusted-ca",
                 "--population-size", "3000", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    lines = [line for line in out.splitlines() if line.split(" ", 1)[0] in
             ("auth.lockout", "exposure.verify-mismatch", "integrity.untrusted-ca")]
    assert [line.split()[1] for line in lines] == ["PASS", "PASS", "PASS"]
    run_dir = (tmp_path / "latest").resolve()
    card = json.loads((run_dir / "security.json").read_text())
    assert [c["id"] for c in card["checks"]] == ["auth.lockout", "exposure.verify-mismatch", "integrity.untrusted-ca"]
    journal = load_journal(run_dir)
    assert journal.security is not None and journal.security.checks[0].phase == "contain"
    assert [e.name for e in journal.events if e.kind == "security_check"] == [c["id"] for c in card["checks"]]
    html = (run_dir / "report.html").read_text()
    assert 'id="security"' in html and "3 of 3 checks passed" in html


@pytest.mark.e2e
def test_a_failing_check_exits_non_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The hardened portal has no cross-account stuffing detector: this check fails (see test_hardened).
    code = main(["security", "--checks", "auth.credential-stuffing", "--population-size", "3000",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == ExitCode.BUDGET_BREACHED
    assert "auth.credential-stuffing         FAIL  120 failed sign-ins over 60 accounts" in out
    assert "0 passed, 1 failed, 0 could not run (of 1)" in out
