"""Every built-in drill end to end against the embedded mocks at tiny scale, the lossy-axis
drill failing with exactly the dropped documents, and a drill interrupted mid-fault
leaving nothing behind. Each run is a real ``dientap drill`` subprocess (real mocks,
real Locust, real sockets on loopback)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess  # nosec B404 - the test runs our own CLI
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dientap.orchestration import MockCluster
from drills.faultproxy import FaultProxyServer
from drills.toxiproxy_client import ToxiproxyClient
from reports.run_files import load_journal

pytestmark = pytest.mark.e2e

POPULATION = "3000"
DURATION = "22"
PASSING = [
    "population-outage",
    "axis-latency-spike",
    "axis-partition",
    "portal-crash-restart",
    "sso-outage",
    "status-sync-backlog",
    "golive-thundering-herd",
    "stale-addresses",
    "certificate-expiry",
    "portal-freeze",
]


def _drill(out: Path, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    """Run ``dientap drill`` in its own session; whatever it leaves running is killed by group."""
    proc = subprocess.Popen(  # nosec B603 - fixed argv of our own CLI
        [sys.executable, "-m", "dientap.cli", "drill", *args, "--population-size", POPULATION, "--out", str(out),
         "--settle", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        _kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, "")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # our own session: the CLI and the Locust it started
    proc.wait(10)


def _run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    return run_dir


# Every catalog drill the tests run, with its extra arguments. A drill is bound by its own
# timeline (faults at fixed offsets, then recovery), not by CPU: one uses about 0.3 of a
# core for its ≈ 27 s, so the module runs them CONCURRENT at a time, each with its own mocks
# on free ports, its own Locust and its own run directory — several drills at once cost the
# suite the wall time of one round instead of several: 14 drills, three rounds at five at
# once. The drills took 214 s three at once and 175 s four at once in full suite runs; five
# at once, with other test sessions busy beside them (load average 4–6 on 2 cores), 134–145 s,
# with their p95 probes at 2–30 ms against limits of 300–1,500 ms.
CONCURRENT = 5
# The longest first (its own 32-s timeline against the others' 22 s), so it does not end the
# last round alone: the pool takes the drills in this order.
DRILLS: dict[str, tuple[str, ...]] = {
    "identity-link-partition": (),
    **{name: ("--duration", DURATION) for name in PASSING},
    "lossy-axis": ("--duration", DURATION),
    "golive-night": ("--duration", DURATION),
    "golive-night-lossy": ("--duration", DURATION),  # the planted lossy_migration, from its variant file
}


@dataclass(frozen=True)
class DrillRun:
    result: subprocess.CompletedProcess[str]
    out: Path


@pytest.fixture(scope="module")
def drill_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DrillRun]:
    root = tmp_path_factory.mktemp("drills")

    def run(name: str) -> DrillRun:
        out = root / name
        out.mkdir()
        return DrillRun(_drill(out, name, *DRILLS[name]), out)

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        return dict(zip(DRILLS, pool.map(run, DRILLS), strict=True))


@pytest.mark.parametrize("name", PASSING)
def test_built_in_drill_passes_against_the_embedded_mocks(name: str, drill_runs: dict[str, DrillRun]) -> None:
    result, out = drill_runs[name].result, drill_runs[name].out
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"drill {name}: PASS" in result.stdout
    journal = load_journal(_run_dir(out))
    drill = journal.drill
    assert drill is not None and drill.verdict == "PASS" and drill.expectations == []
    assert drill.hypothesis and all(c.ok for c in drill.hypothesis)
    assert {c.phase for c in drill.hypothesis} >= {"before", "after"}
    assert all(f.end_offset_s is not None and f.end_offset_s > f.start_offset_s for f in drill.faults)
    assert sum(r.ok for r in drill.reconciliation) > 0
    assert all(r.lost == 0 and r.duplicated == 0 for r in drill.reconciliation)
    steps = {e.name: e for e in journal.events if e.kind == "drill_step"}
    assert steps["verify rollback"].output == "nothing left behind"
    assert all(e.end_t is not None for e in journal.events if e.kind == "drill_step")
    starts = [e for e in journal.events if e.kind == "fault_start"]
    stops = [e for e in journal.events if e.kind == "fault_stop"]
    assert len(starts) == len(stops) == len(drill.faults)
    # One clock: the drill placed every fault on the load's own clock, the journal's origin.
    # The skew between the two is the event's offset minus its plan minus its lateness.
    timed = [e for e in starts if "late_ms" in e.detail]
    assert len(timed) == len(starts)
    for event in timed:
        skew_ms = (event.offset_s - event.detail["planned_offset_s"]) * 1000 - event.detail["late_ms"]
        assert abs(skew_ms) <= 50, (event.name, skew_ms)
        assert event.detail["late_ms"] >= 0  # never early (it used to fire ≈ 1 s early)
    assert all(e.detail["late_ms"] >= 0 for e in stops)
    assert (_run_dir(out) / "report.html").is_file()
    if any(f.detail.get("backend") != "traffic" for f in drill.faults):
        assert drill.recovery_time_s is not None
    traffic = [e for e in journal.events if e.kind == "drill_step" and e.name.startswith("traffic ")]
    for step in traffic:  # each action met its own success ratio (``ok``) and sent something
        assert step.status == "ok" and step.detail["sent"] > 0, step.output


def test_the_portal_reaches_the_population_through_the_drills_proxy_and_refuses_unverified_dossiers(
    drill_runs: dict[str, DrillRun],
) -> None:
    """identity-link-partition: the fault is on the portal → population link, not on a service."""
    result, out = drill_runs["identity-link-partition"].result, drill_runs["identity-link-partition"].out
    assert result.returncode == 0, result.stdout[-3000:]
    assert "drill identity-link-partition: PASS" in result.stdout
    assert "network timeout on portal->population" in result.stdout
    journal = load_journal(_run_dir(out))
    steps = {e.name: e for e in journal.events if e.kind == "drill_step"}
    link = steps["proxy between portal and population"]
    assert link.status == "ok" and link.output.startswith("portal → http://127.0.0.1:")
    assert steps["inject identity link black-holed"].detail["toxic"] == "timeout"
    for probe in ("traffic citizens submit while the link is down", "traffic citizens submit while answers are late"):
        assert steps[probe].status == "ok" and steps[probe].detail["as_expected"] == steps[probe].detail["sent"] > 0
    assert steps["check no unverified dossier was accepted"].output == "0 dossier(s) accepted without a matching identity check"
    assert steps["verify rollback"].output == "nothing left behind"
    drill = journal.drill
    assert drill is not None and all(c.ok for c in drill.hypothesis)
    assert all(r.lost == 0 and r.duplicated == 0 for r in drill.reconciliation)


def test_lossy_axis_fails_with_exactly_the_dropped_documents(drill_runs: dict[str, DrillRun]) -> None:
    result, out = drill_runs["lossy-axis"].result, drill_runs["lossy-axis"].out
    assert result.returncode == 1, result.stdout[-3000:]
    assert "drill lossy-axis: FAIL" in result.stdout
    run_dir = _run_dir(out)
    drill = load_journal(run_dir).drill
    assert drill is not None and drill.verdict == "FAIL" and drill.error is None
    # Independently: every document acknowledged to anyone (load processes and the drill's
    # burst), and the axis' own rule for which ones it drops.
    acknowledged: dict[str, str] = {}
    for path in (run_dir / "ledgers").glob("*.json"):
        acknowledged.update(json.loads(path.read_text(encoding="utf-8")).get("documents", {}))
    dropped = sorted(d for d, m in acknowledged.items()
                     if int.from_bytes(hashlib.sha256(m.encode()).digest()[:8], "big") % 50 == 0)
    assert len(acknowledged) > 300 and dropped
    documents = {r.item_kind: r for r in drill.reconciliation}["documents"]
    assert documents.lost == len(dropped)
    assert documents.lost_ids == dropped
    assert documents.ok == len(acknowledged) - len(dropped)
    # ... and the axis' store really lacks exactly those.
    with sqlite3.connect(run_dir / "mocks" / "axis" / "axis.db") as conn:
        stored = {row[0] for row in conn.execute("SELECT document_id FROM documents")}
    assert {d for d in acknowledged if d not in stored} == set(dropped)
    assert f"reconciliation: {len(dropped)} lost, 0 duplicated (allowed 0 lost, 0 duplicated)" in drill.expectations


def _in_flight(run_dir: Path) -> dict[str, str]:
    """The dossiers the go-live night filed at district units and was acknowledged: code → unit."""
    from drills.golive_reconcile import in_flight

    acked = json.loads((run_dir / "ledgers" / "drill-traffic.json").read_text(encoding="utf-8"))
    return in_flight(acked.get("dossiers", {}))


def _landings(run_dir: Path) -> list[tuple[str, str, str]]:
    """The portal's own migration journal (code, unit, landing commune), read from its database."""
    with sqlite3.connect(run_dir / "mocks" / "portal" / "portal.db") as conn:
        return conn.execute("SELECT code, from_unit, to_commune FROM district_migrations").fetchall()


