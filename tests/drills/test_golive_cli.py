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
    assert main(["drill", str(drill), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err == (f"ERROR: {drill}: readiness: {str(tmp_path / 'nope.yaml')!r}: file not found; "
                   "give a readiness profile YAML, relative to the drill file\n")
    assert not (tmp_path / "runs").exists()


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
