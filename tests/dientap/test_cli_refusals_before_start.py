"""Inputs once refused only after something had started (or never), each now one ``ERROR:`` line
before anything starts — no process, no socket, no run directory (``run_audited`` watches):

- an accounts file that cannot cover the profile: found only once the run had begun, it left
  an empty run directory behind (run, security --under-load), and a drill probed the target's
  health and failed with exit 70;
- a password the accounts file says is in a pipe: the run hung at its start;
- ``--population-size`` past what the population mock seeds: that mock exited while starting
  (exit 70) after the others had started;
- ``DIENTAP_SQLITE_SYNCHRONOUS`` that the mocks do not know: silently NORMAL durability;
- ``--allow-host`` / ``allow_hosts:`` given as a URL or ``host:port``: never matched, the run was
  then refused as off the allowlist, blaming the targets file;
- a pipe where a flag names a file: "file not found".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import ExitCode

SERVICES = """\
portal: {base_url: "http://127.0.0.1:9"}
population: {base_url: "http://127.0.0.1:9"}
axis: {base_url: "http://127.0.0.1:9"}
"""
HEADER = "kind,account,commune,password,full_name,date_of_birth\n"
NOT_COVERED = ["accounts file: header-only.csv gives 0 officer account(s) for commune ",
               "the profile signs in 1 per commune", "no load was sent"]
FILES = {
    "header-only.csv": HEADER,
    "accounts.yaml": SERVICES + "credentials: {accounts_file: header-only.csv}\n",
    "hosts.yaml": 'allow_hosts: [staging-dvc.example.vn, "https://staging-dc.example.vn", "2001:db8::1"]\n' + SERVICES,
}

# (id, command line, exit code, what the one ERROR: line says)
CASES: list[tuple[str, list[str], ExitCode, list[str]]] = [
    ("run-accounts-not-covering", ["run", "smoke", "--target", "accounts.yaml", "--duration", "5", "--no-board",
                                   "--out", "runs"], ExitCode.CONFIG_ERROR, NOT_COVERED),
    ("drill-accounts-not-covering", ["drill", "population-outage", "--target", "accounts.yaml", "--no-board",
                                     "--out", "runs"], ExitCode.CONFIG_ERROR, NOT_COVERED),
    ("security-accounts-not-covering", ["security", "--under-load", "smoke", "--target", "accounts.yaml",
                                        "--duration", "5", "--out", "runs"], ExitCode.CONFIG_ERROR, NOT_COVERED),
    ("run-population-past-the-mock", ["run", "smoke", "--population-size", "1_000_001", "--duration", "5",
                                      "--no-board", "--out", "runs"], ExitCode.USAGE_ERROR,
     ["argument --population-size: 1,000,001 citizens are more than the population mock seeds",
      "from 1 to 1,000,000"]),
    ("mocks-population-past-the-mock", ["mocks", "--population-size", "2000000", "--ports", "0,0,0",
                                        "--data-dir", "data", "--duration", "1"], ExitCode.USAGE_ERROR,
     ["argument --population-size: 2,000,000 citizens"]),
    ("run-allow-host-url", ["run", "smoke", "--allow-host", "https://staging-dvc.example.vn", "--target", "missing.yaml"],
     ExitCode.USAGE_ERROR, ["argument --allow-host: 'https://staging-dvc.example.vn' is not a host",
                            "no scheme or port"]),
    ("drill-allow-host-port", ["drill", "population-outage", "--allow-host", "staging:443"], ExitCode.USAGE_ERROR,
     ["argument --allow-host: 'staging:443' is not a host"]),
    ("validate-allow-hosts-url", ["validate", "hosts.yaml"], ExitCode.CONFIG_ERROR,
     ["hosts.yaml:1: allow_hosts[1]: 'https://staging-dc.example.vn' is not a host"]),
    ("run-target-pipe", ["run", "smoke", "--target", "pipe.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --target: 'pipe.yaml': not a regular file (a device or a pipe)", "give 'embedded' or a targets"]),
]


def _folder(tmp_path_factory: pytest.TempPathFactory, name: str, extra: dict[str, str] | None = None) -> Path:
    cwd = tmp_path_factory.mktemp(name)
    for file, text in {**FILES, **(extra or {})}.items():
        (cwd / file).write_text(text, encoding="utf-8")
    os.mkfifo(cwd / "pipe.yaml")
    return cwd


@pytest.fixture(scope="module")
def refused(run_audited, tmp_path_factory) -> dict[str, Any]:
    cwd = _folder(tmp_path_factory, "review-refusals")
    runs = run_audited([argv for _, argv, _, _ in CASES], cwd=cwd)
    return {case_id: run for (case_id, _, _, _), run in zip(CASES, runs, strict=True)}


@pytest.mark.parametrize(("case_id", "code", "says"), [(c, code, says) for c, _, code, says in CASES],
                         ids=[c for c, _, _, _ in CASES])
def test_a_bad_input_is_one_error_line_before_anything_starts(refused, case_id, code, says):
    refused[case_id].assert_refused_before_start(code, says, sorted([*FILES, "pipe.yaml"]))


def test_a_password_in_a_pipe_is_refused_before_the_run_not_waited_on_after_it_began(run_audited, tmp_path_factory):
    """The run used to print its ``run …`` line, make its directory and then wait on the pipe for ever."""
    cwd = _folder(tmp_path_factory, "review-password-pipe", {
        "piped.csv": HEADER + "officer,a.mc01,00004,file:password.pipe,,\n",
        "piped.yaml": SERVICES + "credentials: {accounts_file: piped.csv}\n",
    })
    os.mkfifo(cwd / "password.pipe")
    [run] = run_audited([["run", "smoke", "--target", "piped.yaml", "--duration", "5", "--no-board", "--out", "runs"]],
                        cwd=cwd)
    run.assert_refused_before_start(ExitCode.CONFIG_ERROR,
                                   ["accounts file: piped.csv:2: password: a.mc01: cannot read password.pipe: "
                                    "not a regular file (a device or a pipe)", "no load was sent"],
                                   sorted([*FILES, "pipe.yaml", "piped.csv", "piped.yaml", "password.pipe"]))


def test_a_durability_setting_the_mocks_do_not_know_is_refused_before_they_start(
    run_audited, tmp_path_factory, monkeypatch
):
    monkeypatch.setenv("DIENTAP_SQLITE_SYNCHRONOUS", "FUL")
    cwd = _folder(tmp_path_factory, "review-sqlite-env")
    runs = run_audited([["mocks", "--ports", "0,0,0", "--data-dir", "data", "--population-size", "100", "--duration", "1"],
                        ["drill", "--dry", "population-outage", "--out", "runs"]], cwd=cwd)
    for run in runs:
        run.assert_refused_before_start(ExitCode.USAGE_ERROR,
                                       ["environment variable DIENTAP_SQLITE_SYNCHRONOUS: 'FUL' is not one of NORMAL, FULL"],
                                       sorted([*FILES, "pipe.yaml"]))