def test_golive_night_lands_every_in_flight_dossier_in_exactly_one_successor(drill_runs: dict[str, DrillRun]) -> None:
    from kernel.districts import district_tier, landing_commune

    result, out = drill_runs["golive-night"].result, drill_runs["golive-night"].out
    assert result.returncode == 0, result.stdout[-3000:]
    assert "drill golive-night: PASS" in result.stdout
    run_dir = _run_dir(out)
    journal = load_journal(run_dir)
    drill = journal.drill
    assert drill is not None and drill.verdict == "PASS" and drill.expectations == []
    flying = _in_flight(run_dir)
    assert len(flying) == 80 and len(set(flying.values())) == 8  # the drill file's count and agencies
    row = {r.item_kind: r for r in drill.reconciliation}["migrated_dossiers"]
    assert (row.ok, row.lost, row.duplicated, row.lost_ids, row.duplicated_ids) == (80, 0, 0, [], [])
    # Independently, from the portal's database: one journal row per dossier, at its rule's landing commune.
    tier = district_tier()
    landings = _landings(run_dir)
    assert sorted(code for code, _unit, _to in landings) == sorted(flying)
    for code, unit, to in landings:
        assert unit == flying[code] and to == landing_commune(code, tier.by_unit(unit).successors)
    # The cut-over on the timeline, after the old tier was at work and before the officers,
    # and its figures per province (summing to every dossier in flight).
    faults = {f.name: f for f in drill.faults}
    cutover = faults["cut-over"]
    officers = faults["successor officers at work"]
    assert faults["old tier at work"].start_offset_s < cutover.start_offset_s < officers.start_offset_s
    per_province = {k: v for k, v in cutover.detail.items() if k.startswith("province_")}
    assert sum(per_province.values()) == cutover.detail["migrated"] == 80 and len(per_province) == 8
    steps = {e.name: e for e in journal.events if e.kind == "drill_step"}
    for name in ("old tier at work", "cut-over", "documents to closed committees", "successor officers at work"):
        assert steps[f"traffic {name}"].status == "ok", steps[f"traffic {name}"].output
    assert "owners saw 80 of 80 dossiers at their successor commune" in steps["traffic old tier at work"].output
    assert steps["traffic successor officers at work"].detail["as_expected"] == 80  # every migrated dossier accepted
    assert steps["traffic documents to closed committees"].detail["as_expected"] == 16
    # Citizens' status queries answered across the switch: the probe held before (no traffic yet), during and after.
    status = [c for c in drill.hypothesis if "GET /dossiers/{code}" in c.probe]
    assert {c.phase for c in status} >= {"during", "after"} and all(c.ok for c in status)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="cutover"' in html and "80 landed in exactly one successor worklist" in html


