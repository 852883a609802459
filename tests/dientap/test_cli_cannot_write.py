"""When the CLI cannot write: what it can know before it starts is refused then, one ``ERROR:``
line naming the flag, the path and why; what fails later (the disk filled during the run, a
file-size limit) is one ``ERROR:`` line naming the file — never a traceback — and what was
written before stays whole.

* refused before anything starts, watched by the audit hook (``run_audited``): ``OUT/latest``
  that is a folder or a file (dientap replaces it with its link only after the whole load —
  it died there with a traceback, exit 70, and no report or gate); a path holding a NUL
  character (``ValueError``, a traceback, once after a whole load for ``--junit``); a run
  directory on a read-only file system for ``report`` and ``gate`` (the report rendered,
  the gate evaluated and its JUnit written, then a traceback), and a read-only ``--out`` said
  to be that, not "permission denied";
* failing mid-way, in a child whose files may not grow past a few hundred bytes
  (``RLIMIT_FSIZE``, ``SIGXFSZ`` ignored: a write fails with ``EFBIG``, as on a full disk):
  the report, the gate's verdict, the comparison, a run's finish, and a write no command
  wraps (the last-resort handler of ``dientap.cli``);
* the acknowledgement ledger a drill reconciles against is written whole or not at all.

The read-only cases mount a small tmpfs in the test's temporary folder (root only; unmounted
in the fixture's teardown, also when a test fails).
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dientap.cli import main
from dientap.commands import report_cmd
from kernel.ack_ledger import AckLedger
from kernel.errors import ExitCode
from tests.disk import fill, small_disk
from tests.reports.compare_support import latencies, write_recorded_run

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = str(ROOT / "reports" / "budgets.yaml")
SMALL = ["--duration", "1", "--population-size", "100", "--no-board"]  # bounds a run that is not refused (it must be)
FOLDER = "give a folder that exists or can be created, and can be written in"
NOT_THE_LINK = "not the link dientap keeps to the newest run; move it away, or give another folder for the run directories"
NUL = "a path cannot hold a NUL character"
# A file in the child may not grow past this: every output below is larger, every input only read.
FILE_LIMIT = 200


def _samples() -> dict:
    return {("portal", "POST /dossiers", "01"): latencies(100, seed=1)}


# --- refused before anything starts --------------------------------------------------

# (id, command line, what the one ERROR: line says); every one exit 2.
BEFORE: list[tuple[str, list[str], list[str]]] = [
    ("run-latest-is-a-folder", ["run", "smoke", "--out", "runs", *SMALL],
     [f"argument --out: {'runs/latest'!r} is a folder, " + NOT_THE_LINK]),
    ("drill-latest-is-a-folder", ["drill", "population-outage", "--out", "runs", "--no-board"],
     [f"argument --out: {'runs/latest'!r} is a folder, " + NOT_THE_LINK]),
    ("security-latest-is-a-file", ["security", "--checks", "auth.lockout", "--out", "filed", "--population-size", "100"],
     [f"argument --out: {'filed/latest'!r} is a file, " + NOT_THE_LINK]),
    ("run-out-nul", ["run", "smoke", "--out", "ru\0ns", *SMALL], [f"argument --out: 'ru\\x00ns': {NUL}; " + FOLDER]),
    ("run-junit-nul", ["run", "smoke", "--budgets", BUDGETS, "--junit", "ga\0te.xml", "--out", "fresh", *SMALL],
     [f"argument --junit: 'ga\\x00te.xml': {NUL}; give a file to write the JUnit XML to"]),
    ("gate-junit-nul", ["gate", "run", "--junit", "ga\0te.xml"],
     [f"argument --junit: 'ga\\x00te.xml': {NUL}; give a file to write the JUnit XML to"]),
    ("compare-output-nul", ["compare", "run", "run", "--output", "com\0pare.md"],
     [f"argument --output: 'com\\x00pare.md': {NUL}; give a file to write"]),
    ("mocks-data-dir-nul", ["mocks", "--data-dir", "da\0ta", "--population-size", "100", "--duration", "1"],
     [f"argument --data-dir: 'da\\x00ta': {NUL}; " + FOLDER]),
    ("worker-out-nul", ["worker", "--master", "127.0.0.1", "--out", "cop\0ies"],
     [f"argument --out: 'cop\\x00ies': {NUL}; " + FOLDER]),
    ("report-run-dir-nul", ["report", "r\0un"], [f"argument RUN_DIR: 'r\\x00un': {NUL}; give the directory of a run"]),
]
BEFORE_FILES = ["filed", "run", "runs"]


@pytest.fixture(scope="module")
def refused_before(run_audited, tmp_path_factory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("cannot-write")
    write_recorded_run(cwd / "run", "run", _samples())
    (cwd / "runs" / "latest").mkdir(parents=True)  # someone's folder, where dientap keeps its link
    (cwd / "filed").mkdir()
    (cwd / "filed" / "latest").write_text("a note\n", encoding="utf-8")
    runs = run_audited([argv for _, argv, _ in BEFORE], cwd=cwd)
    return {"cwd": cwd, **{case_id: run for (case_id, _, _), run in zip(BEFORE, runs, strict=True)}}


@pytest.mark.parametrize(("case_id", "says"), [(case_id, says) for case_id, _, says in BEFORE],
                         ids=[case_id for case_id, _, _ in BEFORE])
def test_what_cannot_be_written_is_refused_before_anything_starts(refused_before, case_id, says):
    refused_before[case_id].assert_refused_before_start(ExitCode.USAGE_ERROR, says, BEFORE_FILES)
    cwd = refused_before["cwd"]
    assert (cwd / "runs" / "latest").is_dir() and sorted(os.listdir(cwd / "runs")) == ["latest"]
    assert (cwd / "filed" / "latest").read_text(encoding="utf-8") == "a note\n"
    assert not (cwd / "run" / "gate.json").exists() and not (cwd / "run" / "report.html").exists()


@pytest.fixture(scope="module")
def read_only(run_audited, tmp_path_factory) -> Any:
    """A tmpfs holding a recorded run, remounted read-only; unmounted at teardown, whatever happened."""
    cwd = tmp_path_factory.mktemp("read-only")
    with small_disk(cwd / "ro", 4096) as point:  # root only: it skips otherwise
        write_recorded_run(point / "run", "run", _samples())
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True, capture_output=True)
        cases = [["run", "smoke", "--out", "ro", *SMALL],
                 ["report", "ro/run"],
                 ["gate", "ro/run", "--budgets", BUDGETS, "--junit", "gate.xml"],
                 ["mocks", "--data-dir", "ro", "--population-size", "100", "--duration", "1"],
                 ["report", "ro/run", "--format", "md"]]
        yield cwd, run_audited(cases, cwd=cwd)


def test_a_read_only_out_is_said_to_be_read_only(read_only):
    _, (run, _report, _gate, mocks, _md) = read_only
    run.assert_refused_before_start(ExitCode.USAGE_ERROR, [f"argument --out: {'ro'!r}: read-only file system; " + FOLDER],
                                    ["ro"])
    mocks.assert_refused_before_start(ExitCode.USAGE_ERROR,
                                      [f"argument --data-dir: {'ro'!r}: read-only file system; " + FOLDER], ["ro"])


def test_report_and_gate_refuse_a_read_only_run_directory_before_reading_it(read_only):
    """Both write into the run directory: said first, not after the report was rendered, or the
    gate evaluated and its JUnit file written (then a traceback, exit 70)."""
    _, (_run, report, gate, _mocks, markdown) = read_only
    report.assert_refused_before_start(ExitCode.USAGE_ERROR, [
        f"argument RUN_DIR: {'ro/run'!r}: read-only file system; report.html is written into the run directory: give "
        "one that can be written in, or --format md to print Markdown instead"], ["ro"])
    gate.assert_refused_before_start(ExitCode.USAGE_ERROR, [
        f"argument RUN_DIR: {'ro/run'!r}: read-only file system; the gate's verdict (gate.json) is written into the "
        "run directory"], ["ro"])
    assert markdown.code == ExitCode.OK and "POST /dossiers" in markdown.out, markdown  # it writes nothing


# --- failing mid-way ------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    from dientap.cli import main
    sys.exit(main(json.loads(sys.argv[1])))
""")


