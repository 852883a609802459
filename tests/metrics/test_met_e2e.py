"""A real Prometheus scraping a real dry run: PromQL p95 agrees with summary.json, and the
dry-run burn-rate alert fires under an injected error rate."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dientap.orchestration import MockCluster, MockClusterConfig
from dientap.orchestration.locust_procs import locustfile_path
from dientap.orchestration.process import listening_socket
from dientap.orchestration.prometheus import PrometheusServer, find_prometheus
from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from metrics.buckets import LATENCY_BUCKETS_S
from metrics.drill_state import DrillState
from metrics.drill_state_server import start_drill_state_server
from reports.run_files import load_summary
from reports.summary import EndpointStats, Summary
from scenarios.communes import officer_slots
from scenarios.profile import resolve_profile
from scenarios.runconfig import RUN_CONFIG_ENV, SECRET_ENV, RunConfig

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
RUN_S = 30
FAULT_AT_S = 8
ALERT = "DientapErrorBudgetDryRunBurn"
FAULTED = "POST /dossiers"


def _prometheus_missing() -> str | None:
    try:
        find_prometheus()
    except Exception as exc:  # noqa: BLE001 - any reason to skip is reported as is
        return str(exc)
    return None


@dataclass
class ObservedRun:
    """What the module's one dry run produced."""

    summary: Summary
    alerts_seen: list[dict]
    alert_after_fault_s: float | None
    p95_estimates: list[dict]  # PromQL histogram_quantile per (service, endpoint)
    buckets: list[dict]  # the cumulative buckets they were computed from
    up: dict[str, float]  # job → max of `up` over the run
    panels: dict[str, int]  # each dashboard query (macros filled in) → series it returned mid-run


def _free_port() -> int:
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


DASHBOARD = ROOT / "metrics" / "dashboard.json"
# What Grafana substitutes in the panel queries: a rate window of a few 1-s scrapes, the
# whole range of this short run, and the "All" value of the service variable.
GRAFANA_MACROS = {"$__rate_interval": "15s", "$__range": "5m", "$service": ".*", "${service}": ".*"}


def dashboard_queries(*, annotations: bool = False) -> list[str]:
    """Every panel query of the shipped dashboard (or its annotation queries), macros filled in."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    if annotations:
        exprs = [a["expr"] for a in board.get("annotations", {}).get("list", []) if a.get("expr")]
    else:
        exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", []) if t.get("expr")]
    filled = []
    for expr in exprs:
        for macro, value in GRAFANA_MACROS.items():
            expr = expr.replace(macro, value)
        filled.append(expr)
    return filled


def _query(prom_url: str, promql: str) -> list[dict]:
    response = httpx.get(f"{prom_url}/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> ObservedRun:
    missing = _prometheus_missing()
    if missing:
        pytest.skip(missing)
    base = tmp_path_factory.mktemp("metrics-e2e")
    run_dir = base / "run"
    run_dir.mkdir()
    config = MockClusterConfig(data_dir=base / "mocks", population_size=3000, log_dir=run_dir / "logs")
    profile = resolve_profile("smoke").scaled(None, RUN_S)
    with MockCluster(config) as cluster:
        port = _free_port()
        targets = {"harness": f"http://127.0.0.1:{port}/metrics"}
        targets.update({name: f"{url}/metrics" for name, url in cluster.urls.items()})
        # A drill runner outside the Locust process serves its faults' state this way.
        drill_url, drill_server = start_drill_state_server()
        targets["drills"] = drill_url
        with PrometheusServer(run_dir / "prometheus", targets) as prom, contextlib.closing(_Shutdown(drill_server)):
            assert prom.url is not None
            run_config = RunConfig(
                run_id="metrics-e2e", run_dir=run_dir, profile=profile, population_size=3000, urls=cluster.urls,
                pki_dir=base / "mocks" / "axis" / "pki", prometheus_url=prom.url,
            )
            run_config.write(run_dir / "run-config.json")
            slots = officer_slots(profile)
            users = len(slots) + len({s.commune.province_code for s in slots})
            env = {**os.environ, RUN_CONFIG_ENV: str(run_dir / "run-config.json"), SECRET_ENV: DEFAULT_DRY_RUN_SECRET,
                   "DIENTAP_ADMIN_TOKEN": config.admin_token, "DIENTAP_METRICS_LISTEN": f"127.0.0.1:{port}"}
            argv = [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--headless",
                    "--only-summary", "--loglevel", "WARNING", "-u", str(users), "-r", f"{profile.spawn_rate:g}",
                    "--run-time", f"{RUN_S}s", "--stop-timeout", "5"]
            with open(run_dir / "logs" / "locust.log", "ab") as log:
                locust = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=ROOT)  # noqa: S603
                try:
                    time.sleep(FAULT_AT_S)
                    fault = {"id": "e2e-503", "kind": "error", "route": "/dossiers", "method": "POST", "status": 503,
                             "rate": 1.0}
                    headers = {"Authorization": f"Bearer {config.admin_token}"}
                    httpx.post(f"{cluster.urls['portal']}/admin/faults", json=fault, headers=headers,
                               timeout=10).raise_for_status()
                    injected = time.monotonic()
                    DrillState.set_active("e2e-503", "error", True)
                    seen: list[dict] = []
                    fired_after = None
                    while locust.poll() is None and time.monotonic() - injected < RUN_S:
                        alerts = httpx.get(f"{prom.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                        seen = [a for a in alerts if a["labels"].get("alertname") == ALERT]
                        if any(a["state"] == "firing" for a in seen):
                            fired_after = time.monotonic() - injected
                            break
                        time.sleep(0.5)
                    # Mid-run, with errors flowing: every dashboard query must have data.
                    # Recording rules and rate windows fill within a few evaluations.
                    panels = _dashboard_answers(prom.url, deadline=time.monotonic() + 20)
                    locust.wait(RUN_S + 60)
                finally:
                    if locust.poll() is None:
                        locust.kill()
                        locust.wait(10)
            summary = load_summary(run_dir)
            estimates = _query(prom.url, f"histogram_quantile(0.95, {BUCKETS})")
            buckets = _query(prom.url, BUCKETS)
            up = {r["metric"]["job"]: float(r["value"][1]) for r in _query(prom.url, "max by (job) (max_over_time(up[5m]))")}
    return ObservedRun(summary, seen, fired_after, estimates, buckets, up, panels)


class _Shutdown:
    """``contextlib.closing`` face of the drill-state HTTP server."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def close(self) -> None:
        self.server.shutdown()
        DrillState.reset()