def test_golive_night_with_a_lossy_migration_fails_naming_exactly_the_dropped_and_duplicated(
    drill_runs: dict[str, DrillRun],
) -> None:
    from drills.golive_reconcile import predicted_migration_drops, predicted_migration_duplicates

    result, out = drill_runs["golive-night-lossy"].result, drill_runs["golive-night-lossy"].out
    assert result.returncode == 1, result.stdout[-3000:]
    assert "drill golive-night-lossy: FAIL" in result.stdout
    run_dir = _run_dir(out)
    drill = load_journal(run_dir).drill
    assert drill is not None and drill.verdict == "FAIL" and drill.error is None  # failed exactly as predicted
    flying = _in_flight(run_dir)
    dropped, doubled = predicted_migration_drops(flying), predicted_migration_duplicates(flying)
    assert len(flying) == 80 and dropped and doubled
    row = {r.item_kind: r for r in drill.reconciliation}["migrated_dossiers"]
    assert row.lost_ids == dropped and row.duplicated_ids == doubled
    assert row.ok == len(flying) - len(dropped) - len(doubled)
    # ... and the portal's journal really lacks the dropped ones and holds the doubled ones twice.
    journaled = Counter(code for code, _unit, _to in _landings(run_dir))
    assert sorted(c for c in flying if journaled[c] == 0) == dropped
    assert sorted(c for c in flying if journaled[c] == 2) == doubled
    for line in row.named(10):  # named on the console too (NAMED_ON_CONSOLE items a line)
        assert f"    {line}" in result.stdout
    assert f"    lost {len(dropped)}" in result.stdout and f"    duplicated {len(doubled)}" in result.stdout


