"""`dientap validate` recognises every shipped kind of file by its content and reports every file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dientap.cli import main
from kernel.errors import ExitCode

ROOT = Path(__file__).parents[2]
SHIPPED = {
    "profile": sorted((ROOT / "scenarios" / "profiles").glob("*.yaml")),
    "drill": sorted((ROOT / "drills" / "catalog").glob("*.yaml")),
    "budgets": [ROOT / "reports" / "budgets.yaml"],
}
TARGETS = """\
name: staging
allow_hosts: [staging-dvc.example.vn]
portal: {base_url: "https://staging-dvc.example.vn"}
population: {base_url: "https://staging-dvc.example.vn"}
axis: {base_url: "https://staging-dvc.example.vn"}
"""
READINESS = "provinces:\n  '04': {connected: false}\n"


def _copies(tmp_path: Path) -> dict[Path, str]:
    """Every shipped file copied under an anonymous name, outside the folders that hint at its kind."""
    copies: dict[Path, str] = {}
    # The go-live night's drills name their readiness profile beside them (readiness/old-tier.yaml).
    shutil.copytree(ROOT / "drills" / "catalog" / "readiness", tmp_path / "readiness")
    for kind, paths in SHIPPED.items():
        for index, path in enumerate(paths):
            copy = tmp_path / f"copy-{kind}-{index}.yml"
            shutil.copyfile(path, copy)
            copies[copy] = kind
    for kind, text in (("targets", TARGETS), ("readiness", READINESS)):
        copy = tmp_path / f"mine-{kind}.yaml"
        copy.write_text(text, encoding="utf-8")
        copies[copy] = kind
    return copies


def test_copies_of_every_kind_are_recognised_by_content(tmp_path, capsys):
    copies = _copies(tmp_path)
    assert main(["validate", *map(str, copies)]) == ExitCode.OK
    out = capsys.readouterr().out
    for path, kind in copies.items():
        assert f"OK {path} ({kind})" in out


def test_every_file_is_reported_not_just_the_first_bad_one(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    shutil.copyfile(SHIPPED["profile"][0], good)
    (tmp_path / "bad-profile.yaml").write_text("name: x\nduration_s: -1\n", encoding="utf-8")
    (tmp_path / "junk.yaml").write_text("colour: blue\n", encoding="utf-8")
    (tmp_path / "bad-targets.yaml").write_text(TARGETS.replace("https://staging-dvc", "ftp://staging-dvc"), encoding="utf-8")
    files = [tmp_path / n for n in ("bad-profile.yaml", "junk.yaml", "missing.yaml", "good.yaml", "bad-targets.yaml")]
    assert main(["validate", *map(str, files)]) == ExitCode.CONFIG_ERROR
    captured = capsys.readouterr()
    assert f"OK {good} (profile)" in captured.out
    errors = captured.err.splitlines()
    assert all(line.startswith("ERROR: ") for line in errors)
    for name, says in (("bad-profile.yaml:2: duration_s", "greater than 0"), ("junk.yaml", "not a dientap file"),
                       ("missing.yaml", "file not found"), ("bad-targets.yaml", "portal.base_url")):
        assert any(name in line and says in line for line in errors), (name, errors)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just words\n", ""])
def test_a_file_that_is_no_mapping_says_so(tmp_path, capsys, text):
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == ExitCode.CONFIG_ERROR
    assert "not a dientap file" in capsys.readouterr().err


def test_a_yaml_syntax_error_is_reported_at_its_line_not_as_no_dientap_file(tmp_path, capsys):
    """The same line `dientap gate --budgets` prints (and `validate --kind budgets` did already)."""
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nbudgets:\n  - {name: x, error_rate: 0.1\n", encoding="utf-8")
    assert main(["validate", str(path)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: {path}:4: invalid YAML: expected ',' or '}}', but got '<stream end>'"]


def test_a_key_given_twice_is_reported_by_validate(tmp_path, capsys):
    path = tmp_path / "b.yaml"
    path.write_text("version: 1\nbudgets:\n  - {service: portal, p95_ms: 5, p95_ms: 9999}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: {path}:3: budgets[0].p95_ms: duplicate key (first at line 3): a key may appear once in a mapping"]


def test_an_empty_budgets_file_is_refused_but_an_empty_readiness_file_means_all_ready(tmp_path, capsys):
    """README: provinces a readiness profile does not list are ready, so an empty one is meaningful."""
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert main(["validate", "--kind", "readiness", str(path)]) == ExitCode.OK
    assert capsys.readouterr().out == f"OK {path} (readiness)\n"
    assert main(["validate", "--kind", "budgets", str(path)]) == ExitCode.CONFIG_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: {path}: no budget lines: a budgets file needs version: 1 and at least one line under "
        "budgets: or regression: (or readiness: thresholds for the report)"]


def test_validate_refuses_what_drill_refuses_before_it_starts(tmp_path, capsys):
    """`validate` said OK to a drill naming an unknown profile or weakness, which `dientap
    drill` then refused: validate's OK now means the drill command's."""
    path = tmp_path / "d.yaml"
    path.write_text("title: x\nprofile: nosuch\ntarget_weaknesses: {portal: [nonsense]}\n", encoding="utf-8")
    assert main(["validate", "--kind", "drill", str(path)]) == ExitCode.CONFIG_ERROR
    errors = capsys.readouterr().err.splitlines()
    assert [line.split(";")[0] for line in errors] == [
        f"ERROR: {path}:2: profile: unknown profile 'nosuch'",
        f"ERROR: {path}:3: target_weaknesses.portal: unknown weakness(es) 'nonsense' for the portal mock"]
