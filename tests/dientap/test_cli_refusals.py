"""Every subcommand refuses a bad command line with one ``ERROR:`` line, exit 2, and starts nothing.

The refusals run through the real ``dientap.cli.main`` in a fresh process whose audit hook
sees every process started and every socket bound or connected (``run_audited``), so
"nothing started" is observed, not assumed. The help examples and the README's command
lines are checked against the same parser, so the documentation cannot drift from it.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from dientap import __version__
from dientap.cli import build_parser, main
from kernel.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BUDGETS = str(ROOT / "reports" / "budgets.yaml")

# (id, command line, what the one ERROR: line must say: the flag or name, the value, what is accepted)
REFUSALS: list[tuple[str, list[str], list[str]]] = [
    ("run-workers-fraction", ["run", "smoke", "--workers", "1.5"],
     ["argument --workers", "'1.5'", "a whole number, 0 or more", "(see `dientap run --help`)"]),
    ("run-scale-infinite", ["run", "smoke", "--scale", "inf"], ["argument --scale", "'inf'", "a finite number more than 0"]),
    ("run-population-exponent", ["run", "smoke", "--population-size", "1e3"],
     ["argument --population-size", "'1e3'", "a whole number, 1 or more"]),
    ("run-seed-word", ["run", "smoke", "--seed", "abc"], ["argument --seed", "'abc'", "a whole number"]),
    # Past a profile file's bounds (model_copy did not validate: 9999999h ran as a 1,100-year run).
    ("run-duration-past-a-week", ["run", "smoke", "--duration", "169h"],
     ["argument --duration: 608400 s is longer than a run may last", "at most 604800 s (7 days"]),
    ("run-scale-past-a-profile", ["run", "smoke", "--scale", "5000"],
     ["argument --scale: 5000 is not a finite number more than 0 and at most 1000"]),
    # The embedded portal refused to start (exit 70) after the population service had.
    ("run-scale-past-the-mocks-accounts", ["run", "national", "--scale", "200"],
     ["argument --scale: profile national at scale 200 signs in 1,600 officers per commune",
      "the embedded mocks provision at most 999", "--scale 124.875 or less"]),
    ("mocks-seed-word", ["mocks", "--seed", "1.5"], ["argument --seed", "'1.5'", "a whole number"]),
    ("run-target-ftp", ["run", "smoke", "--target", "ftp://host/x"],
     ["argument --target", "'ftp://host/x' is a URL", "give 'embedded' or a targets YAML file"]),
    ("run-board-word", ["run", "smoke", "--board", "abc"],
     ["argument --board", "'abc'", "a port: 0 (a free one) or 1 to 65535", "(see `dientap run --help`)"]),
    ("drill-board-too-high", ["drill", "population-outage", "--board", "70000"], ["argument --board", "'70000'", "1 to 65535"]),
    ("run-board-refresh-zero", ["run", "smoke", "--board-refresh", "0"],
     ["argument --board-refresh", "'0'", "a refresh interval of 0.5 to 60 seconds, e.g. 3 or 2s"]),
    ("drill-board-refresh-slow", ["drill", "population-outage", "--board-refresh", "2m"],
     ["argument --board-refresh", "'2m'", "0.5 to 60 seconds"]),
    ("run-board-and-no-board", ["run", "smoke", "--board", "8089", "--no-board"],
     ["argument --no-board: not allowed with argument --board"]),
    ("run-unknown-profile", ["run", "nosuch"],
     ["unknown profile 'nosuch'", "shipped profiles: golive, national, peak, smoke, soak", "a path to a YAML file"]),
    ("drill-no-name", ["drill"], ["name a drill (or --list)", "`dientap drill --list`"]),
    ("drill-unknown", ["drill", "nosuch"],
     ["unknown drill 'nosuch'", "known drills: ", "population-outage", "run `dientap drill --list`"]),
    ("drill-settle-zero", ["drill", "population-outage", "--settle", "0"],
     ["argument --settle", "'0'", "give seconds (90) or h/m/s (90s, 5m, 1h30m)", "(see `dientap drill --help`)"]),
    ("drill-workers-negative", ["drill", "population-outage", "--workers", "-1"], ["argument --workers", "'-1'"]),
    ("security-unknown-check", ["security", "--checks", "auth.lockout,no.such"],
     ["unknown security check(s) no.such;", "known checks: auth.no-user-enumeration, auth.lockout",
      "run `dientap security --list`"]),
    ("security-duration", ["security", "--duration", "1x"], ["argument --duration", "'1x'", "is not a duration"]),
    ("security-unknown-profile", ["security", "--under-load", "nosuch"], ["unknown profile 'nosuch'"]),
    ("mocks-ports-words", ["mocks", "--ports", "a,b,c"],
     ["argument --ports", "'a,b,c'", "three numbers PORTAL,POPULATION,AXIS", "(see `dientap mocks --help`)"]),
    ("mocks-port-out-of-range", ["mocks", "--ports", "0,0,70000"], ["argument --ports", "'0,0,70000'", "0–65535"]),
    ("mocks-population-negative", ["mocks", "--population-size", "-3"], ["argument --population-size", "'-3'"]),
    ("mocks-officers-zero", ["mocks", "--officers-per-commune", "0"],
     ["argument --officers-per-commune", "'0'", "a whole number from 1 to 999"]),
    ("mocks-vulnerable-no-service", ["mocks", "--vulnerable", "portal:no_lockout,bogus"],
     ["--vulnerable expects SERVICE:WEAKNESS items, got 'bogus'"]),
    ("mocks-vulnerable-unknown-service", ["mocks", "--vulnerable", "printer:no_lockout"],
     ["--vulnerable", "'printer:no_lockout'"]),
    ("mocks-vulnerable-unknown-weakness", ["mocks", "--vulnerable", "portal:no_such_weakness"],
     ["argument --vulnerable: unknown weakness(es) 'no_such_weakness' for the portal mock; known weaknesses: ",
      "no_lockout"]),
    ("mocks-vulnerable-off-loopback", ["mocks", "--host", "0.0.0.0", "--vulnerable", "portal:no_lockout"],
     ["argument --vulnerable: planted weaknesses are refused unless the mocks bind to loopback, and the host is "
      "'0.0.0.0'; bind them to 127.0.0.1, ::1 or localhost"]),
    ("mocks-same-port-twice", ["mocks", "--ports", "8701,8701,0"],
     ["argument --ports", "'8701,8701,0'", "three different ports"]),
    ("run-prometheus-not-found", ["run", "smoke", "--prometheus", "no-such-prometheus"],
     ["argument --prometheus", "'no-such-prometheus'", "install the Debian package `prometheus`"]),
    ("gate-no-run-dir", ["gate"], ["required: run_dir", "(see `dientap gate --help`)"]),
    ("report-format", ["report", "runs/latest", "--format", "pdf"], ["argument --format", "'pdf'", "'html', 'md'"]),
    ("validate-no-files", ["validate"], ["required: files", "(see `dientap validate --help`)"]),
    ("validate-unknown-kind", ["validate", "--kind", "nosuch", "x.yaml"],
     ["argument --kind", "'nosuch'", "'budgets', 'drill', 'profile', 'readiness', 'targets'"]),
    ("unknown-command", ["deploy"],
     ["argument COMMAND", "'deploy'", "'run', 'mocks', 'worker', 'drill', 'security', 'gate', 'compare', 'report', 'validate'"]),
]


# The README's own refusals: `$ dientap ...` followed by the exact ERROR: line it prints.
README_REFUSALS: list[tuple[list[str], str]] = [
    (shlex.split(command), error)
    for command, error in re.findall(r"^\$ dientap (.+)\n(ERROR: .+)$", README, flags=re.MULTILINE)
]
SUBCOMMANDS = ("run", "mocks", "drill", "security", "gate", "compare", "report", "validate")


@pytest.fixture(scope="module")
def audited(run_audited) -> dict[str, Any]:
    """Every command line of this module, run once in one audited process: id → AuditedRun."""
    cases: dict[str, list[str]] = {case_id: argv for case_id, argv, _ in REFUSALS}
    cases.update({f"readme-{i}": argv for i, (argv, _) in enumerate(README_REFUSALS)})
    cases.update({f"help-{name}": [name, "--help"] for name in SUBCOMMANDS})
    cases["version"] = ["--version"]
    return dict(zip(cases, run_audited(list(cases.values())), strict=True))


@pytest.mark.parametrize(("case_id", "says"), [(case_id, says) for case_id, _, says in REFUSALS],
                         ids=[case_id for case_id, _, _ in REFUSALS])
def test_a_bad_command_line_is_one_error_line_exit_2_and_nothing_starts(audited, case_id, says):
    audited[case_id].assert_refused_before_start(ExitCode.USAGE_ERROR, says, [])


def test_the_unknown_check_is_named_alone(audited):
    """The known check in the same list is not reported as unknown."""
    first = audited["security-unknown-check"].err.split(";")[0]
    assert first == "ERROR: unknown security check(s) no.such"


def test_the_readme_shows_refusals_exactly_as_printed(audited):
    assert len(README_REFUSALS) >= 2, "the README's refusal examples are gone"
    for i, (argv, error) in enumerate(README_REFUSALS):
        run = audited[f"readme-{i}"]
        assert run.code == ExitCode.USAGE_ERROR, argv
        assert run.err.strip() == error, argv
        assert run.events == [], argv


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_prints_usage_and_an_example_and_starts_nothing(audited, name):
    run = audited[f"help-{name}"]
    assert run.code == ExitCode.OK and run.err == ""
    assert run.out.startswith(f"usage: dientap {name}")
    assert "Example:" in run.out and f"  dientap {name}" in run.out.split("Example:", 1)[1]
    assert run.events == [] and run.files == []


def test_version_is_the_installed_distributions(audited):
    run = audited["version"]
    assert run.code == ExitCode.OK
    assert run.out == f"dientap {__version__}\n"
    assert __version__ == version("dientap")


def _examples(help_text: str) -> list[list[str]]:
    """The dientap command lines in the ``Example:`` block of a help text (comments,
    continuation lines and ``VAR=...`` prefixes handled as a shell would)."""
    block = help_text.split("Example:", 1)[1].replace("\\\n", " ")
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        redirect = next((i for i, w in enumerate(words) if w in (">", ">>", "|", "2>")), len(words))
        words = words[:redirect]  # `dientap report ... > comment.md`: the shell's, not ours
        while words and re.match(r"^[A-Z_]+=", words[0]):
            words.pop(0)
        if words[:1] == ["dientap"]:
            commands.append(words[1:])
    return commands


def _parses(argv: list[str]) -> tuple[bool, object]:
    try:
        return True, build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code == 0, None


def test_every_help_example_is_a_command_line_the_parser_accepts(capsys):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    helps = {"": parser.format_help(), **{name: sub.format_help() for name, sub in subparsers.items()}}
    for name, text in helps.items():
        examples = _examples(text)
        assert examples, f"`dientap {name} --help` shows no dientap command under Example:"
        for argv in examples:
            ok, args = _parses(argv)
            assert ok, f"`dientap {name} --help` example refused: {argv}: {capsys.readouterr().err}"
            if name and args is not None:
                assert args.command == name, argv


def test_every_readme_command_line_that_is_not_a_refusal_parses(capsys):
    refused_lines = {shlex.join(argv) for argv, _ in README_REFUSALS}
    commands = [shlex.split(c, comments=True) for c in re.findall(r"^\$ dientap (.+)$", README, flags=re.MULTILINE)]
    accepted = [argv for argv in commands if shlex.join(argv) not in refused_lines]
    assert len(accepted) >= 5
    for argv in accepted:
        ok, _ = _parses(argv)
        assert ok, f"README shows `dientap {shlex.join(argv)}`, which the parser refuses: {capsys.readouterr().err}"


def test_no_subcommand_is_a_usage_error_with_the_exit_codes_listed(capsys):
    assert main([]) == ExitCode.USAGE_ERROR
    out = capsys.readouterr().out
    for code in ExitCode:
        assert re.search(rf"^  {code.value:<4} {code.name}$", out, flags=re.MULTILINE), code


OFF_ALLOWLIST = """\
allow_hosts: []
portal: {base_url: "https://staging-dvc.example.vn"}
population: {base_url: "https://staging-dvc.example.vn"}
axis: {base_url: "https://staging-dvc.example.vn"}
"""
TARGETS = "give 'embedded' or a targets YAML file naming the services' URLs"
READINESS = "give a readiness profile YAML file"

# A file or folder a flag names that is not there or not usable: (id, command line, exit code,
# what the one ERROR: line says). Run in a folder holding only off.yaml (a targets file whose
# host is off its allowlist).
FILE_REFUSALS: list[tuple[str, list[str], ExitCode, list[str]]] = [
    ("run-target-missing", ["run", "smoke", "--target", "missing.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --target: 'missing.yaml': file not found", TARGETS]),
    ("run-target-off-allowlist", ["run", "smoke", "--target", "off.yaml"], ExitCode.TARGET_NOT_ALLOWED,
     ["off.yaml:2: portal.base_url: host 'staging-dvc.example.vn' is not on the allowlist", "--allow-host"]),
    ("run-readiness-missing", ["run", "smoke", "--readiness", "missing.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --readiness: 'missing.yaml': file not found", READINESS]),
    ("run-readiness-folder", ["run", "smoke", "--readiness", "."], ExitCode.CONFIG_ERROR,
     ["argument --readiness: '.': a folder, not a file", READINESS]),
    ("run-budgets-missing", ["run", "smoke", "--budgets", "missing.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --budgets: 'missing.yaml': file not found", "give a budgets YAML file"]),
    ("run-baseline-not-a-run", ["run", "smoke", "--budgets", BUDGETS, "--baseline", "runs/nosuch"],
     ExitCode.CONFIG_ERROR,
     ["argument --baseline: 'runs/nosuch': not found", "give the directory of an earlier run"]),
    ("run-out-is-a-file", ["run", "smoke", "--out", "off.yaml"], ExitCode.USAGE_ERROR,
     ["argument --out: 'off.yaml' is a file; give a folder"]),
    ("drill-target-missing", ["drill", "population-outage", "--target", "missing.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --target: 'missing.yaml': file not found", TARGETS]),
    ("drill-dry-readiness-missing", ["drill", "--dry", "population-outage", "--readiness", "missing.yaml"],
     ExitCode.CONFIG_ERROR, ["argument --readiness: 'missing.yaml': file not found"]),
    ("security-target-missing", ["security", "--target", "missing.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --target: 'missing.yaml': file not found", TARGETS]),
    ("security-under-load-target-off-allowlist", ["security", "--under-load", "smoke", "--target", "off.yaml"],
     ExitCode.TARGET_NOT_ALLOWED, ["off.yaml:2: portal.base_url: host 'staging-dvc.example.vn' is not on the allowlist"]),
    ("mocks-readiness-missing", ["mocks", "--readiness", "missing.yaml"], ExitCode.CONFIG_ERROR,
     ["argument --readiness: 'missing.yaml': file not found", READINESS]),
    ("mocks-data-dir-is-a-file", ["mocks", "--data-dir", "off.yaml"], ExitCode.USAGE_ERROR,
     ["argument --data-dir: 'off.yaml' is a file; give a folder"]),
]


@pytest.fixture(scope="module")
def audited_files(run_audited, tmp_path_factory) -> dict[str, Any]:
    """The FILE_REFUSALS, run once in one audited process in a folder holding off.yaml."""
    cwd = tmp_path_factory.mktemp("file-refusals")
    (cwd / "off.yaml").write_text(OFF_ALLOWLIST, encoding="utf-8")
    runs = run_audited([argv for _, argv, _, _ in FILE_REFUSALS], cwd=cwd)
    return {case_id: run for (case_id, _, _, _), run in zip(FILE_REFUSALS, runs, strict=True)}


@pytest.mark.parametrize(("case_id", "code", "says"), [(case_id, code, says) for case_id, _, code, says in FILE_REFUSALS],
                         ids=[case_id for case_id, _, _, _ in FILE_REFUSALS])
def test_a_file_a_flag_names_is_checked_before_anything_starts(audited_files, case_id, code, says):
    """Before the mocks, the load or a run directory: not after them (exit 70, an empty run
    directory left behind, or a drill that "wrote no summary")."""
    audited_files[case_id].assert_refused_before_start(code, says, ["off.yaml"])


def _dientap(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dientap.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("where", ["port in use", "address not on this machine"])
def test_a_socket_the_mocks_cannot_bind_is_one_error_line(tmp_path, where, monkeypatch):
    # A secret of the team's own: off loopback, the public default is refused before any bind.
    monkeypatch.setenv("DIENTAP_DRY_RUN_SECRET", "a-team-secret")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # Population binds first: whichever way the bind fails, no service has started yet.
        flags = (["--ports", f"0,{port},0"] if where == "port in use"
                 else ["--host", "192.0.2.1", "--ports", "0,0,0"])  # TEST-NET-1: never a local address
        value = str(port) if where == "port in use" else "192.0.2.1"
        result = _dientap("mocks", *flags, "--data-dir", str(tmp_path / "data"), "--population-size", "100",
                          "--duration", "1", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr[-1500:]
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and value in lines[0], result.stderr
    assert result.returncode in (ExitCode.USAGE_ERROR, ExitCode.INTERNAL_ERROR)


@pytest.mark.e2e
@pytest.mark.parametrize(("args", "value", "code"), [
    (("mocks", "--vulnerable", "portal:no_such_weakness"), "no_such_weakness", ExitCode.USAGE_ERROR),
    (("mocks", "--readiness", "missing-readiness.yaml"), "missing-readiness.yaml", ExitCode.CONFIG_ERROR),
    (("run", "smoke", "--readiness", "missing-readiness.yaml"), "missing-readiness.yaml", ExitCode.CONFIG_ERROR),
    (("drill", "population-outage", "--target", "missing-targets.yaml"), "missing-targets.yaml", ExitCode.CONFIG_ERROR),
], ids=["mocks-unknown-weakness", "mocks-missing-readiness", "run-missing-readiness", "drill-missing-targets"])
def test_a_bad_value_found_late_is_still_refused_before_anything_starts(tmp_path, args, value, code):
    where = ["--data-dir", str(tmp_path / "out"), "--ports", "0,0,0"] if args[0] == "mocks" else ["--out", str(tmp_path / "out")]
    short = ["--duration", "2"] if args[0] != "drill" else []  # a drill's steps need its own duration
    result = _dientap(*args, *where, *short, "--population-size", "100", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr[-1500:]
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and value in lines[0], result.stderr
    assert not (tmp_path / "out").exists(), "services or a run were started before the value was refused"
