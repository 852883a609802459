"""Run-directory files: atomic writes that leave nothing half-written, load errors that name the file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from reports.gate import GateResult
from reports.run_files import (
    atomic_write_text,
    load_journal,
    load_record,
    load_summary,
    update_latest_symlink,
    write_run_dir,
    write_summary,
)
from tests.reports.rpt_support import endpoint, make_journal, make_summary


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_written_files_get_the_users_usual_mode_not_the_temp_files_private_one(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "deep" / "er" / "x.json", "{}")
    assert path.read_text(encoding="utf-8") == "{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "summary.json", "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "half \ud800 written")  # a lone surrogate cannot be encoded: fails mid-write
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_rewriting_replaces_the_whole_file(tmp_path: Path) -> None:
    write_summary(tmp_path, make_summary(*(endpoint("axis", f"GET /{i}") for i in range(50))))
    write_summary(tmp_path, make_summary(endpoint("axis", "GET /only")))
    assert [e.name for e in load_summary(tmp_path).endpoints] == ["GET /only"]


def test_truncated_and_undecodable_files_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"run_id": "x", ', encoding="utf-8")
    with pytest.raises(ConfigError) as truncated:
        load_summary(tmp_path)
    assert str(truncated.value).startswith(f"{path}: Invalid JSON: EOF while parsing")
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"summary.json: Input should be an object"):
        load_summary(tmp_path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match=r"summary.json: cannot read: 'utf-8' codec can't decode"):
        load_summary(tmp_path)


def test_a_corrupt_file_reports_its_first_twenty_problems(tmp_path: Path) -> None:
    data = json.loads(make_summary(*(endpoint("axis", f"GET /{i}") for i in range(30))).model_dump_json())
    for ep in data["endpoints"]:
        ep["count"] = -1
    (tmp_path / "summary.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_summary(tmp_path)
    lines = str(exc.value).splitlines()
    assert len(lines) == 20
    assert lines[0].endswith("summary.json: endpoints[0].count: Input should be greater than or equal to 0")
    assert lines[-1].startswith(f"{tmp_path / 'summary.json'}: endpoints[19].count")


def test_load_record_reads_any_record_and_load_journal_takes_the_file_itself(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "r", make_journal("r"))
    assert not (run_dir / "summary.json").exists()  # the summary is optional when writing
    assert load_journal(run_dir / "journal.json") == load_journal(run_dir)
    (tmp_path / "gate.json").write_text('{"run_id": "r", "rows": [], "colour": 1}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gate.json: colour: unknown key"):
        load_record(GateResult, tmp_path / "gate.json")


def test_a_long_runs_journal_is_read_though_it_is_larger_than_any_config_file(tmp_path: Path) -> None:
    """The journal keeps a sample per endpoint and second (≈ 158 bytes): 15 endpoints for an hour
    and a half is past the 10 MiB a config file may hold, and such a run's report was refused."""
    sample = {"offset_s": 0.0, "count": 11, "failures": 0, "p50_ms": 42.751, "p95_ms": 47.615, "p99_ms": 48.127,
              "intended_p95_ms": 47.871, "intended_p99_ms": 48.383}
    journal = json.loads(make_journal("soak").model_dump_json())
    journal["timeseries"] = {"bucket_s": 1.0, "series": [
        {"service": "portal", "endpoint": f"GET /e{index}",
         "samples": [{**sample, "offset_s": float(second)} for second in range(5400)]} for index in range(15)]}
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(journal, separators=(",", ":")), encoding="utf-8")  # as dientap writes it
    assert path.stat().st_size > 10 * 1024 * 1024
    loaded = load_journal(path)
    assert [len(series.samples) for series in loaded.timeseries.series] == [5400] * 15


def test_latest_link_replaces_a_stale_link_and_a_leftover_temporary_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = write_run_dir(runs / "old", make_journal("old"), make_summary(run_id="old"))
    new = write_run_dir(runs / "new", make_journal("new"), make_summary(run_id="new"))
    update_latest_symlink(runs, old)
    os.symlink("nowhere", runs / f".latest.{os.getpid()}.tmp")  # left by a run that was killed mid-update
    link = update_latest_symlink(runs, new)
    assert os.readlink(link) == "new" and load_summary(link).run_id == "new"
    assert sorted(p.name for p in runs.iterdir()) == ["latest", "new", "old"]
