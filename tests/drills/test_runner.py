"""The drill runner end to end in-process: the real embedded mocks, real fault backends,
probes and reconciliation, under a *quiet* load — a :class:`drills.load.LoadSession` that
keeps the load's clock and ledger but sends nothing (Locust runs are the CLI's e2e tests).
Also: what the runner refuses before starting, and the dry walk."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dientap.orchestration import MockCluster, MockClusterConfig, ServiceProcess
from drills.mode import DrillMode
from drills.model import Drill
from drills.runner import DrillRunner
from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.defaults import SEED
from kernel.errors import ExitCode, UsageError
from reports.run_files import load_journal


@dataclass(frozen=True)
class QuietProfile:
    name: str
    duration_s: float
    scale: float = 1.0


class QuietLoad:
    """A load that starts the embedded mocks and keeps time for ``duration_s`` without
    sending anything; ``ledger`` is what its (imaginary) users were acknowledged."""

    def __init__(self, run_dir: Path, duration_s: float, *, embedded: bool = True,
                 ledger: dict[str, dict[str, str]] | None = None, start_error: Exception | None = None):
        self.run_id = "20260101-000000-q1et"
        self.run_dir = run_dir
        self.profile = QuietProfile("quiet", duration_s)
        self.embedded = embedded
        self.target_name = "embedded mocks" if embedded else "staging.yaml"
        self.seed = SEED.default
        self.population_size = 3000
        self.allow_hosts: tuple[str, ...] = ()
        self.command_line = ["dientap", "drill", "test"]
        self.urls: dict[str, str] = {}
        self.admin_token: str | None = None
        self.secret = DEFAULT_DRY_RUN_SECRET
        self.pki_dir: Path | None = None
        self.started_at: float | None = None
        self.locust_exit: int | None = None
        self.cluster: MockCluster | None = None
        self._ledger = ledger
        self._start_error = start_error
        self._t0: float | None = None
        self._stop = threading.Event()
        self.stopped_early = False
        self.faults_at_close: dict[str, list] | None = None
        self.urls_at_close: dict[str, str] = {}
        self.direct_urls: dict[str, str] = {}

    @property
    def services(self) -> dict[str, ServiceProcess] | None:
        return self.cluster.services if self.cluster is not None else None

    def start_target(self, *, portal_population_via: Callable[[str], str] | None = None) -> None:
        if self._start_error is not None:
            raise self._start_error
        config = MockClusterConfig(data_dir=self.run_dir / "mocks", population_size=self.population_size,
                                   log_dir=self.run_dir / "logs", portal_population_via=portal_population_via)
        self.cluster = MockCluster(config)
        self.cluster.start()
        self.urls, self.admin_token = dict(self.cluster.urls), config.admin_token
        self.direct_urls = dict(self.cluster.urls)
        self.pki_dir = config.data_dir / "axis" / "pki"

    def start_load(self) -> None:
        if self._ledger is not None:
            (self.run_dir / "ledgers").mkdir(parents=True, exist_ok=True)
            (self.run_dir / "ledgers" / "worker-0.json").write_text(json.dumps(self._ledger), encoding="utf-8")
        self.started_at, self._t0 = time.time(), time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    def wait(self, timeout_s: float | None = None) -> bool:
        left = max(0.0, self.profile.duration_s - self.elapsed())
        self._stop.wait(left if timeout_s is None else min(left, timeout_s))
        done = self._stop.is_set() or self.elapsed() >= self.profile.duration_s
        if done and self.locust_exit is None:
            self.locust_exit = 0
        return done

    def stop_load(self) -> None:
        self.stopped_early = True
        self._stop.set()

    def close(self) -> None:
        self.urls_at_close = dict(self.urls)
        if self.cluster is not None:
            headers = {"Authorization": f"Bearer {self.admin_token}"}
            self.faults_at_close = {s: httpx.get(f"{u}/admin/faults", headers=headers, timeout=10).json()["faults"]
                                    for s, u in self.cluster.urls.items()}
            self.cluster.close()


@pytest.fixture
def loads(tmp_path: Path) -> Iterator[Callable[..., QuietLoad]]:
    """Factory of quiet loads; any cluster left running by a failed test is stopped."""
    made: list[QuietLoad] = []

    def make(duration_s: float = 3.0, **options: object) -> QuietLoad:
        load = QuietLoad(tmp_path / f"run{len(made)}", duration_s, **options)  # type: ignore[arg-type]
        made.append(load)
        return load

    yield make
    for load in made:
        if load.cluster is not None:
            load.cluster.close()


def _drill(body: dict[str, object]) -> Drill:
    return Drill.model_validate({"title": "Runner drill", **body})


def _steps(run_dir: Path) -> dict[str, object]:
    return {e.name: e for e in load_journal(run_dir).events if e.kind == "drill_step"}


FAULTS = {
    "steady_state_hypothesis": {"probes": [{"name": "portal up", "kind": "healthy", "during": True}]},
    "method": [
        {"name": "feedback errors", "backend": "http", "target": "portal", "at_s": 0.5, "duration_s": 1,
         "http": {"kind": "error", "route": "/feedback", "status": 500}},
        {"name": "axis slow", "backend": "network", "target": "axis", "at_s": 0.5, "duration_s": 1,
         "network": {"toxic": "latency", "attributes": {"latency": 20}}},
        {"name": "burst", "backend": "traffic", "target": "axis", "at_s": 0.5, "duration_s": 1.5,
         "traffic": {"action": "document_burst", "count": 3}},
    ],
}


@pytest.mark.e2e
def test_a_drill_injects_removes_rolls_back_reconciles_and_passes(loads: Callable[..., QuietLoad]) -> None:
    load = loads()
    said: list[str] = []
    told: list[tuple[str, str, bool]] = []
    runner = DrillRunner("runner-drill", _drill(FAULTS), load, settle_s=0.2, say=said.append,
                         on_fault=lambda name, kind, active: told.append((name, kind, active)))
    outcome = runner.run()
    assert (outcome.exit_code, outcome.result.verdict, outcome.interrupted) == (ExitCode.OK, "PASS", False)
    assert outcome.run_dir == load.run_dir and not load.stopped_early and runner.locust_exit == 0
    assert f"drill runner-drill: Runner drill — run {load.run_id}, load quiet for 3 s, 3 step(s)" in said
    assert sorted(told) == sorted([("feedback errors", "error", True), ("feedback errors", "error", False),
                                   ("axis slow", "latency", True), ("axis slow", "latency", False),
                                   ("burst", "document_burst", True), ("burst", "document_burst", False)])
    # The load reached the axis through the drill's proxy; nothing was left on the targets.
    steps = _steps(load.run_dir)
    assert steps["proxy in front of axis"].output == f"load → {load.urls_at_close['axis']} → {load.direct_urls['axis']}"
    assert load.urls_at_close["axis"] != load.direct_urls["axis"]
    assert load.urls_at_close["portal"] == load.direct_urls["portal"]  # no network fault: no proxy
    assert load.faults_at_close == {"population": [], "axis": [], "portal": []}
    for name in ("inject feedback errors", "remove feedback errors", "inject axis slow", "remove axis slow",
                 "traffic burst", "rollback http", "rollback network", "verify rollback", "reconcile ledgers"):
        assert steps[name].status == "ok" and steps[name].end_t is not None, name
    assert steps["verify rollback"].output == "nothing left behind"
    sent = steps["traffic burst"].detail["sent"]
    assert sent >= 1 and steps["traffic burst"].detail["as_expected"] == sent
    # What the drill's own traffic was acknowledged is reconciled like the load's, and kept.
    kept = json.loads((load.run_dir / "ledgers" / "drill-traffic.json").read_text(encoding="utf-8"))
    assert len(kept["documents"]) == sent
    rows = {r.item_kind: r for r in outcome.result.reconciliation}
    assert (rows["documents"].ok, rows["documents"].lost) == (sent, 0) and rows["dossiers"].ok == 0
    journal = load_journal(load.run_dir)
    assert journal.drill == outcome.result
    assert journal.provenance.run_id == load.run_id and journal.provenance.profile == "quiet"
    assert {s.name for s in journal.provenance.target.services} == {"population", "axis", "portal"}
    assert [(f.name, f.end_offset_s is not None) for f in outcome.result.faults] == [
        ("feedback errors", True), ("axis slow", True), ("burst", True)]
    # Sampled once a second while the drill ran: some phase was seen, and the portal stayed up in each.
    assert outcome.result.hypothesis and all(c.ok for c in outcome.result.hypothesis)


@pytest.mark.e2e
def test_the_portal_reaches_the_population_through_the_drills_proxy_and_the_ledger_is_reconciled(
    loads: Callable[..., QuietLoad]
) -> None:
    phantom = "00004-260101-999999"  # acknowledged to the load, never held by the portal
    load = loads(duration_s=3.5, ledger={"dossiers": {phantom: "k-phantom"}})
    drill = _drill({
        "method": [
            {"name": "identity link down", "backend": "network", "target": "population", "at_s": 0.5,
             "duration_s": 2.5, "network": {"client": "portal", "toxic": "down"}},
            {"name": "citizens submit", "backend": "traffic", "target": "portal", "at_s": 0.8, "duration_s": 1,
             "traffic": {"action": "submission_probe", "count": 1, "expect_status": [503]}},
        ],
        "expectations": {"no_unverified_dossiers": True},
    })
    outcome = DrillRunner("link", drill, load, settle_s=0.2, say=lambda line: None).run()
    steps = _steps(load.run_dir)
    link = steps["proxy between portal and population"]
    assert link.status == "ok" and link.output.startswith("portal → http://127.0.0.1:")
    assert steps["inject identity link down"].detail["toxic"] == "down"
    probe = steps["traffic citizens submit"]
    assert probe.status == "ok" and probe.detail["as_expected"] == probe.detail["sent"] == 1
    assert steps["check no unverified dossier was accepted"].output == "0 dossier(s) accepted without a matching identity check"
    dossiers = {r.item_kind: r for r in outcome.result.reconciliation}["dossiers"]
    assert (dossiers.lost, dossiers.lost_ids) == (1, [phantom])
    assert outcome.result.verdict == "FAIL" and outcome.exit_code == ExitCode.BUDGET_BREACHED
    assert outcome.result.expectations == ["reconciliation: 1 lost, 0 duplicated (allowed 0 lost, 0 duplicated)"]


@pytest.mark.e2e
def test_ctrl_c_mid_fault_rolls_everything_back_and_says_so(loads: Callable[..., QuietLoad]) -> None:
    load = loads(duration_s=10)
    interrupted = []

    def say(line: str) -> None:
        if line.startswith("  inject axis slow") and not interrupted:  # Ctrl-C right after the first fault went in
            interrupted.append(line)
            raise KeyboardInterrupt

    slow = {"name": "axis slow", "backend": "http", "target": "axis", "at_s": 0.6, "duration_s": 5,
            "http": {"kind": "latency", "latency": {"ms": 50}}}
    drill = _drill({"method": [FAULTS["method"][0], slow]})
    outcome = DrillRunner("ctrl-c", drill, load, say=say).run()
    assert (outcome.exit_code, outcome.interrupted) == (ExitCode.INTERRUPTED, True)
    assert outcome.result.verdict == "ERROR"
    assert outcome.result.error == "interrupted (SIGINT/SIGTERM); every fault was rolled back"
    assert load.stopped_early and load.faults_at_close == {"population": [], "axis": [], "portal": []}
    journal = load_journal(load.run_dir)
    (event,) = [e for e in journal.events if e.kind == "interrupted"]
    assert event.detail["phase"] == "load"
    steps = _steps(load.run_dir)
    assert steps["remove feedback errors"].status == "ok"
    assert steps["verify rollback"].output == "nothing left behind"
    assert "reconcile ledgers" not in steps  # nothing is judged after Ctrl-C


@pytest.mark.e2e  # the drill's fault proxy (a socket server) is started before the target
def test_a_target_that_cannot_start_is_an_error_with_the_journal_still_written(loads: Callable[..., QuietLoad]) -> None:
    load = loads(start_error=RuntimeError("population did not become healthy"))
    said: list[str] = []
    outcome = DrillRunner("broken", _drill(FAULTS), load, say=said.append).run()
    assert (outcome.exit_code, outcome.result.verdict) == (ExitCode.INTERNAL_ERROR, "ERROR")
    assert outcome.result.error == "RuntimeError: population did not become healthy"
    assert "ERROR: RuntimeError: population did not become healthy; rolling back every fault..." in said
    journal = load_journal(load.run_dir)
    assert journal.drill is not None and journal.drill.error == outcome.result.error
    assert journal.provenance.run_id == load.run_id and load.stopped_early
    # The drill needs a proxy, made before the target: its (empty) rollback still runs.
    assert [e.name for e in journal.events if e.kind == "drill_step"] == ["rollback network", "verify rollback"]


@pytest.mark.parametrize(("body", "embedded", "message"), [
    ({"method": [{"name": "crash", "backend": "process", "target": "portal", "at_s": 1, "duration_s": 1,
                  "process": {"action": "kill"}}]}, False,
     "drill 'd' kills or pauses processes; that needs --target embedded"),
    ({"target_weaknesses": {"axis": ["lossy_axis"]}}, False,
     "drill 'd' plants defects in the embedded mocks; run it with --target embedded"),
    ({"method": [{"name": "late", "backend": "http", "target": "portal", "at_s": 12, "duration_s": 1,
                  "http": {"kind": "outage"}},
                 {"name": "on time", "backend": "http", "target": "portal", "at_s": 2, "duration_s": 1,
                  "http": {"kind": "outage"}}]}, True,
     "the load lasts 10 s but these steps start after it: late at 12 s; raise --duration"),
])
def test_a_plan_the_load_cannot_carry_is_refused_before_anything_starts(
    tmp_path: Path, body: dict[str, object], embedded: bool, message: str
) -> None:
    load = QuietLoad(tmp_path, 10, embedded=embedded, start_error=AssertionError("must not start"))
    with pytest.raises(UsageError) as info:
        DrillRunner("d", _drill(body), load)
    assert str(info.value) == message


def test_the_dry_walk_writes_the_journal_shape_without_starting_anything(tmp_path: Path) -> None:
    load = QuietLoad(tmp_path / "dry", 10, embedded=False, start_error=AssertionError("must not start"))
    drill = _drill({**FAULTS, "rollbacks": ["reset_proxy"]})
    runner = DrillRunner("walk", drill, load, mode=DrillMode.DRY)
    outcome = runner.run()  # the mode decides: a dry runner walks
    assert outcome.exit_code == ExitCode.OK and outcome.result.verdict == "PASS"
    journal = load_journal(load.run_dir)
    assert journal.drill is not None and journal.drill.title == "Runner drill (dry run)"
    assert journal.provenance.target.kind == "file" and journal.provenance.target.name == "staging.yaml"
    events = [(e.kind, e.name, e.status, e.offset_s) for e in journal.events]
    assert events[0][:3] == ("note", "dry run: the plan is walked, nothing is started, injected or sent", "skipped")
    assert journal.events[0].detail == {"mode": "dry"}
    assert [(k, n, o) for k, n, _s, o in events[1:]] == [
        ("fault_start", "inject feedback errors", 0.5), ("fault_start", "inject axis slow", 0.5),
        ("fault_start", "inject burst", 0.5), ("fault_stop", "remove feedback errors", 1.5),
        ("fault_stop", "remove axis slow", 1.5), ("fault_stop", "remove burst", 2.0),
        ("drill_step", "rollback: reset_proxy", 10.0)]
    assert all(status == "skipped" for _k, _n, status, _o in events)
    assert [(f.name, f.start_offset_s, f.end_offset_s, f.detail) for f in journal.drill.faults][2] == (
        "burst", 0.5, 2.0, {"backend": "traffic", "planned": True})
    assert [(c.phase, c.measured) for c in journal.drill.hypothesis] == [
        ("before", "not measured (dry run)"), ("after", "not measured (dry run)")]
    assert journal.provenance.ended_at is not None and journal.provenance.ended_at >= journal.provenance.started_at
    assert not (load.run_dir / "mocks").exists()


def _record_keys(run_dir: Path) -> dict[str, set[str]]:
    """The keys of every record of a journal file (free-form ``detail`` mappings aside)."""
    raw = json.loads((run_dir / "journal.json").read_text(encoding="utf-8"))
    drill = raw["drill"]
    return {
        "journal": set(raw), "provenance": set(raw["provenance"]), "target": set(raw["provenance"]["target"]),
        "events": set().union(*(set(e) for e in raw["events"])), "timeseries": set(raw["timeseries"]),
        "drill": set(drill), "faults": set().union(*(set(f) for f in drill["faults"])),
        "hypothesis": set().union(*(set(c) for c in drill["hypothesis"])),
    }


@pytest.mark.e2e
def test_the_dry_mode_writes_the_same_journal_shape_as_a_run_with_its_mode_recorded(
    loads: Callable[..., QuietLoad]
) -> None:
    drill = _drill(FAULTS)
    run_load, dry_load = loads(), loads(start_error=AssertionError("a dry run starts nothing"))
    ran = DrillRunner("shape", drill, run_load, mode=DrillMode.RUN, settle_s=0.2, say=lambda line: None).run()
    walked = DrillRunner("shape", drill, dry_load, mode=DrillMode.DRY, say=lambda line: None).run()
    assert (ran.result.verdict, walked.result.verdict) == ("PASS", "PASS")
    assert _record_keys(dry_load.run_dir) == _record_keys(run_load.run_dir)
    dry_journal, run_journal = load_journal(dry_load.run_dir), load_journal(run_load.run_dir)
    assert [e.detail.get("mode") for e in dry_journal.events if e.kind == "note"] == [DrillMode.DRY]
    assert all("mode" not in e.detail for e in run_journal.events)  # a run's journal is as it always was
    assert dry_journal.drill is not None and run_journal.drill is not None
    assert [f.name for f in dry_journal.drill.faults] == [f.name for f in run_journal.drill.faults]
