"""A real Locust master + 2 workers: the master's merged HDR histograms and per-commune
sketches equal the union of what each worker recorded (measured there by an independent
hdrh recorder); and, with
master and worker in one probe process, the flush at stop and a worker that never answers it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.commune_latency import COMMUNE_LATENCY_FILE, load_commune_latency, merge_commune_maps
from kernel.hdr import SparseHistogram
from kernel.latency_records import HistogramKey, load_histograms, merge_histogram_maps

HERE = Path(__file__).parent
LOCUST = [sys.executable, "-m", "locust", "--loglevel", "WARNING", "-f"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _master_and_two_workers(locustfile: str, run_args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a headless Locust master with two local workers to the end: (exit code, master output)."""
    port = _free_port()
    master = subprocess.Popen(
        [*LOCUST, str(HERE / locustfile), "--master", "--headless", "--expect-workers", "2",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--only-summary", *run_args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    workers = [
        subprocess.Popen([*LOCUST, str(HERE / locustfile), "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        out, _ = master.communicate(timeout=90)
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return master.returncode, out


@pytest.mark.e2e
def test_master_merge_equals_union_of_workers(support_server, tmp_path):
    env = {**os.environ, "DIENTAP_TEST_OUT": str(tmp_path)}
    returncode, out = _master_and_two_workers(
        "dist_locustfile.py", ["-u", "8", "-r", "8", "-t", "4s", "--host", support_server.base_url], env)
    assert returncode == 0, out[-3000:]
    worker_files = sorted(tmp_path.glob("worker-*.hdr"))
    assert len(worker_files) == 2, (list(tmp_path.iterdir()), out[-3000:])

    merged = load_histograms(tmp_path / "master" / "latency.hdr")
    union = merge_histogram_maps(load_histograms(f) for f in worker_files)
    assert set(merged) == set(union)
    assert merged == union  # slot-for-slot equal, every key
    # The run really was distributed and exercised every key kind.
    per_worker = [sum(h.total for k, h in load_histograms(f).items() if k.measure == "service") for f in worker_files]
    assert all(n > 20 for n in per_worker), per_worker
    assert {k.measure for k in merged} == {"service", "intended"}
    assert {k.province for k in merged} == {"01", "79", "46"}
    intended = merged[HistogramKey("axis", "GET /inbox", "01", "intended")]
    sent = merged[HistogramKey("axis", "GET /inbox", "01", "service")]
    assert intended.total == sent.total
    assert intended.value_at_percentile(50) >= sent.value_at_percentile(50) + 4000  # the 5 ms head start

    # Per commune: the master's communes.hdr is the exact union of the workers' reference
    # sketches (hdrh at 2 significant digits), though the wire carried slot lists, not V2.
    per_worker_communes = [
        {commune: SparseHistogram.decode(encoded) for commune, encoded in
         (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line)}
        for path in sorted(tmp_path.glob("worker-*.communes"))
    ]
    assert len(per_worker_communes) == 2
    communes = load_commune_latency(tmp_path / "master" / COMMUNE_LATENCY_FILE)
    assert set(communes) == {"00004", "00070", "26734", "19768"}
    assert communes == merge_commune_maps(per_worker_communes)
    assert all(len(sketches) >= 3 for sketches in per_worker_communes)  # both workers recorded communes


def _dist_probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "dist_probe.py"), mode], capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.e2e
def test_stopping_flushes_every_record_of_a_worker_to_the_master_and_seals_it():
    r = _dist_probe("flush")
    assert r["connected"] and r["fired_some"]
    master = r["master"]
    # One report only (the periodic one is a minute away): the final one the flush asked for.
    assert (master["received"], master["final_from"], master["missing_final"]) == (1, 1, 0)
    assert master["requests"] == r["fired"] and master["by_province"] == r["expected_by_province"]
    (health,) = master["health"].values()
    assert (health["node"], health["lag_p99_ms"]) == ("worker-0", 3.0)  # the worker's own snapshot, named
    assert master["snapshots"] == ["worker-0"]
    # After its final report the worker refuses records (counted), so none can go missing unnoticed.
    assert r["worker"] == {"sent": 1, "sealed": True, "late_after_seal": 1}
    assert r["errors"] == []


@pytest.mark.e2e
def test_a_worker_that_never_sends_its_final_report_is_named_after_the_timeout():
    r = _dist_probe("silent")
    assert r["connected"] and r["fired"] > 0
    assert r["master"]["requests"] == 0 and r["master"]["missing_final"] == 1
    (error,) = r["errors"]
    assert error.startswith("no final latency report from worker(s) ")
    assert error.endswith(" within 1 s: their last seconds are missing")


@pytest.mark.e2e
@pytest.mark.parametrize("officers,agencies", [(10, 10), (10, 4)])
def test_a_real_master_deals_every_role_index_exactly_once_across_two_workers(officers, agencies, tmp_path):
    """Locust interleaves fixed-count classes and cycles the workers, so the per-class
    split over two workers is uneven: equal classes land one class per worker, unequal
    ones split a class unevenly. The dealer still gives every index of every role to
    exactly one user of the run, and each worker one share of the citizen arrivals (dealt
    from the worker's test_start, which Locust fires inside the loop that receives the answer)."""
    env = {**os.environ, "DIENTAP_TEST_OUT": str(tmp_path),
           "DIENTAP_TEST_OFFICERS": str(officers), "DIENTAP_TEST_AGENCIES": str(agencies)}
    users = str(officers + agencies)
    returncode, out = _master_and_two_workers("deal_locustfile.py", ["-u", users, "-r", "100", "-t", "3s"], env)
    assert returncode == 0, out[-3000:]
    reports = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("worker-*.json"))]
    assert [r["worker"] for r in reports] == [0, 1], out[-3000:]
    for role, count in (("officer", officers), ("agency", agencies)):
        indices = sorted(index for r in reports for played, index in r["dealt"] if played == role)
        assert indices == list(range(count)), (role, reports)
    assert sorted(share for r in reports for share in r["shares"]) == [[0, 2], [1, 2]], reports