def _dashboard_answers(prom_url: str, deadline: float) -> dict[str, int]:
    """Series each dashboard query returns, polled (bounded) until every one has data."""
    answers: dict[str, int] = {}
    while True:
        answers = {expr: len(_query(prom_url, expr)) for expr in [*dashboard_queries(),
                                                                    *dashboard_queries(annotations=True)]}
        if answers.get("dientap_abort_state > 0") == 0:  # the abort marker: no abort in this run
            answers.pop("dientap_abort_state > 0")
        if all(answers.values()) or time.monotonic() > deadline:
            return answers
        time.sleep(1)


# last_over_time: the Locust process is gone, and Prometheus marked its series stale.
BUCKETS = ('sum by (service, endpoint, le) '
           '(last_over_time(dientap_request_duration_seconds_bucket{measure="sent"}[5m]))')


def test_prometheus_scraped_the_harness_and_the_three_mocks(observed: ObservedRun) -> None:
    assert observed.up == {"harness": 1.0, "portal": 1.0, "population": 1.0, "axis": 1.0, "drills": 1.0}


def test_every_dashboard_query_returns_data_from_the_real_prometheus(observed: ObservedRun) -> None:
    # Grafana is not installable here: the dashboard is proven by its queries, each sent to
    # the real Prometheus during the run. A renamed metric or a broken rule fails here.
    panels = dashboard_queries()
    assert len(panels) >= 20
    empty = [expr for expr in panels if not observed.panels[expr]]
    assert empty == [], f"dashboard panel queries without data: {empty}"
    # Annotations mark events: the drill fault in force has its marker; the run did not
    # abort, so the abort marker must be empty (a marker on every run would be a lie).
    assert observed.panels["dientap_drill_fault_active > 0"] == 1
    assert "dientap_abort_state > 0" not in observed.panels


def test_alert_fires_under_an_injected_error_rate(observed: ObservedRun) -> None:
    assert observed.alert_after_fault_s is not None, f"{ALERT} never fired; last seen: {observed.alerts_seen}"
    firing = [a for a in observed.alerts_seen if a["state"] == "firing"]
    assert {(a["labels"]["service"], a["labels"]["endpoint"]) for a in firing} == {("portal", FAULTED)}
    assert observed.alert_after_fault_s < 25
    faulted = next(e for e in observed.summary.endpoints if e.name == FAULTED)
    assert faulted.failures > 0


