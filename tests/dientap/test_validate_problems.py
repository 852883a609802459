"""`dientap validate` names every problem of every file: file, line, field — and the right exit code."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from dientap.cli import main
from kernel.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

TARGETS = """\
name: staging
allow_hosts: [{allowed}]
portal: {{base_url: "https://staging-dvc.example.vn"}}
population: {{base_url: "https://staging-dvc.example.vn"}}
axis: {{base_url: "https://staging-dvc.example.vn"}}
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_a_drill_reports_each_missing_and_unknown_key_at_its_line(tmp_path, capsys):
    drill = _write(tmp_path / "d.yaml", "title: x\nmethod:\n  - name: a\n    duration: 5x\n")
    assert main(["validate", str(drill)]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err.splitlines()
    step = _line_of(drill, "- name: a")
    for key in ("backend", "target", "at_s", "duration_s"):
        assert f"ERROR: {drill}:{step}: method[0].{key}: required key is missing" in err
    assert f"ERROR: {drill}:{_line_of(drill, 'duration: 5x')}: method[0].duration: unknown key" in err


def test_a_budgets_file_reports_a_bad_value_and_a_typo(tmp_path, capsys):
    budgets = _write(tmp_path / "b.yaml",
                     "version: 1\nbudgets:\n  - name: x\n    service: portal\n    p95_ms: -3\n    p59_ms: 1\n")
    assert main(["validate", str(budgets)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: {budgets}:5: budgets[0].p95_ms: Input should be greater than 0, got -3",
        f"ERROR: {budgets}:6: budgets[0].p59_ms: unknown key",
    ]


THROTTLE_BUDGETS = """\
version: 1
budgets:
  - name: whole run
    error_rate: 0.01
    max_throttled_rate: 0.02
"""


def test_max_throttled_rate_is_accepted_and_a_bad_value_is_one_error_line_naming_it(tmp_path, capsys):
    good = _write(tmp_path / "good.yaml", THROTTLE_BUDGETS)
    assert main(["validate", str(good)]) == ExitCode.OK
    assert capsys.readouterr().out == f"OK {good} (budgets)\n"
    bad = _write(tmp_path / "bad.yaml", THROTTLE_BUDGETS.replace("0.02", "1.5"))
    assert main(["validate", str(bad)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: {bad}:5: budgets[0].max_throttled_rate: Input should be less than or equal to 1, got 1.5"]
    bad.write_text("version: 1\nbudgets: []\nreadiness:\n  max_throttled_rate: -0.1\n", encoding="utf-8")
    assert main(["validate", str(bad)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: {bad}:4: readiness.max_throttled_rate: Input should be greater than or equal to 0, got -0.1"]


def test_kind_checks_a_file_as_that_kind_whatever_it_holds(tmp_path, capsys):
    targets = _write(tmp_path / "t.yaml", TARGETS.format(allowed="staging-dvc.example.vn"))
    assert main(["validate", str(targets)]) == ExitCode.OK
    assert capsys.readouterr().out == f"OK {targets} (targets)\n"
    assert main(["validate", "--kind", "budgets", str(targets)]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err.splitlines()
    keys = ("name", "allow_hosts", "portal", "population", "axis")
    assert err == [f"ERROR: {targets}:{i}: {key}: unknown key" for i, key in enumerate(keys, 1)]


def test_a_targets_file_with_a_host_off_its_allowlist_is_target_not_allowed(tmp_path, capsys):
    targets = _write(tmp_path / "t.yaml", TARGETS.format(allowed=""))
    assert main(["validate", str(targets)]) == ExitCode.TARGET_NOT_ALLOWED
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3, "one line per service, like every other problem"
    for line, (at, service) in zip(err, ((3, "portal"), (4, "population"), (5, "axis")), strict=True):
        assert line.startswith(f"ERROR: {targets}:{at}: {service}.base_url: host 'staging-dvc.example.vn' is not on "
                               "the allowlist"), line
        assert line.endswith("add it to allow_hosts or pass --allow-host if you own that system"), line


def test_a_targets_file_off_the_allowlist_does_not_hide_the_files_after_it(tmp_path, capsys):
    off = _write(tmp_path / "off.yaml", TARGETS.format(allowed=""))
    good = ROOT / "reports" / "budgets.yaml"
    bad = _write(tmp_path / "bad.yaml", "version: 1\nbudgets:\n  - p95_ms: -3\n")
    assert main(["validate", str(off), str(good), str(bad)]) == ExitCode.CONFIG_ERROR  # an invalid file first
    captured = capsys.readouterr()
    assert captured.out == f"OK {good} (budgets)\n"
    err = captured.err.splitlines()
    assert [line.split(": ")[2] for line in err if line.startswith(f"ERROR: {off}:")] == [
        "portal.base_url", "population.base_url", "axis.base_url"]
    assert any(line.startswith(f"ERROR: {bad}:3: budgets[0].p95_ms") for line in err), err


def test_a_validator_that_cannot_be_imported_is_an_internal_error_not_the_users_file(monkeypatch, capsys):
    """A broken import is a bug of dientap's: exit 70 with its traceback, never "not a dientap file"."""
    monkeypatch.setitem(sys.modules, "reports.budgets", None)  # `from reports.budgets import ...` raises ImportError
    assert main(["validate", str(ROOT / "reports" / "budgets.yaml")]) == ExitCode.INTERNAL_ERROR
    captured = capsys.readouterr()
    assert "Traceback" in captured.err
    assert captured.err.splitlines()[-1] == ("ERROR: internal error (a bug in dientap, traceback above): "
                                             "ModuleNotFoundError: import of reports.budgets halted; None in sys.modules")
    assert "not a dientap file" not in captured.err and captured.out == ""


def test_a_file_that_is_not_utf8_text_says_so_whether_or_not_a_kind_is_forced(tmp_path, capsys):
    binary = tmp_path / "blob.yaml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    for kind in ([], ["--kind", "drill"]):
        assert main(["validate", *kind, str(binary)]) == ExitCode.CONFIG_ERROR
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"ERROR: {binary}: cannot read: ") and "utf-8" in err[0], err


def test_a_directory_is_reported_as_one_and_the_rest_still_checked(tmp_path, capsys):
    folder = tmp_path / "drills"
    folder.mkdir()
    budgets = ROOT / "reports" / "budgets.yaml"
    assert main(["validate", str(folder), str(budgets)]) == ExitCode.CONFIG_ERROR
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"ERROR: {folder}: is a directory; expected a YAML file"]
    assert captured.out == f"OK {budgets} (budgets)\n"


def test_a_name_too_long_for_the_system_is_one_error_line_not_a_crash(tmp_path, capsys):
    name = str(tmp_path / ("x" * 5000))
    assert main(["validate", name]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [f"ERROR: {name}: cannot read: File name too long"]


def test_every_shipped_drill_validates_and_a_broken_copy_names_its_own_path(tmp_path, capsys):
    shipped = sorted((ROOT / "drills" / "catalog").glob("*.yaml"))
    assert main(["validate", *map(str, shipped)]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines() == [f"OK {p} (drill)" for p in shipped]
    copy = tmp_path / "mine.yaml"
    shutil.copyfile(shipped[0], copy)
    with copy.open("a", encoding="utf-8") as handle:
        handle.write("colour: blue\n")
    assert main(["validate", str(copy)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [f"ERROR: {copy}:{_line_of(copy, 'colour: blue')}: colour: unknown key"]


def test_the_readme_validate_example_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    """README, "The command line": the same four files give the same lines."""
    block = re.search(r"^\$ dientap validate (.+)\n((?:(?:OK|ERROR:) .+\n)+)", README, flags=re.MULTILINE)
    assert block, "the README's validate example is gone"
    names, shown = block.group(1).split(), block.group(2).splitlines()
    shutil.copyfile(ROOT / "scenarios" / "profiles" / "smoke.yaml", tmp_path / "my-copy-of-smoke.yaml")
    _write(tmp_path / "t.yaml", TARGETS.format(allowed="staging-dvc.example.vn"))
    _write(tmp_path / "my-readiness.yaml", 'provinces:\n  "99": {connected: false}\n  "04": {catalog: false}\n')
    _write(tmp_path / "junk.yaml", "colour: blue\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", *names]) == ExitCode.CONFIG_ERROR
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [line for line in shown if line.startswith("OK ")]
    assert captured.err.splitlines() == [line for line in shown if line.startswith("ERROR: ")]
