"""``dientap security``: list, run, exit codes, scorecard in the run directory and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dientap.cli import main
from drills.security import all_checks
from kernel.defaults import POPULATION_RATE_LIMIT_BURST, POPULATION_RATE_LIMIT_PER_S
from kernel.errors import ExitCode
from reports.run_files import load_journal


def test_list_shows_every_check_and_the_weakness_it_plants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["security", "--list"]) == ExitCode.OK
    out = capsys.readouterr().out
    for c in all_checks():
        assert c.spec.id in out and c.spec.title in out
    assert "population:jwt_alg_none" in out and "portal:no_lockout, portal:trust_forwarded_for" in out
    assert "OWASP API Security Top 10 (2023):" in out
    for line in ("API7:2023 Server Side Request Forgery", "API10:2023 Unsafe Consumption of APIs"):
        assert line in out and "NOT COVERED" not in next(x for x in out.splitlines() if line in x)


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
    # The embedded mocks run the shipped defaults, and the run says which limits it judged.
    stated = (f"target limits: population throttle {POPULATION_RATE_LIMIT_PER_S:g}/s per client, burst "
              f"{POPULATION_RATE_LIMIT_BURST}; portal lockout after 5 failed sign-ins, for 300 s; "
              "token lifetime portal 900 s, population 900 s, axis 900 s")
    assert stated in out
    run_dir = (tmp_path / "latest").resolve()
    card = json.loads((run_dir / "security.json").read_text())
    assert card["target_limits"]["throttle_rate_per_s"] == POPULATION_RATE_LIMIT_PER_S
    assert [c["id"] for c in card["checks"]] == ["auth.lockout", "exposure.verify-mismatch", "integrity.untrusted-ca"]
    journal = load_journal(run_dir)
    assert journal.security is not None and journal.security.checks[0].phase == "contain"
    assert [e.name for e in journal.events if e.kind == "security_check"] == [c["id"] for c in card["checks"]]
    html = (run_dir / "report.html").read_text()
    assert 'id="security"' in html and "3 of 3 checks passed" in html
    assert stated.removeprefix("target limits: ") in html


@pytest.mark.e2e
def test_a_failing_check_exits_non_zero(
        module_cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A portal with the planted `no_lockout` weakness lets credential stuffing through.
    cluster = module_cluster(vulnerable={"portal": ["no_lockout"]})
    urls = cluster.urls
    targets = tmp_path / "weak.yaml"
    targets.write_text(
        "name: weak-portal\n"
        f"portal: {{base_url: {urls['portal']}}}\npopulation: {{base_url: {urls['population']}}}\n"
        f"axis: {{base_url: {urls['axis']}}}\n"
        "credentials: {secret_env: WEAK_SECRET, admin_token_env: WEAK_ADMIN}\n")
    monkeypatch.setenv("WEAK_SECRET", "dientap-dry-run")
    monkeypatch.setenv("WEAK_ADMIN", cluster.config.admin_token)
    code = main(["security", "--target", str(targets), "--checks", "auth.credential-stuffing", "--population-size", "3000",
                 "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == ExitCode.BUDGET_BREACHED
    assert "auth.credential-stuffing         FAIL  120 failed sign-ins over 60 accounts" in out
    assert "0 passed, 1 failed, 0 could not run (of 1)" in out


@pytest.mark.e2e
def test_under_load_adds_the_scorecard_to_the_dry_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Checks that judge "no change of state" must not mistake the load's own writes for theirs.
    code = main(["security", "--under-load", "smoke", "--duration", "12", "--population-size", "3000",
                 "--checks", "input.injection,abuse.idempotency-reuse,integrity.tampered-package",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    run_dir = (tmp_path / "latest").resolve()
    journal = load_journal(run_dir)
    assert journal.provenance.profile == "smoke"
    assert [c.verdict for c in journal.security.checks] == ["PASS", "PASS", "PASS"]
    # The attacks sit on the load's timeline, within the 12 s run (Locust's own start-up,
    # which the journal's clock starts from, varies with the machine's load).
    offsets = [e.offset_s for e in journal.events if e.kind == "security_check"]
    assert len(offsets) == 3 and all(-5 < o < 12 for o in offsets), offsets
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["requests"]["total"] > 0  # the load really ran alongside
    assert "Security scorecard" in (run_dir / "report.html").read_text()


@pytest.mark.e2e
def test_a_targets_file_points_the_checks_at_a_staging_like_target(
        module_cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = module_cluster()
    urls = cluster.urls
    targets = tmp_path / "staging.yaml"
    targets.write_text(
        "name: staging-rehearsal\n"
        f"portal: {{base_url: {urls['portal']}}}\npopulation: {{base_url: {urls['population']}}}\n"
        f"axis: {{base_url: {urls['axis']}}}\n"
        "credentials: {secret_env: STAGING_SECRET, admin_token_env: STAGING_ADMIN}\n"
        f"pki_dir: {cluster.config.data_dir / 'axis' / 'pki'}\n")
    monkeypatch.setenv("STAGING_SECRET", "dientap-dry-run")
    monkeypatch.setenv("STAGING_ADMIN", cluster.config.admin_token)
    code = main(["security", "--target", str(targets), "--population-size", "3000", "--out", str(tmp_path / "runs"),
                 "--checks", "auth.token-claims,exposure.audit-trail,integrity.signer-not-sender"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert "3 checks against staging-rehearsal" in out
    # Without the embedded mocks' keys, claims are tested through other services' tokens only.
    assert "auth.token-claims                PASS  cross-service tokens 401 (claim cases need" in out
    journal = load_journal(tmp_path / "runs" / "latest")
    assert journal.provenance.target.kind == "file" and journal.provenance.target.name == "staging-rehearsal"
    assert cluster.config.admin_token not in (tmp_path / "runs" / "latest" / "journal.json").read_text()
