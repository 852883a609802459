"""``dientap worker`` against real masters on loopback.

A real ``dientap run --remote-workers`` master hands its entry and configuration to a
real ``dientap worker`` over Locust's own channel; the worker plays, ships its records,
keeps a copy, and joins the next master on the same address. The refusals go through a
real Locust master serving an entry whose versions, keys or run id a worker must refuse.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from dientap.orchestration.remote import served_entry_name, write_served_entry
from kernel import __version__
from kernel.ack_ledger import AckLedger
from kernel.errors import ExitCode
from kernel.latency_records import load_histograms, merge_histogram_maps
from tests.conftest import TEST_POPULATION

pytestmark = pytest.mark.e2e

DIENTAP = [sys.executable, "-m", "dientap.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _master(out: Path, port: int, duration: str = "10") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*DIENTAP, "run", "smoke", "--remote-workers", "1", "--master-bind", f"127.0.0.1:{port}", "--duration", duration,
         "--no-board", "--out", str(out), "--remote-workers-wait", "60", "--population-size", str(TEST_POPULATION)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def test_a_worker_plays_run_after_run_of_masters_on_one_address_and_keeps_what_it_shipped(tmp_path):
    port = _free_port()
    copies = tmp_path / "copies"
    worker = subprocess.Popen(
        [*DIENTAP, "worker", "--master", f"127.0.0.1:{port}", "--runs", "2", "--idle-timeout", "120",
         "--out", str(copies)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        run_dirs = []
        for n in range(2):  # the second master starts only once the first has quit: a restart
            out = tmp_path / f"master-{n}"
            master = _master(out, port)
            log, _ = master.communicate(timeout=180)
            assert master.returncode == 0, log
            run_dirs.append(next(p for p in out.iterdir() if p.is_dir() and p.name != "latest"))
        worker_log, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, worker_log
    assert worker_log.count("run 1 over") == 1 and "run 2 over" in worker_log, worker_log
    assert run_dirs[0].name != run_dirs[1].name
    for run_dir in run_dirs:
        summary = _summary(run_dir)
        assert summary["requests"]["total"] > 0 and summary["requests"]["failed"] == 0, summary["requests"]
        copy = copies / run_dir.name
        # What the master merged is exactly what the worker says it shipped.
        merged = load_histograms(run_dir / "histograms" / "latency.hdr")
        shipped = merge_histogram_maps([load_histograms(copy / "histograms" / "latency.hdr")])
        assert set(merged) == set(shipped) and merged, run_dir
        assert all(merged[key].counts == shipped[key].counts for key in merged)
        # The worker's records reached the master over Locust's channel, not a shared disk.
        master_ledger = AckLedger.merge([run_dir / "ledgers" / "worker-0.json"])
        assert master_ledger.entries == AckLedger.merge([copy / "ledgers" / "worker-0.json"]).entries
        assert master_ledger.counts().get("dossiers", 0) > 0, master_ledger.counts()
        players = json.loads((run_dir / "players" / "worker-0.json").read_text(encoding="utf-8"))
        assert len(players["officer"]) == 34, players



def test_a_worker_killed_mid_run_leaves_the_master_every_record_it_reported(tmp_path):
    """SIGKILL takes the worker before any final report: what it was acknowledged and who it
    played reached the master with its periodic reports, and the master writes them; the
    run names the worker whose final report never came."""
    port = _free_port()
    worker = subprocess.Popen(
        [*DIENTAP, "worker", "--master", f"127.0.0.1:{port}", "--runs", "1", "--idle-timeout", "120",
         "--out", str(tmp_path / "copies")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    out = tmp_path / "master"
    master = _master(out, port, duration="15")
    try:
        assert master.stdout is not None
        for line in master.stdout:  # the master's progress line, every 5 s of load
            if (seen := re.match(r"\[\s*(\d+)/15s\] users\s+(\d+)", line)) and int(seen[1]) >= 5 and int(seen[2]):
                break  # two reports went (every 2 s), with what 5 s of load was acknowledged
        else:
            pytest.fail("the master ended before 5 s of load")
        # The Locust worker first (in a session of its own; it would get a SIGTERM, and stop
        # cleanly, if its supervisor died first), then the supervisor: nothing can catch either.
        for process in psutil.Process(worker.pid).children(recursive=True):
            process.send_signal(signal.SIGKILL)
        worker.send_signal(signal.SIGKILL)
        rest, _ = master.communicate(timeout=180)
    finally:
        worker.kill()
        worker.wait()
        master.kill()
    run_dir = next(p for p in out.iterdir() if p.is_dir() and p.name != "latest")
    assert "no final report from worker-0" in " ".join(_summary(run_dir)["generator"]["reasons"]), rest
    ledger = AckLedger.merge([run_dir / "ledgers" / "worker-0.json"])
    assert ledger.counts().get("dossiers", 0) > 0, ledger.counts()
    players = json.loads((run_dir / "players" / "worker-0.json").read_text(encoding="utf-8"))
    assert len(players["officer"]) == 34, players
    assert not (tmp_path / "copies" / run_dir.name / "ledgers").exists()  # killed: it kept no copy of its own

def _served(tmp_path: Path, *, version: str = __version__, pki_dir: str | None = None, run_id: str = "run-a") -> Path:
    """A served entry as a master of ``version`` writes it, for a run on loopback."""
    from scenarios.profile import resolve_profile
    from scenarios.runconfig import RunConfig

    config = RunConfig(run_id=run_id, run_dir=tmp_path / "master-run", profile=resolve_profile("smoke"),
                       urls={s: f"http://127.0.0.1:{_free_port()}" for s in ("portal", "population", "axis")},
                       pki_dir=Path(pki_dir) if pki_dir else None, workers=1)
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "run-config.json").write_text(config.model_dump_json(), encoding="utf-8")
    entry = write_served_entry(config.run_dir, run_id, config.model_dump_json())
    text = entry.read_text(encoding="utf-8")
    entry.write_text(text.replace(f"dientap_version={__version__!r}", f"dientap_version={version!r}"), encoding="utf-8")
    assert entry.name == served_entry_name(run_id)
    return entry


def _locust_master(entry: Path, port: int, run_id: str) -> subprocess.Popen[str]:
    """A real Locust master serving ``entry`` (as `dientap run` starts it, with its run's id)."""
    env = {**os.environ, "DIENTAP_RUN_CONFIG": str(entry.parent / "run-config.json")}
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(entry), "--headless", "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "1", "--expect-workers-max-wait", "60", "-u", "2", "-r", "2",
         "--run-time", "30s", "--dientap-run-id", run_id],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )


