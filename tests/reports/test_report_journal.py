"""The run-directory records: round trips, atomic writes, load errors, secrets, runs/latest."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from kernel.errors import ConfigError, ExitCode
from reports.journal import Journal, JournalEvent, TargetService
from reports.run_files import load_journal, load_summary, update_latest_symlink, write_run_dir
from reports.sample import sample_run
from reports.summary import Summary
from tests.reports.rpt_support import FIXTURES, make_journal, make_summary


def test_full_journal_round_trips_through_json() -> None:
    run = sample_run("rt", total_requests=2000, duration_s=10, drill=True, security=True, unready=["04"])
    text = run.journal.model_dump_json()
    again = Journal.model_validate_json(text)
    assert again == run.journal
    assert again.model_dump_json() == text
    assert again.drill is not None and again.drill.reconciliation[0].item_kind == "dossiers"
    assert again.security is not None and again.security.checks[0].evidence


def test_summary_round_trips_and_keeps_issue_3_fields() -> None:
    summary = sample_run("rt", total_requests=2000, duration_s=10).summary
    data = json.loads(summary.model_dump_json())
    assert Summary.model_validate(data) == summary
    assert {"run_id", "profile", "duration_s", "requests", "endpoints", "provinces", "communes", "generator",
            "abort"} <= set(data)
    assert set(data["requests"]) >= {"total", "failed", "rps"}
    ep = data["endpoints"][0]
    assert {"service", "name", "count", "failures", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"} <= set(ep)
    assert set(ep["intended"]) == {"p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"}
    province = data["provinces"][0]
    assert {"code", "name", "communes_total", "communes_active", "requests", "failures", "p95_ms"} <= set(province)
    assert set(province["checks"]) == {"sign_in", "catalogue", "dossier_submit", "status_sync", "population_lookup",
                                       "document_exchange"}
    assert len(data["provinces"]) == 34


def test_event_detail_keeps_scalar_types_and_rejects_nested_values() -> None:
    t = datetime(2026, 6, 30, tzinfo=UTC)
    event = JournalEvent(t=t, offset_s=1.5, kind="drill_step", name="kill portal", status="ok",
                         detail={"flag": True, "n": 3, "x": 0.5, "s": "a", "none": None}, end_t=t, output="done")
    again = JournalEvent.model_validate_json(event.model_dump_json())
    assert again.detail == {"flag": True, "n": 3, "x": 0.5, "s": "a", "none": None}
    assert type(again.detail["flag"]) is bool and type(again.detail["n"]) is int
    with pytest.raises(ValidationError):
        JournalEvent(t=t, offset_s=0, kind="note", name="x", detail={"nested": {"a": 1}})
    with pytest.raises(ValidationError):
        JournalEvent(t=t, offset_s=0, kind="coffee_break", name="x")


def test_target_urls_lose_credentials_and_query() -> None:
    service = TargetService(name="portal", base_url="https://ops:s3cret@staging.example.vn:8443/api?token=abc#x")
    assert service.base_url == "https://staging.example.vn:8443/api"
    journal = make_journal()
    journal.provenance.target.services.append(service)
    dumped = journal.model_dump_json()
    assert "staging.example.vn" in dumped and "s3cret" not in dumped and "token=abc" not in dumped


def test_write_run_dir_is_atomic_and_loads_back(tmp_path: Path) -> None:
    journal, summary = make_journal("r1"), make_summary(run_id="r1")
    run_dir = write_run_dir(tmp_path / "r1", journal, summary)
    assert sorted(p.name for p in run_dir.iterdir()) == ["journal.json", "summary.json"]  # no temp files left
    assert load_journal(run_dir) == journal
    assert load_summary(run_dir / "summary.json") == summary


def test_loading_reports_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_summary(tmp_path)
    assert str(missing.value) == f"{tmp_path / 'summary.json'}: file not found"
    assert missing.value.exit_code == ExitCode.CONFIG_ERROR

    data = json.loads(make_summary().model_dump_json())
    data["requests"]["totl"] = 1
    data["endpoints"][0]["count"] = -1
    (tmp_path / "summary.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_summary(tmp_path)
    lines = str(bad.value).splitlines()
    assert f"{tmp_path / 'summary.json'}: endpoints[0].count: Input should be greater than or equal to 0" in lines
    assert f"{tmp_path / 'summary.json'}: requests.totl: unknown key" in lines


def test_newer_journal_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "healthy" / "journal.json").read_text(encoding="utf-8"))
    data["version"] = 2
    (tmp_path / "journal.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"journal.json: version: unsupported version 2; this dientap reads version 1"):
        load_journal(tmp_path)


def test_latest_symlink_points_at_newest_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for name in ("run-a", "run-b"):
        write_run_dir(runs / name, make_journal(name), make_summary(run_id=name))
        link = update_latest_symlink(runs, runs / name)
    assert os.readlink(link) == "run-b"  # relative, so the runs folder can move
    assert load_summary(runs / "latest").run_id == "run-b"
    assert not [p for p in runs.iterdir() if p.name.startswith(".latest")]


def test_fixture_run_dirs_load() -> None:
    for name in ("healthy", "unready-04-11"):
        assert load_journal(FIXTURES / name).provenance.run_id.startswith("fixture-")
        assert len(load_summary(FIXTURES / name).provinces) == 34


def test_add_event_computes_offset_from_start() -> None:
    journal = make_journal()
    start = journal.provenance.started_at
    event = journal.add_event("fault_start", "axis-partition", status="ok", t=start + timedelta(seconds=12.5), service="axis")
    assert (event.offset_s, event.detail, journal.events) == (12.5, {"service": "axis"}, [event])


def test_step_records_end_status_output_and_error_even_on_failure() -> None:
    journal = make_journal()
    with journal.step("kill portal", signal="SIGKILL") as step:
        step.output = "restarted in 1.2 s"
    with pytest.raises(RuntimeError), journal.step("restore axis"):
        raise RuntimeError("proxy refused")
    ok, failed = journal.events
    assert (ok.kind, ok.status, ok.output, ok.detail) == ("drill_step", "ok", "restarted in 1.2 s", {"signal": "SIGKILL"})
    assert ok.end_t is not None and ok.end_t >= ok.t
    assert (failed.status, failed.error) == ("error", "RuntimeError: proxy refused")
    assert failed.end_t is not None
    assert Journal.model_validate_json(journal.model_dump_json()) == journal


@pytest.mark.parametrize(("url", "kept"), [
    ("http://ops:pw@[::1]:8701/api?k=v", "http://[::1]:8701/api"),
    ("https://token@staging.example.vn/#frag", "https://staging.example.vn/"),
    ("http://127.0.0.1:8702", "http://127.0.0.1:8702"),  # nothing secret: kept exactly
    ("https://staging-truc.example.vn/axis/", "https://staging-truc.example.vn/axis/"),
])
def test_target_url_stripping_keeps_host_port_and_path(url: str, kept: str) -> None:
    assert TargetService(name="axis", base_url=url).base_url == kept


def test_step_keeps_a_status_the_body_set_and_marks_an_interrupt() -> None:
    journal = make_journal()
    with journal.step("probe portal", kind="security_check", target="portal") as step:
        step.status = "failed"
        step.output = "401 expected, got 200"
    with pytest.raises(KeyboardInterrupt), journal.step("wait for recovery"):
        raise KeyboardInterrupt
    failed, interrupted = journal.events
    assert (failed.kind, failed.status, failed.detail) == ("security_check", "failed", {"target": "portal"})
    assert (interrupted.status, interrupted.error) == ("interrupted", "KeyboardInterrupt: ")
    assert interrupted.end_t is not None and interrupted.end_t >= interrupted.t


def test_events_at_the_start_or_before_it_get_exact_offsets() -> None:
    journal = make_journal()
    start = journal.provenance.started_at
    at_start = journal.add_event("phase", "spawn", t=start)
    early = journal.add_event("note", "mocks ready", t=start - timedelta(milliseconds=250))
    precise = journal.add_event("phase", "steady", t=start + timedelta(microseconds=1_234_567))
    assert (at_start.offset_s, early.offset_s, precise.offset_s) == (0.0, -0.25, 1.234567)
    assert [e.name for e in journal.events] == ["spawn", "mocks ready", "steady"]  # kept in the order written
