"""``dientap drill`` with a drill file's own readiness profile (the go-live night's old tier):
a missing or invalid profile is one ERROR line naming the drill file's field, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from dientap.cli import main
from drills.catalog import CATALOG_DIR

GOLIVE = (CATALOG_DIR / "golive-night.yaml").read_text(encoding="utf-8")


def test_a_missing_readiness_profile_is_named_with_the_drill_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    drill = tmp_path / "night.yaml"
    drill.write_text(GOLIVE.replace("readiness/old-tier.yaml", "nope.yaml"), encoding="utf-8")
    line = GOLIVE.splitlines().index("readiness: readiness/old-tier.yaml") + 1
    problem = (f"ERROR: {drill}:{line}: readiness: {str(tmp_path / 'nope.yaml')!r}: file not found; "
               "give a readiness profile YAML, relative to the drill file\n")
    assert main(["drill", str(drill), "--out", str(tmp_path / "runs")]) == 3
    assert capsys.readouterr().err == problem
    assert not (tmp_path / "runs").exists()
    # validate says what the drill would: it said OK to this file
    assert main(["validate", str(drill)]) == 3
    assert capsys.readouterr().err == problem


@pytest.mark.parametrize("field", ["readiness", "profile"])
def test_a_named_file_that_is_no_regular_file_is_a_problem_of_the_drill_files_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str) -> None:
    # A folder, a pipe, a device: never read, each one line at the drill file's field (exit 3).
    drill = tmp_path / "night.yaml"
    named = {"folder.yaml": "is a directory; expected a YAML file",
             "/dev/zero": "not a regular file (a device or a pipe); expected a YAML file"}
    (tmp_path / "folder.yaml").mkdir()
    for given, why in named.items():
        old_tier = str(CATALOG_DIR / "readiness" / "old-tier.yaml")  # the other field stays valid
        text = GOLIVE.replace("profile: smoke", f"profile: {given}").replace("readiness/old-tier.yaml", old_tier) \
            if field == "profile" else GOLIVE.replace("readiness/old-tier.yaml", given)
        drill.write_text(text, encoding="utf-8")
        line = text.splitlines().index(f"{field}: {given}") + 1
        shown = given if given.startswith("/") else str(tmp_path / given)
        assert main(["validate", str(drill)]) == 3
        err = capsys.readouterr().err
        assert err.startswith(f"ERROR: {drill}:{line}: {field}: {shown!r}: {why}; give ") and err.count("\n") == 1


def test_an_invalid_switch_in_the_profile_names_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                    ) -> None:
    (tmp_path / "tier.yaml").write_text("description: x\ndistrict_tier: half\n", encoding="utf-8")
    drill = tmp_path / "night.yaml"
    drill.write_text(GOLIVE.replace("readiness/old-tier.yaml", "tier.yaml"), encoding="utf-8")
    assert main(["drill", str(drill), "--out", str(tmp_path / "runs")]) == 3
    assert capsys.readouterr().err.startswith(f"ERROR: {tmp_path / 'tier.yaml'}:2: district_tier: Input should be")


def test_the_dry_run_walks_the_go_live_night(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--dry", "golive-night", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dry run of golive-night: 4 step(s) planned, nothing sent" in out
    assert "district_cutover" in out and "successor_officers" in out