def _worker(port: int, *extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DIENTAP, "worker", "--master", f"127.0.0.1:{port}", "--runs", "1", "--idle-timeout", "60",
                           *extra], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    ("case", "served", "expected"),
    [
        ("version", {"version": "0.0.1"}, [f"this worker runs dientap {__version__}", "the master runs dientap 0.0.1"]),
        ("keys", {"pki_dir": "/nonexistent/dry-run-pki"}, ["/nonexistent/dry-run-pki", "--pki-dir"]),
    ],
)
def test_a_worker_refuses_a_run_it_cannot_play_in_one_line_before_any_traffic(tmp_path, case, served, expected):
    port = _free_port()
    entry = _served(tmp_path, **served)
    master = _locust_master(entry, port, "run-a")
    try:
        done = _worker(port, cwd=tmp_path)
    finally:
        master.kill()
        master.wait()
    assert done.returncode == ExitCode.TARGET_NOT_ALLOWED, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, done.stderr
    for part in expected:
        assert part in errors[0], (part, errors[0])
    assert not (tmp_path / "runs" / "worker" / "run-a").exists()  # refused before it wrote or sent anything


def test_a_worker_given_another_run_than_the_master_plays_does_not_play_it(tmp_path):
    # The entry carries run-a; the master plays run-b (as a master restarted on the same
    # address would, to a worker that kept its old entry): the worker leaves before spawning.
    port = _free_port()
    entry = _served(tmp_path, run_id="run-a")
    master = _locust_master(entry, port, "run-b")
    try:
        done = _worker(port, cwd=tmp_path)
    finally:
        master.kill()
        master.wait()
    assert done.returncode == ExitCode.OK, done
    assert "the master now runs run-b, this worker was given run-a" in done.stderr, done.stderr
    assert not (tmp_path / "runs" / "worker" / "run-a" / "ledgers").exists()  # it played nothing


@pytest.mark.parametrize(
    ("argv", "flag", "accepted"),
    [
        (["--master", "http://m:5557"], "--master", "HOST or HOST:PORT"),
        (["--master", "m:0"], "--master", "port 1 to 65535"),
        (["--master", "m", "--pki-dir", "/nonexistent"], "--pki-dir", "dry-run CA"),
        (["--master", "m", "--allow-host", "https://staging.example.vn"], "--allow-host", "no scheme or port"),
        (["--master", "m", "--runs", "0"], "--runs", "0"),
        ([], "--master", "required"),
    ],
)
def test_bad_worker_flags_are_one_error_line_and_nothing_starts(tmp_path, argv, flag, accepted):
    done = subprocess.run([*DIENTAP, "worker", *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE_ERROR, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR:") and flag in lines[0] and accepted in lines[0], done.stderr
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_worker_no_master_answers_stops_at_its_idle_bound_not_at_locusts(tmp_path):
    """Locust's worker waits 300 s for a master to hand it the entry; --idle-timeout must hold
    inside that wait. (The subprocess timeout only guards against a hang.)"""
    port = _free_port()  # nothing listens there
    done = subprocess.run([*DIENTAP, "worker", "--master", f"127.0.0.1:{port}", "--idle-timeout", "2", "--runs", "1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == ExitCode.OK, done
    assert f"worker: no master on 127.0.0.1:{port} for 2 s; stopping" in done.stdout, done
    assert "run 1 over" not in done.stdout  # nothing was played, so nothing counted as a run