def test_a_frozen_portal_is_timed_out_retried_with_the_same_keys_and_nothing_is_lost(
    drill_runs: dict[str, DrillRun],
) -> None:
    """portal-freeze: SIGSTOP for 6 s under a 2-s client timeout, then SIGCONT."""
    result, out = drill_runs["portal-freeze"].result, drill_runs["portal-freeze"].out
    assert result.returncode == 0, result.stdout[-3000:]
    run_dir = _run_dir(out)
    journal = load_journal(run_dir)
    assert json.loads((run_dir / "run-config.json").read_text(encoding="utf-8"))["request_timeout_s"] == 2
    # The freeze on the load's timeline: SIGSTOP at its start, SIGCONT at its end, planned 6 s apart.
    (start,) = [e for e in journal.events if e.kind == "fault_start"]
    (stop,) = [e for e in journal.events if e.kind == "fault_stop"]
    assert start.name == stop.name == "portal SIGSTOP" and start.detail["fault_kind"] == "pause"
    assert stop.detail["planned_offset_s"] - start.detail["planned_offset_s"] == 6 and stop.offset_s > start.offset_s
    steps = {e.name: e for e in journal.events if e.kind == "drill_step"}
    assert steps["inject portal SIGSTOP"].detail["signal"] == "SIGSTOP"
    assert steps["remove portal SIGSTOP"].output == "resumed (SIGCONT)"
    # The clients gave up on submissions during the freeze (no answer within their timeout) ...
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    (submit,) = [e for e in summary["endpoints"] if e["name"] == "POST /dossiers"]
    assert submit["failures"] > 0
    assert "POST /dossiers: no response (TimeoutError)" in (run_dir / "logs" / "locust-stats.log").read_text()
    # ... retried them with the same Idempotency-Key, and the portal answered some retries with
    # the answer it had stored for a first attempt that landed after its client gave up.
    ledgers = [json.loads(p.read_text(encoding="utf-8")) for p in (run_dir / "ledgers").glob("*.json")]
    dossiers = {code: key for ledger in ledgers for code, key in ledger.get("dossiers", {}).items()}
    retried = {code: key for ledger in ledgers for code, key in ledger.get("dossiers_retried", {}).items()}
    replayed = {code: key for ledger in ledgers for code, key in ledger.get("dossiers_replayed", {}).items()}
    assert retried and replayed and replayed.items() <= retried.items() <= dossiers.items()
    assert steps["count retried submissions"].detail == {"retried": len(retried), "replayed": len(replayed)}
    # The portal's own store: one keyed record per retried key, naming the acknowledged code,
    # and as many dossiers as keyed submissions (no second dossier for a retried key).
    with sqlite3.connect(run_dir / "mocks" / "portal" / "portal.db") as conn:
        records = conn.execute("SELECT key, body FROM idempotency_records WHERE scope LIKE 'dossiers:%'").fetchall()
        stored = {row[0] for row in conn.execute("SELECT code FROM dossiers")}
    by_key: dict[str, list[str]] = {}
    for key, body in records:
        by_key.setdefault(key, []).append(json.loads(body)["code"])
    for code, key in retried.items():
        assert by_key.get(key) == [code] and code in stored, (key, by_key.get(key))
    assert len(stored) == len(records)
    drill = journal.drill
    assert drill is not None
    rows = {r.item_kind: r for r in drill.reconciliation}
    assert rows["dossiers"].ok == len(dossiers) and rows["dossiers"].lost == rows["dossiers"].duplicated == 0
    # The report draws the freeze on the load timeline.
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "portal SIGSTOP" in html


