"""Damaged, hostile or mixed run records: each is refused with a ConfigError naming the file
(and the field or line) before any report, gate verdict or comparison is made from it.

The run directories are the report fixtures and recorded runs written by the project's own
writers; each test damages one record the way a truncated copy, a hand edit or a file from
another run would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import ConfigError
from kernel.hdr import MAX_DECODED_BYTES, SparseHistogram
from kernel.roster import load_roster
from reports.compared_run import COMMUNES_PATH, HISTOGRAMS_PATH, load_compared_run, load_run_pair
from reports.gate import GATE_FILE, run_gate
from reports.histogram_bounds import MAX_SAMPLES
from reports.html import REPORT_FILE, render_report
from reports.process_growth import PROCESSES_FILE, load_process_samples
from reports.run_files import load_summary
from reports.summary_build import summary_from_run_dir
from tests.reports.compare_support import latencies, write_recorded_run

SUBMIT = ("portal", "POST /dossiers", "01")


def _problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(problem) for problem in exc.value.problems]


def _edit_json(path: Path, edit: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")  # json writes NaN and Infinity as such


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("where", "value", "field"), [
    ("rps", "NaN", "requests.rps"),
    ("rps", "Infinity", "requests.rps"),
    ("rps", "1e400", "requests.rps"),  # past a float: read as infinity
    ("p95", "NaN", "endpoints[0].p95_ms"),
])
def test_nan_and_infinity_are_refused_naming_the_field(fixture_run, where: str, value: str, field: str) -> None:
    run_dir = fixture_run("healthy")
    path = run_dir / "summary.json"
    marker = "__DAMAGED__"
    if where == "rps":
        _edit_json(path, lambda d: d["requests"].__setitem__("rps", marker))
    else:
        _edit_json(path, lambda d: d["endpoints"][0].__setitem__("p95_ms", marker))
    path.write_text(path.read_text(encoding="utf-8").replace(f'"{marker}"', value), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        render_report(run_dir)
    assert _problems(exc) == [f"{path}: {field}: Input should be a finite number"]
    assert not (run_dir / REPORT_FILE).exists()


def test_nan_in_the_journals_provenance_is_refused_too(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    path = run_dir / "journal.json"
    _edit_json(path, lambda d: d["provenance"].__setitem__("scale", "__DAMAGED__"))
    path.write_text(path.read_text(encoding="utf-8").replace('"__DAMAGED__"', "NaN"), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        render_report(run_dir)
    assert _problems(exc) == [f"{path}: provenance.scale: Input should be a finite number"]


def test_a_negative_latency_is_refused_instead_of_passing_every_budget(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    _edit_json(run_dir / "summary.json", lambda d: [ep.__setitem__("p95_ms", -5.0) for ep in d["endpoints"]])
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir)
    assert _problems(exc)[0] == f"{run_dir / 'summary.json'}: endpoints[0].p95_ms: Input should be greater than or equal to 0"
    assert not (run_dir / GATE_FILE).exists()


def test_a_count_too_large_for_a_rate_is_refused(fixture_run) -> None:
    # 4,000 digits: the gate's failures / requests overflowed a float (exit 70).
    run_dir = fixture_run("healthy")
    _edit_json(run_dir / "summary.json", lambda d: d["requests"].__setitem__("total", 10**4000))
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir)
    assert _problems(exc) == [f"{run_dir / 'summary.json'}: requests.total: Input should be less than or equal to "
                              f"{2**53}"]


def test_more_failures_than_requests_is_a_damaged_record(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    total = load_summary(run_dir).requests.total
    _edit_json(run_dir / "summary.json", lambda d: d["requests"].__setitem__("failed", total + 1))
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir)
    assert _problems(exc) == [f"{run_dir / 'summary.json'}: requests: failed {total + 1:,} + throttled 0 is more "
                              f"than total {total:,}; they are counted among the total"]


def test_a_gate_verdict_holding_nan_is_not_shown(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    run_gate(run_dir)
    _edit_json(run_dir / GATE_FILE, lambda d: d["rows"][0].__setitem__("measured", float("nan")))
    with pytest.raises(ConfigError) as exc:
        render_report(run_dir)
    assert _problems(exc) == [f"{run_dir / GATE_FILE}: rows[0].measured: Input should be a finite number"]


# --------------------------------------------------------------------------- files that are no records


def test_a_record_that_is_a_pipe_is_never_opened_and_named_for_what_it_should_be(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    (run_dir / "journal.json").unlink()
    os.mkfifo(run_dir / "journal.json")  # opening it would wait for a writer for ever
    with pytest.raises(ConfigError) as exc:
        render_report(run_dir)
    assert _problems(exc) == [f"{run_dir / 'journal.json'}: not a regular file (a device or a pipe); expected the "
                              "run's journal.json (a JSON record dientap writes)"]


@pytest.mark.parametrize(("damage", "says"), [
    ("not json", ":1: Invalid JSON: expected ident at line 1 column 2"),
    ("wrong shape", ":2: pid: Field required"),
    ("nan", ":2: at: Input should be a finite number"),
    ("directory", ": is a directory; expected the run's process samples (JSON lines dientap writes)"),
    ("pipe", ": not a regular file (a device or a pipe); expected the run's process samples (JSON lines dientap writes)"),
])
def test_damaged_process_samples_are_named_by_file_and_line(tmp_path: Path, damage: str, says: str) -> None:
    path = tmp_path / PROCESSES_FILE
    good = '{"at": 1.0, "process": "portal", "pid": 7, "rss_kb": 1024, "open_fds": 9}'
    if damage == "directory":
        path.mkdir()
    elif damage == "pipe":
        os.mkfifo(path)
    else:
        bad = {"not json": "not json", "wrong shape": '{"at": 2.0, "process": "portal", "rss_kb": 1, "open_fds": 1}',
               "nan": good.replace("1.0", "NaN")}[damage]
        path.write_text("\n".join([bad, good] if damage == "not json" else [good, bad]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_process_samples(tmp_path)
    assert _problems(exc) == [f"{path}{says}"]


def test_a_last_sample_cut_off_as_it_was_written_is_dropped_not_called_damage(tmp_path: Path) -> None:
    """The sampler appends a line at a time: a run killed mid-write leaves a last line with no
    newline, and its report is still made from the samples before it. The same line with its
    newline, or anywhere else, is damage."""
    good = '{"at": 1.0, "process": "portal", "pid": 7, "rss_kb": 1024, "open_fds": 9}'
    path = tmp_path / PROCESSES_FILE
    path.write_text(good + "\n" + good.replace("1.0", "2.0") + "\n" + good[:30], encoding="utf-8")
    assert [sample.at for sample in load_process_samples(tmp_path)] == [1.0, 2.0]
    path.write_text(good + "\n" + good[:30] + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_process_samples(tmp_path)
    assert [p.line for p in exc.value.problems] == [2]


@pytest.mark.parametrize("kind", ["pipe", "directory"])
def test_a_latency_record_that_is_no_file_is_not_called_missing(tmp_path: Path, kind: str) -> None:
    run_dir = write_recorded_run(tmp_path / "run", "run-1", {SUBMIT: latencies(50)})
    path = run_dir / HISTOGRAMS_PATH
    path.unlink()
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    with pytest.raises(ConfigError) as exc:
        load_compared_run(run_dir)
    what = "is a directory" if kind == "directory" else "not a regular file (a device or a pipe)"
    assert _problems(exc) == [f"{path}: {what}; expected the run's latency record (HDR histograms dientap writes)"]


# --------------------------------------------------------------------------- histograms


def _replace_first_histogram(path: Path, encoded: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    lines[first] = lines[first].rpartition("\t")[0] + "\t" + encoded
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _inflating(encoded: str, extra_bytes: int) -> str:
    """``encoded`` with ``extra_bytes`` zero bytes after its payload: a few kB compressed."""
    raw = base64.b64decode(encoded)
    compressed = zlib.compress(zlib.decompress(raw[8:]) + bytes(extra_bytes), 9)
    return base64.b64encode(raw[:4] + struct.pack(">I", len(compressed)) + compressed).decode("ascii")


def _holding(samples: int, significant_figures: int) -> str:
    histogram = SparseHistogram(significant_figures)
    histogram.record(1000)
    (slot,) = histogram.counts
    histogram.counts[slot], histogram.total = samples, samples
    return histogram.encode()


def _recorded_with_communes(tmp_path: Path) -> Path:
    return write_recorded_run(tmp_path / "run", "run-1", {SUBMIT: latencies(50)}, communes={"00070": (50, 0)},
                              commune_latencies={"00070": latencies(50)})


@pytest.mark.parametrize(("file", "named"), [(HISTOGRAMS_PATH, "histogram: "),
                                             (COMMUNES_PATH, "commune 00070: not an HdrHistogram V2 encoding (")])
def test_a_histogram_that_inflates_past_any_real_one_is_refused_as_it_is_decoded(tmp_path: Path, file: Path,
                                                                                  named: str) -> None:
    # 300 MB of zeros kept the decoder busy for minutes; this one is just past the bound.
    run_dir = _recorded_with_communes(tmp_path)
    path = run_dir / file
    _replace_first_histogram(path, _inflating(_holding(1, 3 if file == HISTOGRAMS_PATH else 2), MAX_DECODED_BYTES))
    with pytest.raises(ConfigError) as exc:
        load_compared_run(run_dir)
    (problem,) = _problems(exc)
    assert problem.startswith(f"{path}:3: {named}encoded histogram: inflates past {MAX_DECODED_BYTES:,} bytes"), problem


@pytest.mark.parametrize(("file", "subject"), [(HISTOGRAMS_PATH, "portal POST /dossiers province 01 (service)"),
                                               (COMMUNES_PATH, "commune 00070")])
def test_a_histogram_of_more_samples_than_any_run_records_is_refused(tmp_path: Path, file: Path, subject: str) -> None:
    # 2^62 samples: the order-statistic intervals overflowed a float (exit 70).
    run_dir = _recorded_with_communes(tmp_path)
    path = run_dir / file
    _replace_first_histogram(path, _holding(2**62, 3 if file == HISTOGRAMS_PATH else 2))
    with pytest.raises(ConfigError) as exc:
        load_compared_run(run_dir)
    assert _problems(exc) == [f"{path}: histogram of {subject}: {2**62:,} samples; a run records at most "
                              f"{MAX_SAMPLES:,} (damaged, or not written by dientap)"]


# --------------------------------------------------------------------------- one run's records


def test_a_journal_of_another_run_is_refused_by_the_report_and_the_gate(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    other = fixture_run("unready-04-11")
    shutil.copy(other / "journal.json", run_dir / "journal.json")
    run_id, other_id = load_summary(run_dir).run_id, load_summary(other).run_id
    expected = [f"{run_dir / 'journal.json'}: provenance.run_id: {other_id!r} is another run's: summary.json beside "
                f"it is of run {run_id!r}; a run directory holds the records of one run (was a file copied in from "
                "another?)"]
    for judge in (render_report, run_gate):
        with pytest.raises(ConfigError) as exc:
            judge(run_dir)
        assert _problems(exc) == expected
    assert not (run_dir / REPORT_FILE).exists() and not (run_dir / GATE_FILE).exists()


def test_a_load_record_of_another_run_is_refused(tmp_path: Path) -> None:
    base = write_recorded_run(tmp_path / "base", "base", {SUBMIT: latencies(50)})
    run_dir = write_recorded_run(tmp_path / "run", "run-1", {SUBMIT: latencies(50)})
    shutil.copy(base / "load.json", run_dir / "load.json")
    with pytest.raises(ConfigError) as exc:
        load_compared_run(run_dir)
    assert _problems(exc) == [f"{run_dir / 'journal.json'}: provenance.run_id: 'run-1' is another run's: load.json "
                              "beside it is of run 'base'; a run directory holds the records of one run (was a file "
                              "copied in from another?)"]


def test_the_gate_refuses_a_summary_and_load_record_of_two_runs(tmp_path: Path) -> None:
    base = write_recorded_run(tmp_path / "base", "base", {SUBMIT: latencies(50)})
    run_dir = write_recorded_run(tmp_path / "run", "run-1", {SUBMIT: latencies(50)})
    other = write_recorded_run(tmp_path / "other", "other", {SUBMIT: latencies(50)})
    shutil.copy(other / "summary.json", run_dir / "summary.json")
    (run_dir / "journal.json").unlink()  # no journal to tell them apart: the load record must
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("version: 1\nregression:\n  - {p95_growth: 0.1, min_delta_ms: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir, budgets, baseline_dir=base)
    assert _problems(exc) == [f"{run_dir / 'load.json'}: run_id: 'run-1' is another run's: summary.json beside it is "
                              "of run 'other'; a run directory holds the records of one run (was a file copied in "
                              "from another?)"]
    assert not (run_dir / GATE_FILE).exists()


@pytest.mark.parametrize("file", [HISTOGRAMS_PATH, COMMUNES_PATH])
def test_a_histogram_file_of_another_run_is_refused_by_the_comparison_and_the_summary(tmp_path: Path,
                                                                                    file: Path) -> None:
    # Latency of another run beside this run's counts was read as this run's: every
    # percentile, interval and verdict would have described the other run.
    other = write_recorded_run(tmp_path / "other", "other", {SUBMIT: latencies(50, median_ms=900.0)},
                               communes={"00070": (50, 0)}, commune_latencies={"00070": latencies(50, median_ms=900.0)})
    run_dir = _recorded_with_communes(tmp_path)
    shutil.copy(other / file, run_dir / file)
    expected = [f"{run_dir / file}: run_id: 'other' is another run's: load.json beside it is of run 'run-1'; a run "
                "directory holds the records of one run (was a file copied in from another?)"]
    for read in (load_compared_run, lambda directory: summary_from_run_dir(directory, load_roster())):
        with pytest.raises(ConfigError) as exc:
            read(run_dir)
        assert _problems(exc) == expected


def test_a_histogram_file_from_before_run_ids_is_read_as_the_runs_own(tmp_path: Path) -> None:
    run_dir = _recorded_with_communes(tmp_path)
    for file in (HISTOGRAMS_PATH, COMMUNES_PATH):
        path = run_dir / file
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        assert lines[1] == "# run_id\trun-1\n"
        path.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")
    run = load_compared_run(run_dir)
    assert run.communes is not None and run.communes["00070"].total == 50
    assert sum(h.total for h in run.histograms.values()) == 50
    assert summary_from_run_dir(run_dir, load_roster()).run_id == "run-1"


@pytest.mark.parametrize("baseline", ["the run itself", "a copy of it"])
def test_a_baseline_that_is_the_judged_run_is_refused(tmp_path: Path, baseline: str) -> None:
    run_dir = write_recorded_run(tmp_path / "run", "run-1", {SUBMIT: latencies(50)})
    base = run_dir if baseline == "the run itself" else Path(shutil.copytree(run_dir, tmp_path / "copy"))
    expected = [f"{base}: the baseline is run 'run-1', the run it would judge; give the directory of an earlier run"]
    with pytest.raises(ConfigError) as exc:
        load_run_pair(base, run_dir)
    assert _problems(exc) == expected
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("version: 1\nregression:\n  - {p95_growth: 0.1, min_delta_ms: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        run_gate(run_dir, budgets, baseline_dir=base)
    assert _problems(exc) == expected
    assert not (run_dir / GATE_FILE).exists()
