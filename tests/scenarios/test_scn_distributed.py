"""A real Locust master + 2 workers: the master's merged HDR histograms equal the union
of what each worker recorded (measured there by an independent hdrh recorder)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.latency_histograms import HistogramKey, load_histograms, merge_histogram_maps

HERE = Path(__file__).parent
LOCUST = [sys.executable, "-m", "locust", "-f", str(HERE / "dist_locustfile.py")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_master_merge_equals_union_of_workers(support_server, tmp_path):
    port = _free_port()
    env = {**os.environ, "DIENTAP_TEST_OUT": str(tmp_path)}
    common = ["--loglevel", "WARNING"]
    master = subprocess.Popen(
        [*LOCUST, "--master", "--headless", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "-u", "8", "-r", "8", "-t", "4s", "--host", support_server.base_url,
         "--only-summary", *common],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    workers = [
        subprocess.Popen(
            [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *common],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
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
    assert master.returncode == 0, out[-3000:]
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