INTERRUPTED_DRILL = """\
title: Interrupted mid-fault
profile: smoke
duration_s: 40
method:
  - name: portal errors
    backend: http
    target: portal
    at_s: 2
    duration_s: 30
    http: {kind: error, route: /feedback, status: 500, rate: 0.5}
  - name: axis slow
    backend: network
    target: axis
    at_s: 2
    duration_s: 30
    network: {toxic: latency, attributes: {latency: 50}}
"""


def test_a_drill_interrupted_mid_fault_leaves_no_fault_behind(
    tmp_path: Path, start_cluster: Callable[..., MockCluster]
) -> None:
    cluster = start_cluster()
    proxy = FaultProxyServer("127.0.0.1", 0)
    proxy.start()
    try:
        targets = tmp_path / "targets.yaml"
        targets.write_text(
            "name: test-cluster\n"
            + "".join(f"{s}: {{base_url: {cluster.urls[s]}}}\n" for s in ("portal", "population", "axis"))
            + f"pki_dir: {cluster.config.data_dir / 'axis' / 'pki'}\n",
            encoding="utf-8",
        )
        drill = tmp_path / "interrupted.yaml"
        drill.write_text(INTERRUPTED_DRILL, encoding="utf-8")
        out = tmp_path / "runs"
        env = {**os.environ, "DIENTAP_ADMIN_TOKEN": cluster.config.admin_token}
        proc = subprocess.Popen(  # nosec B603 - fixed argv of our own CLI
            [sys.executable, "-m", "dientap.cli", "drill", str(drill), "--target", str(targets), "--proxy-api",
             proxy.api_url, "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env,
        )
        admin = {"Authorization": f"Bearer {cluster.config.admin_token}"}
        client = ToxiproxyClient(proxy.api_url)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                faults = httpx.get(f"{cluster.urls['portal']}/admin/faults", headers=admin).json()["faults"]
                toxics = [t for p in client.proxies().values() for t in p.toxics]
                if faults and toxics:
                    break
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
            else:
                pytest.fail("the drill never got its faults in place")
            assert [f["id"] for f in faults] == ["drill-portal-errors"]
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            _kill_group(proc)
        assert proc.returncode == 130, stdout[-3000:]
        for service, url in cluster.urls.items():
            assert httpx.get(f"{url}/admin/faults", headers=admin).json()["faults"] == [], service
        assert all(not p.toxics and p.enabled for p in client.proxies().values())
        assert not [name for name in client.proxies() if name.startswith("dientap-")]  # its proxies are deleted
        client.close()
        journal = load_journal(_run_dir(out))
        assert journal.drill is not None and journal.drill.verdict == "ERROR"
        assert journal.drill.error.startswith("interrupted (SIGINT/SIGTERM); every fault was rolled back")
        steps = {e.name: e for e in journal.events if e.kind == "drill_step"}
        assert steps["verify rollback"].output == "nothing left behind"
        assert steps["rollback http"].status == "ok" and steps["rollback network"].status == "ok"
        assert all(f.end_offset_s is not None for f in journal.drill.faults)
    finally:
        proxy.stop()
