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


def _refused(capsys: pytest.CaptureFixture[str]) -> str:
    """The one ERROR line of a refusal (and nothing on stdout)."""
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("ERROR: "), err
    return lines[0]


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--duration", "99999999999h", "ERROR: argument --duration: 3.6e+14 s is longer than a drill may last"),
    ("--duration", "61m", "ERROR: argument --duration: 3660 s is longer than a drill may last"),
    ("--request-timeout", "2h", "ERROR: argument --request-timeout: 7200 s is longer than a drill may last"),
    ("--settle", "100h", "ERROR: argument --settle: 360000 s is longer than a drill may last"),
    ("--scale", "1e308", "ERROR: argument --scale: 1e+308 is more than a drill's load may be scaled; give a number "
                         "more than 0 and at most 1000"),
])
def test_a_flag_past_the_drill_files_bounds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str,
                                                       value: str, says: str) -> None:
    # The drill file allows at most an hour; the flags let a drill past it (a 3.6e14-s --dry
    # walk ended in an OverflowError traceback, exit 70, after making its run directory).
    assert main(["drill", "--dry", "axis-partition", flag, value, "--out", str(tmp_path / "runs")]) == 2
    assert _refused(capsys).startswith(says)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("api", "code", "says"), [
    ("http://example.com:8474", 4, "ERROR: argument --proxy-api: fault proxy API host 'example.com' is not on the "
                                   "allowlist (default: loopback only); add it explicitly with --allow-host example.com if you "
                                   "own that system"),
    ("127.0.0.1:8474", 2, "ERROR: argument --proxy-api: '127.0.0.1:8474' is not an http(s) URL with a host; give a "
                          "Toxiproxy-compatible API's URL, e.g. http://127.0.0.1:8474"),
])
def test_the_proxy_api_is_checked_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str], api: str,
                                                         code: int, says: str) -> None:
    # Not --dry: the runner used to refuse it only once the mocks were up (exit 70).
    assert main(["drill", "axis-partition", "--proxy-api", api, "--no-board", "--out", str(tmp_path / "runs")]) == code
    assert _refused(capsys) == says
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("argv", "says"), [
    (["--list", "golive-night"], "ERROR: argument --list: lists every drill and takes no name (got 'golive-night')"),
    (["--dry", "population-outage", "--proxy-api", "http://127.0.0.1:8474"],
     "ERROR: argument --proxy-api: drill 'population-outage' has no network step, so no fault proxy is used"),
    (["--dry", "population-outage", "--prometheus"],
     "ERROR: argument --prometheus: a dry run starts nothing for Prometheus to scrape"),
])
def test_a_flag_that_would_be_silently_ignored_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          argv: list[str], says: str) -> None:
    assert main(["drill", *argv, "--out", str(tmp_path / "runs")]) == 2
    assert _refused(capsys).startswith(says)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("line", "says"), [
    ("target_weaknesses: {portal: [no_such_weakness]}",
     "2: target_weaknesses.portal: unknown weakness(es) 'no_such_weakness' for the portal mock; known weaknesses: "),
    ("profile: no-such-profile", "2: profile: unknown profile 'no-such-profile'; shipped profiles: "),
])
def test_what_a_drill_file_names_is_looked_up_at_its_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    # The unknown weakness used to reach the mocks ("starting the embedded mocks", exit 70); the
    # unknown profile was an ERROR line naming neither the drill file nor its field.
    path = tmp_path / "named.yaml"
    path.write_text(f"title: x\n{line}\nmethod:\n  - {{name: a, backend: http, target: portal, at_s: 1, "
                    "duration_s: 2, http: {kind: outage}}\n", encoding="utf-8")
    assert main(["drill", str(path), "--no-board", "--out", str(tmp_path / "runs")]) == 3
    assert _refused(capsys).startswith(f"ERROR: {path}:{says}")
    assert not (tmp_path / "runs").exists()


def test_readiness_flag_is_refused_for_a_drill_with_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The drill's own profile silently won over the flag.
    readiness = Path(__file__).resolve().parents[2] / "drills" / "catalog" / "readiness" / "old-tier.yaml"
    assert main(["drill", "--dry", "golive-night", "--readiness", str(readiness), "--out", str(tmp_path / "runs")]) == 2
    assert _refused(capsys).startswith("ERROR: argument --readiness: drill 'golive-night' starts the mocks with its own "
                                       "readiness profile (readiness/old-tier.yaml, beside its file)")
    assert not (tmp_path / "runs").exists()


def test_a_profile_file_named_by_a_drill_file_is_found_beside_it_from_any_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `readiness:` is: a drill and its profile move together. It was looked up from the
    # current directory, so the same drill validated in one directory and not in another.
    team = tmp_path / "team"
    team.mkdir()
    (team / "quiet.yaml").write_text(
        "name: quiet\nduration_s: 20\ncommunes: {select: per_province, per_province: 1}\n"
        "officers: {per_commune: 1, login_window_s: 2, think_time_s: [0.5, 1]}\n"
        "agencies: {enabled: false}\ncitizens: {arrivals_per_s: 1}\n", encoding="utf-8")
    (team / "drill.yaml").write_text(
        "title: a team's drill\nprofile: quiet.yaml\nmethod:\n  - {name: slow portal, backend: http, target: portal, "
        "at_s: 5, duration_s: 5, http: {kind: latency, latency: {ms: 100}}}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # neither the drill's directory nor the project's
    assert main(["validate", "team/drill.yaml"]) == 0
    assert capsys.readouterr().out == "OK team/drill.yaml (drill)\n"
    assert main(["drill", "--dry", "team/drill.yaml", "--out", str(tmp_path / "runs")]) == 0
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    provenance = load_journal(run_dir).provenance
    assert provenance.profile == "quiet"
