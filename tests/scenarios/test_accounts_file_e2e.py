"""A run whose accounts come from an accounts file: officers named by the file, citizens from
it, every password read from where its row says — not derived from the dry-run secret (here
deliberately wrong) — and a profile the file cannot cover stopped before any load, naming the commune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dientap.orchestration.dryrun import DryRun, DryRunOptions
from dientap.orchestration.mockcluster import MockCluster, MockClusterConfig
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password, officer_account
from kernel.defaults import SEED
from kernel.errors import AccountsMissing
from kernel.roster import load_roster
from kernel.synthetic import citizen_at
from reports.run_files import load_summary
from scenarios.communes import active_communes
from scenarios.profile import resolve_profile

pytestmark = pytest.mark.e2e

POPULATION = 2000
WRONG_SECRET_ENV = "DIENTAP_TEST_WRONG_SECRET"


def _accounts(tmp_path: Path, skip_commune: str | None = None) -> tuple[Path, list[str]]:
    """The smoke profile's accounts as a staging team would list them; the passwords (the
    mocks' own) each in a secrets file of its own. Each commune lists officer 2 before
    officer 1, so the file, not the naming rule, decides who plays slot 1."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    rows, passwords = ["kind,account,commune,password,full_name,date_of_birth"], []

    def row(kind: str, account: str, commune: str = "", name: str = "", born: str = "") -> None:
        password = derive_password(DEFAULT_DRY_RUN_SECRET, account)
        (secrets / account).write_text(password + "\n")
        passwords.append(password)
        rows.append(f'{kind},{account},{commune},file:{secrets / account},"{name}",{born}')

    roster = load_roster()
    communes = active_communes(resolve_profile("smoke"), roster)
    for commune in communes:
        if commune.code != skip_commune:
            row("officer", officer_account(commune.code, 2), commune.code)
            row("officer", officer_account(commune.code, 1), commune.code)
        row("agency", commune.agency_code)
    for code in sorted({c.province_code for c in communes}):
        row("agency", roster.province(code).agency_code)
        row("client", f"province-{code}")
    for index in range(0, POPULATION, 97):
        citizen = citizen_at(SEED.default, index, roster)
        row("citizen", citizen.personal_id, citizen.commune_code, citizen.full_name, citizen.date_of_birth.isoformat())
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, passwords


def _targets(tmp_path: Path, urls: dict[str, str], accounts: Path) -> Path:
    path = tmp_path / "targets.yaml"
    services = "\n".join(f'{name}: {{base_url: "{url}"}}' for name, url in urls.items())
    path.write_text(f"{services}\ncredentials: {{secret_env: {WRONG_SECRET_ENV}, accounts_file: \"{accounts}\"}}\n")
    return path


def test_a_run_signs_in_with_the_accounts_files_accounts_and_writes_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRONG_SECRET_ENV, "not-the-mocks-secret")  # derived passwords would all be refused
    accounts, passwords = _accounts(tmp_path)
    config = MockClusterConfig(data_dir=tmp_path / "mocks", population_size=POPULATION)
    with MockCluster(config) as cluster:
        options = DryRunOptions(profile="smoke", target=str(_targets(tmp_path, cluster.urls, accounts)),
                                out=tmp_path / "runs", duration_s=12, population_size=POPULATION)
        with DryRun(options) as run:
            run.start_target()
            run.start_load()
            assert run.wait(timeout_s=run.profile.duration_s + 120)
    summary = load_summary(run.run_dir)
    assert summary.requests.total > 100 and summary.requests.failed == 0
    played = json.loads(next((run.run_dir / "players").glob("*.json")).read_text())["officer"]
    assert played and all(account.endswith(".officer2") for account in played)  # the file's first officer of each commune
    written = "\n".join(p.read_text(errors="replace") for p in run.run_dir.rglob("*") if p.is_file() and p.suffix in
                        {".json", ".html", ".md", ".log", ".txt", ".csv"})
    assert not [password for password in passwords if password in written]


def test_a_commune_the_file_gives_no_officer_stops_the_run_before_any_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRONG_SECRET_ENV, "not-the-mocks-secret")  # the file names it: it must be set
    skipped = active_communes(resolve_profile("smoke"))[3]
    accounts, _ = _accounts(tmp_path, skip_commune=skipped.code)
    urls = {"portal": "http://127.0.0.1:9", "population": "http://127.0.0.1:9", "axis": "http://127.0.0.1:9"}
    run = DryRun(DryRunOptions(profile="smoke", target=str(_targets(tmp_path, urls, accounts)), out=tmp_path / "runs"))
    with run:
        run.start_target()
        with pytest.raises(AccountsMissing) as stopped:
            run.start_load()
    message = str(stopped.value)
    assert f"commune {skipped.code} {skipped.name}" in message and "gives 0 officer account(s)" in message
    assert "no load was sent" in message and not (run.run_dir / "ledgers").exists()


def test_a_population_spoken_as_c06_needs_each_clients_api_key_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRONG_SECRET_ENV, "not-the-mocks-secret")  # the file names it: it must be set
    accounts, _ = _accounts(tmp_path)
    urls = {"portal": "http://127.0.0.1:9", "population": "http://127.0.0.1:9", "axis": "http://127.0.0.1:9"}
    targets = _targets(tmp_path, urls, accounts)
    targets.write_text(targets.read_text().replace('population: {base_url: "http://127.0.0.1:9"}',
                                                   'population: {base_url: "http://127.0.0.1:9", protocol: c06-soap}'))
    run = DryRun(DryRunOptions(profile="smoke", target=str(targets), out=tmp_path / "runs"))
    with run:
        run.start_target()
        with pytest.raises(AccountsMissing) as stopped:
            run.start_load()
    assert "has no account for apikey:province-01 (the C06 ApiKey of province 01's client)" in str(stopped.value)