def test_promql_p95_agrees_with_the_summary_within_a_bucket(observed: ObservedRun) -> None:
    estimates = {(r["metric"]["service"], r["metric"]["endpoint"]): float(r["value"][1]) for r in observed.p95_estimates}
    cumulative: dict[tuple[str, str], dict[str, float]] = {}
    for row in observed.buckets:
        key = (row["metric"]["service"], row["metric"]["endpoint"])
        cumulative.setdefault(key, {})[row["metric"]["le"]] = float(row["value"][1])
    busiest = max(observed.summary.endpoints, key=lambda e: e.count)
    assert busiest.count >= 100, busiest
    checked = 0
    for endpoint in observed.summary.endpoints:
        key = (endpoint.service, endpoint.name)
        # Prometheus saw the final figures: its +Inf bucket holds every request of the summary.
        assert cumulative[key]["+Inf"] == endpoint.count, key
        _assert_same_bucket(endpoint, estimates[key], cumulative[key])
        checked += 1
    assert checked == len(observed.summary.endpoints) >= 10


def _assert_same_bucket(endpoint: EndpointStats, estimate_s: float, cumulative: dict[str, float]) -> None:
    edges = [*LATENCY_BUCKETS_S, math.inf]
    upper = next(i for i, edge in enumerate(edges) if estimate_s <= edge)
    low, high = (edges[upper - 1] if upper else 0.0), edges[upper]
    true_s = endpoint.p95_ms / 1000
    if low < true_s <= high:
        return
    # The one documented difference: HDR takes the ⌊0.95·N + 0.5⌋-th value, PromQL the
    # ⌈0.95·N⌉-th. When they differ, the summary's value must sit in the bucket holding the
    # HDR-rank observation, and the PromQL estimate in the bucket holding the next one.
    n = endpoint.count
    hdr_rank, prom_rank = max(int(0.95 * n + 0.5), 1), math.ceil(0.95 * n)
    counts = sorted((math.inf if le == "+Inf" else float(le), c) for le, c in cumulative.items())

    def bucket_of(rank: int) -> tuple[float, float]:
        below = 0.0
        for edge, count in counts:
            if count >= rank:
                return below, edge
            below = edge
        return below, math.inf

    where = (f"{endpoint.service} {endpoint.name}: summary p95 {true_s:.4f} s, PromQL estimate {estimate_s:.4f} s "
             f"in ({low}, {high}]; N={n}; buckets {cumulative}")
    assert hdr_rank < prom_rank, where
    hdr_low, hdr_high = bucket_of(hdr_rank)
    assert hdr_low < true_s <= hdr_high, where
    assert bucket_of(prom_rank) == (low, high), where


def test_a_drill_with_prometheus_marks_its_fault_on_and_then_off_for_the_dashboard(tmp_path: Path) -> None:
    """`dientap drill NAME --prometheus`: the dashboard's fault annotation (its own query)
    returns the drill's fault while it is in force, and the fault then reads 0 — the start
    and end markers — from the real Prometheus the command started; the load and the mocks
    are scraped beside it, and the drill still passes."""
    missing = _prometheus_missing()
    if missing:
        pytest.skip(missing)
    (annotation,) = [q for q in dashboard_queries(annotations=True) if "dientap_drill_fault_active" in q]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dientap.cli", "drill", "axis-latency-spike", "--duration", "22", "--population-size",
         "3000", "--settle", "2", "--no-board", "--prometheus", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the URL is printed once the mocks are up, before the load
            printed.append(line)
            if line.startswith("prometheus: "):
                break
        prom_url = printed[-1].split()[1]
        assert prom_url.startswith("http://127.0.0.1:"), printed
        seen: list[float] = []  # dientap_drill_fault_active{fault="axis slow"} as scraped, in order
        in_force: list[dict] = []
        up: dict[str, float] = {}
        while proc.poll() is None and not (1.0 in seen and seen[-1] == 0.0):
            in_force = in_force or [r for r in _query(prom_url, annotation) if r["metric"].get("fault") == "axis slow"]
            for r in _query(prom_url, 'dientap_drill_fault_active{fault="axis slow"}'):
                if not seen or seen[-1] != float(r["value"][1]):
                    seen.append(float(r["value"][1]))
            for r in _query(prom_url, "up"):
                up[r["metric"]["job"]] = max(up.get(r["metric"]["job"], 0.0), float(r["value"][1]))
            time.sleep(0.5)
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(10)
    output = "".join(printed) + rest
    assert proc.returncode == 0 and "drill axis-latency-spike: PASS" in output, output[-3000:]
    assert in_force and in_force[0]["metric"]["kind"] == "latency", in_force
    assert 1.0 in seen and seen[-1] == 0.0, seen  # on, then off: the start and end markers
    jobs = ("drills", "harness", "portal", "population", "axis")
    assert {job: up.get(job) for job in jobs} == dict.fromkeys(jobs, 1.0), up