def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _run_limited(code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False, preexec_fn=lambda: _limited(FILE_LIMIT))


@pytest.fixture
def recorded(tmp_path) -> Path:
    write_recorded_run(tmp_path / "run", "run", _samples())
    write_recorded_run(tmp_path / "run2", "run2", {("portal", "POST /dossiers", "01"): latencies(100, seed=2)})
    return tmp_path


@pytest.mark.parametrize(("argv", "says", "unwritten"), [
    (["report", "run"], "ERROR: 'run/report.html': cannot write the report: file too large; once there is room, run "
     "this command again, or --format md to print Markdown instead", "run/report.html"),
    (["gate", "run", "--budgets", BUDGETS], "ERROR: 'run/gate.json': cannot write the gate's verdict: file too large; "
     "once there is room, run this command again", "run/gate.json"),
    (["compare", "run", "run2", "--output", "compare.md"], "ERROR: 'compare.md': cannot write the comparison: file too "
     "large; once there is room, run this command again, or leave --output out to print it", "compare.md"),
    (["drill", "--dry", "population-outage", "--out", "runs"], "ERROR: 'runs': cannot write the dry run's journal: file "
     "too large", None),
], ids=["report", "gate", "compare", "drill-dry"])
def test_a_file_that_cannot_be_written_mid_way_is_one_error_line(recorded, argv, says, unwritten):
    done = _run_limited(_CHILD, [json.dumps(argv)], recorded)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == ExitCode.INTERNAL_ERROR, done
    assert done.stderr.strip().splitlines() == [says]
    if unwritten is not None:
        assert not (recorded / unwritten).exists()
    left = [p.name for p in recorded.rglob("*.tmp")]
    assert left == [], f"left temporary files {left}"


