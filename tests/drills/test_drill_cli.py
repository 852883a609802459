"""``dientap drill``: --list, --dry (the plan walked without traffic), usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dientap.cli import main
from reports.run_files import load_journal


def test_list_shows_every_built_in_drill_with_its_title(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--list"]) == 0
    out = capsys.readouterr().out
    assert "lossy-axis" in out and "Lossy axis (planted defect)" in out
    assert len([line for line in out.splitlines() if line.strip()]) >= 10


def test_unknown_drill_is_a_usage_error_naming_the_alternatives(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "no-such-drill"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: unknown drill 'no-such-drill'; known drills: axis-latency-spike, ")
    assert "run `dientap drill --list`" in err


def test_a_step_after_the_load_is_refused_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--dry", "axis-partition", "--duration", "8", "--out", str(tmp_path)]) == 2
    assert "the load lasts 8 s but these steps start after it: connections time out at 11 s" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_invalid_drill_file_prints_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("title: x\nmethod:\n  - {name: a, backend: http, target: portal, at_s: 1, duration_s: 0}\n", encoding="utf-8")
    assert main(["drill", str(path)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert f"ERROR: {path}:3: method[0].duration_s: expected seconds > 0 and ≤ 3600, got 0" in err
    assert f"ERROR: {path}:3: method[0].http: required when backend is 'http'" in err


def test_dry_walks_the_plan_without_traffic_and_writes_the_journal_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drill", "--dry", "axis-partition", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dry run of axis-partition: 2 step(s) planned, nothing sent" in out
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(p.name for p in run_dir.iterdir()) == ["journal.json"]  # no mocks, no load, no ledgers
    journal = load_journal(run_dir)
    assert journal.drill is not None and journal.drill.name == "axis-partition"
    assert [(f.name, f.kind, f.target, f.start_offset_s, f.end_offset_s) for f in journal.drill.faults] == [
        ("connections reset", "reset_peer", "axis", 6.0, 10.0),
        ("connections time out", "timeout", "axis", 11.0, 15.0),
    ]
    kinds = [(e.kind, e.name, e.status) for e in journal.events]
    assert kinds[0] == ("note", "dry run: the plan is walked, nothing is started, injected or sent", "skipped")
    assert ("fault_start", "inject connections reset", "skipped") in kinds
    assert ("fault_stop", "remove connections time out", "skipped") in kinds
    assert ("drill_step", "rollback: reset_proxy", "skipped") in kinds
    offsets = [e.offset_s for e in journal.events if e.kind.startswith("fault_")]
    assert offsets == sorted(offsets) == [6.0, 10.0, 11.0, 15.0]
    assert all(c.measured == "not measured (dry run)" for c in journal.drill.hypothesis)
