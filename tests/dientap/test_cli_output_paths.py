"""The files and folders commands write to, and names too long to be paths, are judged before
anything starts: one ``ERROR:`` line naming the flag (or the name) and what is accepted.

Each command line runs through the real ``dientap.cli.main`` in an audited process
(``run_audited``), in a folder holding a recorded run and a regular file ``afile``, so
"nothing started, nothing written" is observed: no process, no socket, no new file, no
gate.json. Without these checks each case below ran the load (or the gate) first and
then died with a traceback, exit 70.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dientap.cli import build_parser
from kernel.errors import ConfigError, ExitCode
from reports.gate import GATE_FILE, GateResult, run_gate
from tests.reports.compare_support import latencies, write_recorded_run

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = str(ROOT / "reports" / "budgets.yaml")
# Bounds what a command would do if it were not refused (it must be): a short, small run.
SMALL = ["--duration", "1", "--population-size", "100", "--no-board"]
LONG = "a" * 5000  # longer than any path the system accepts
JUNIT = "give a file to write the JUnit XML to, in a folder that exists or can be created"
OUTPUT = "give a file to write, in a folder that exists or can be created"
FOLDER = "give a folder that exists or can be created, and can be written in"
# /proc refuses a new folder even to root, who passes every permission check.
NOT_CREATABLE = "/proc/dientap-no-such-folder/runs"

# (id, command line, exit code, what the ERROR: line says: one line, but one per run for compare)
CASES: list[tuple[str, list[str], ExitCode, list[str]]] = [
    ("gate-junit-folder", ["gate", "run", "--junit", "."], ExitCode.USAGE_ERROR,
     ["argument --junit: '.' is a folder; " + JUNIT]),
    ("gate-junit-not-creatable", ["gate", "run", "--junit", f"{NOT_CREATABLE}/gate.xml"], ExitCode.USAGE_ERROR,
     [f"argument --junit: '{NOT_CREATABLE}/gate.xml': {NOT_CREATABLE!r} cannot be created (", JUNIT]),
    ("gate-junit-under-a-file", ["gate", "run", "--junit", "afile/gate.xml"], ExitCode.USAGE_ERROR,
     ["argument --junit: 'afile/gate.xml': 'afile' is a file; " + JUNIT]),
    ("gate-junit-under-a-file-deeper", ["gate", "run", "--junit", "afile/sub/gate.xml"], ExitCode.USAGE_ERROR,
     ["argument --junit: 'afile/sub/gate.xml': 'afile/sub' is under 'afile', a file; " + JUNIT]),
    ("run-junit-folder", ["run", "smoke", "--budgets", BUDGETS, "--junit", ".", "--out", "runs", *SMALL],
     ExitCode.USAGE_ERROR, ["argument --junit: '.' is a folder; " + JUNIT]),
    ("run-junit-without-budgets", ["run", "smoke", "--junit", "gate.xml", "--out", "runs", *SMALL],
     ExitCode.USAGE_ERROR, ["argument --junit: only with --budgets", "add --budgets FILE"]),
    ("run-baseline-without-budgets", ["run", "smoke", "--baseline", "run", "--out", "runs", *SMALL],
     ExitCode.USAGE_ERROR, ["argument --baseline: only with --budgets", "add --budgets FILE"]),
    ("run-budgets-judging-nothing", ["run", "smoke", "--budgets", "readiness-only.yaml", "--out", "runs", *SMALL],
     ExitCode.CONFIG_ERROR, ["readiness-only.yaml: budgets: the gate would judge nothing"]),
    ("run-baseline-without-regression", ["run", "smoke", "--budgets", "no-regression.yaml", "--baseline", "run",
                                         "--out", "runs", *SMALL],
     ExitCode.CONFIG_ERROR, ["no-regression.yaml: regression: no regression limit to compare the baseline run by"]),
    ("compare-output-not-creatable", ["compare", "run", "run", "--output", f"{NOT_CREATABLE}/compare.md"],
     ExitCode.USAGE_ERROR, [f"argument --output: '{NOT_CREATABLE}/compare.md': {NOT_CREATABLE!r} cannot be created (",
                            OUTPUT]),
    ("compare-output-under-a-file", ["compare", "run", "run", "--output", "afile/compare.md"], ExitCode.USAGE_ERROR,
     ["argument --output: 'afile/compare.md': 'afile' is a file; " + OUTPUT]),
    ("run-out-under-a-file", ["run", "smoke", "--out", "afile/runs", *SMALL], ExitCode.USAGE_ERROR,
     ["argument --out: 'afile/runs' is under 'afile', a file; " + FOLDER]),
    ("run-out-is-a-file", ["run", "smoke", "--out", "afile", *SMALL], ExitCode.USAGE_ERROR,
     ["argument --out: 'afile' is a file; " + FOLDER]),
    ("run-out-not-creatable", ["run", "smoke", "--out", NOT_CREATABLE, *SMALL], ExitCode.USAGE_ERROR,
     [f"argument --out: {NOT_CREATABLE!r} cannot be created (", FOLDER]),
    ("drill-out-under-a-file", ["drill", "--dry", "population-outage", "--out", "afile/runs"], ExitCode.USAGE_ERROR,
     ["argument --out: 'afile/runs' is under 'afile', a file; " + FOLDER]),
    ("security-out-not-creatable", ["security", "--checks", "auth.lockout", "--out", NOT_CREATABLE,
                                    "--population-size", "100"], ExitCode.USAGE_ERROR,
     [f"argument --out: {NOT_CREATABLE!r} cannot be created ("]),
    ("drill-name-too-long", ["drill", "--dry", LONG], ExitCode.USAGE_ERROR,
     [f"drill {LONG[:60]!r}… (5,000 characters): file name too long; give a built-in drill's name or a drill YAML "
      "file; run `dientap drill --list`"]),
    ("compare-names-too-long", ["compare", LONG, LONG], ExitCode.CONFIG_ERROR,
     [f"{LONG[:60]}… (5,000 characters): file name too long; give the directory of a run"]),
    ("security-checks-empty", ["security", "--checks", "", "--population-size", "100"], ExitCode.USAGE_ERROR,
     ["argument --checks: '' names no check; give check ids separated by commas", "leave --checks out for all"]),
    ("security-checks-only-commas", ["security", "--checks", ",", "--population-size", "100"], ExitCode.USAGE_ERROR,
     ["argument --checks: ',' names no check"]),
    ("report-gate-of-another-run", ["report", "copied"], ExitCode.CONFIG_ERROR,
     ["copied/gate.json: run_id: 'other' is another run's gate verdict (this run is 'copied')"]),
]
FILES = ["afile", "copied", "no-regression.yaml", "readiness-only.yaml", "run"]


@pytest.fixture(scope="module")
def audited(run_audited, tmp_path_factory) -> dict[str, Any]:
    """Every case run once, audited, in a folder holding run/, copied/, afile and two budgets files."""
    if not Path("/proc").is_dir():
        pytest.skip("needs Linux /proc: a folder not even root can create")
    cwd = tmp_path_factory.mktemp("output-paths")
    samples = {("portal", "POST /dossiers", "01"): latencies(100, seed=1)}
    write_recorded_run(cwd / "run", "run", samples)
    # A gate.json copied in from another run: its verdict is not this run's.
    copied = write_recorded_run(cwd / "copied", "copied", samples)
    (copied / GATE_FILE).write_text(GateResult(run_id="other").model_dump_json(), encoding="utf-8")
    (cwd / "afile").write_text("a regular file\n", encoding="utf-8")
    (cwd / "readiness-only.yaml").write_text("version: 1\nreadiness: {amber_factor: 1.5}\n", encoding="utf-8")
    (cwd / "no-regression.yaml").write_text("version: 1\nbudgets:\n  - {error_rate: 0.01}\n", encoding="utf-8")
    runs = run_audited([argv for _, argv, _, _ in CASES], cwd=cwd)
    return {"cwd": cwd, **{case_id: run for (case_id, _, _, _), run in zip(CASES, runs, strict=True)}}


@pytest.mark.parametrize(("case_id", "code", "says"), [(case_id, code, says) for case_id, _, code, says in CASES],
                         ids=[case_id for case_id, _, _, _ in CASES])
def test_a_path_that_cannot_be_used_is_refused_before_anything_starts(audited, case_id, code, says):
    run = audited[case_id]
    lines = run.err.strip().splitlines()
    assert "Traceback" not in run.err, run.err[-2000:]
    assert run.code == code, run
    assert len(lines) == (2 if case_id.startswith("compare-names") else 1), run.err
    for line in lines:
        assert line.startswith("ERROR: ") and all(part in line for part in says), (says, line)
    assert run.out == ""
    assert run.events == [], f"started or opened {run.events} before refusing"
    assert run.files == FILES, f"left {run.files} in the working directory"
    assert not (audited["cwd"] / "run" / GATE_FILE).exists(), "the gate wrote its verdict before refusing --junit"


def test_a_check_named_twice_runs_once():
    args = build_parser().parse_args(["security", "--checks", "auth.lockout,authz.bola-dossier,auth.lockout,"])
    assert args.checks == ["auth.lockout", "authz.bola-dossier"]


def test_a_junit_file_the_gate_cannot_write_is_one_problem_and_no_verdict(tmp_path):
    """What the command line checks up front can still change before the gate writes (a
    folder removed during a long run): a ConfigError naming the file, not a traceback,
    and no gate.json claiming a verdict the JUnit consumer never saw."""
    run_dir = write_recorded_run(tmp_path / "run", "run", {("portal", "POST /dossiers", "01"): latencies(100)})
    (tmp_path / "afile").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir, junit=tmp_path / "afile" / "gate.xml")
    assert str(exc.value).startswith(f"{tmp_path / 'afile' / 'gate.xml'}: cannot write the JUnit XML: ")
    assert not (run_dir / GATE_FILE).exists()