def test_a_run_whose_report_cannot_be_written_keeps_its_records_and_says_so(recorded):
    """``finish_run`` (run, drill): the load's records are on disk; the report is what fails."""
    runs = recorded / "runs"
    write_recorded_run(runs / "r1", "r1", _samples())
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from dientap.commands.run_cmd import finish_run
        from kernel.errors import OutputNotWritten
        try:
            finish_run(Path("runs"), Path("runs/r1").resolve(), 0, 1.0)
        except OutputNotWritten as exc:
            print(f"not written: {exc}", file=sys.stderr)
    """)
    done = _run_limited(code, [], recorded)
    run_dir = (runs / "r1").resolve()
    assert done.stderr.strip().splitlines() == [
        f"not written: {str(run_dir / 'report.html')!r}: cannot write the report: file too large; the run's records "
        f"are kept in {run_dir}: once there is room, run `dientap report {run_dir}`"], done.stderr[-3000:]
    assert (runs / "latest").resolve() == run_dir and (run_dir / "summary.json").is_file()


def test_a_write_no_command_wraps_is_one_error_line_when_the_storage_refuses_it(tmp_path, monkeypatch, capsys):
    """The last resort of ``dientap.cli``: a full disk met by a write of any command is not a
    bug (no traceback); any other OSError still is."""
    def full(args: Any) -> ExitCode:
        raise OSError(errno.ENOSPC, "No space left on device", "runs/r1/run-config.json")

    monkeypatch.setattr(report_cmd, "run", full)
    assert main(["report", str(tmp_path)]) == ExitCode.INTERNAL_ERROR
    assert capsys.readouterr().err == "ERROR: 'runs/r1/run-config.json': cannot write: no space left on device\n"

    def bug(args: Any) -> ExitCode:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(report_cmd, "run", bug)
    assert main(["report", str(tmp_path)]) == ExitCode.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "Traceback" in err and "ERROR: internal error (a bug in dientap, traceback above)" in err


# --- the acknowledgement ledger -------------------------------------------------------

def test_a_ledger_that_cannot_be_written_whole_keeps_the_one_written_before(tmp_path):
    """A master writes a worker's ledger again when a late report comes: a disk that fills
    then must keep the ledger on disk, not cut it off mid-JSON (what a drill reconciles
    against). Lives here, with the CLI's other writes that cannot be made."""
    path = tmp_path / "ledgers" / "worker-1.json"
    AckLedger({"dossiers": {"D1": "k1"}}).dump(path)
    before = path.read_text(encoding="utf-8")
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from kernel.ack_ledger import AckLedger
        grown = AckLedger({"dossiers": {f"D{i}": f"key-{i}" for i in range(1000)}})
        try:
            grown.dump(Path(sys.argv[1]))
        except OSError as exc:
            print(exc.errno)
    """)
    done = _run_limited(code, [str(path)], tmp_path)
    assert done.stdout.strip() == str(errno.EFBIG), done
    assert path.read_text(encoding="utf-8") == before
    assert AckLedger.merge([path]).entries == {"dossiers": {"D1": "k1"}}
    assert sorted(p.name for p in path.parent.iterdir()) == ["worker-1.json"]


# --- a run whose disk filled during the load ------------------------------------------

def test_a_run_that_wrote_no_summary_says_when_its_disk_is_full(tmp_path, capsys):
    """The disk filled during the load: Locust could not write the summary, and its own
    failed writes are only in logs the full disk may not have kept. The CLI's line says so."""
    from dientap.commands.run_cmd import finish_run
    roomy = tmp_path / "roomy" / "run"
    roomy.mkdir(parents=True)
    assert finish_run(roomy.parent, roomy, 1, 10.0) == ExitCode.INTERNAL_ERROR
    assert "is full" not in capsys.readouterr().err  # a disk with room is not said to be full
    with small_disk(tmp_path / "disk", 256) as disk:
        run_dir = disk / "run"
        run_dir.mkdir()
        fill(disk)
        assert finish_run(disk, run_dir, 1, 10.0) == ExitCode.INTERNAL_ERROR
        (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ERROR: the run wrote no summary (Locust exited with 1); the disk holding ")
    assert f"{str(run_dir)!r} is full (" in line and "bytes free); logs in " in line, line
