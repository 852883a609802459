"""Run a drill: start the target, plumb the fault proxy, start the load, inject and remove
faults on the load's timeline while probing every second, roll everything back (always),
reconcile, and write the drill result into the run's journal. In the dry mode
(:class:`drills.mode.DrillMode`) the plan is only walked, into the same journal shape.

::

    start target (the portal behind a proxy to the population service, for link faults)
      → proxies in front of network-faulted services → start load
      → at each fault's offset: inject (journal step) … at its end: remove (journal step)
      → load drains → rollback every backend, verify nothing is left (finally:, even on Ctrl-C)
      → reconcile ledgers → DrillResult into journal.json

Ctrl-C (SIGINT) or SIGTERM at any point raises KeyboardInterrupt in the runner; the
rollback then runs with further SIGINTs ignored, so a second Ctrl-C cannot leave a fault
behind. Outcome → exit code: PASS 0; FAIL 1 (``ExitCode.BUDGET_BREACHED``, also for a
planted-defect drill that fails as expected); ERROR 70 (the drill could not run, or a
planted-defect drill did not fail the way it must); interrupted 130.

The runner orchestrates; the steps live beside it: the fault plan and its injection in
:mod:`drills.fault_timeline`, the rollback in :mod:`drills.rollback`, signal handling in
:mod:`drills.interrupts`, the drill's journal entries in :mod:`drills.step_log`, the
verdict in :mod:`drills.verdict`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import assert_never

from drills.backends import FaultBackend, HttpFaultBackend, NetworkFaultBackend, ProcessFaultBackend, TrafficBackend
from drills.backends.traffic import TrafficContext
from drills.fault_timeline import AppliedFault, FaultInjector, planned_steps
from drills.interrupts import interrupts_ignored, interrupts_raise
from drills.load import LoadSession
from drills.mode import DrillMode
from drills.model import Drill
from drills.probes import ProbeSampler
from drills.reconcile import AckLedger, fetch_holdings, merge_load_ledgers, predicted_lossy_drops, reconcile
from drills.rollback import roll_back
from drills.step_log import StepLog
from drills.verdict import DrillFacts, judge_drill, verdict_exit_code
from kernel.ack_ledger import REPLAYED_DOSSIERS, RETRIED_DOSSIERS
from kernel.allowlist import Allowlist
from kernel.errors import ExitCode, UsageError
from kernel.provenance import build_provenance
from kernel.stopping import STOP
from reports.drill_result import DrillResult, FaultWindow, HypothesisCheck, ReconciliationRow
from reports.journal import EventKind, Journal
from reports.run_files import load_journal, write_journal

__all__ = ["DrillRunner", "DrillOutcome"]

UTC = dt.UTC


@dataclass
class DrillOutcome:
    """Where the results are and what the drill concluded."""

    run_dir: Path
    result: DrillResult
    exit_code: ExitCode
    interrupted: bool = False


class DrillRunner:
    """Runs one drill against the embedded mocks or a targets file (see the module docstring)."""

    def __init__(self, name: str, drill: Drill, load: LoadSession, *, mode: DrillMode = DrillMode.RUN,
                 proxy_api: str | None = None, settle_s: float = 5.0, say: Callable[[str], None] = print,
                 on_fault: Callable[[str, str, bool], None] | None = None,
                 before_load: Callable[[], None] | None = None):
        """``load`` is the load to run under, built (profile resolved) but not started; the
        drill's planted weaknesses must already be in it. ``mode`` is what :meth:`run` does
        (walk the plan, or run it). ``on_fault(name, kind, active)`` is told when each fault
        starts and stops (the CLI wires it to the metrics exporter's drill-state gauge); a
        failing hook is ignored. ``before_load()`` is called once the target is up, right
        before the load starts (the CLI starts Prometheus there); if it fails, the drill is
        an ERROR, rolled back like any other."""
        self.mode = mode
        self.on_fault = on_fault
        self.before_load = before_load
        self.name = name
        self.drill = drill
        self.load = load
        self.proxy_api = proxy_api
        self.settle_s = settle_s
        self.say = say
        self.allowlist = Allowlist(load.allow_hosts)
        self._predicted: list[str] = []
        self._retried = self._replayed = 0  # from the load's ledgers (kernel.ack_ledger.RETRIED_DOSSIERS ...)
        self._validate_plan()

    def _validate_plan(self) -> None:
        drill = self.drill
        embedded = self.load.embedded
        if drill.readiness and not embedded:
            raise UsageError(f"drill {self.name!r} starts the embedded mocks with its own readiness profile "
                             f"({drill.readiness}); run it with --target embedded")
        if drill.target_weaknesses and not embedded:
            raise UsageError(f"drill {self.name!r} plants defects in the embedded mocks; run it with --target embedded")
        if drill.needs("process") and not embedded:
            raise UsageError(f"drill {self.name!r} kills or pauses processes; that needs --target embedded")
        if drill.portal_links() and not embedded:
            raise UsageError(f"drill {self.name!r} puts a fault proxy between the portal and the population service; "
                             "a real portal's population URL is not dientap's to change: run it with --target embedded")
        duration = self.load.profile.duration_s
        late = [f"{f.name} at {f.at_s:g} s" for f in drill.method if f.at_s >= duration]
        if late:
            raise UsageError(f"the load lasts {duration:g} s but these steps start after it: {', '.join(late)}; "
                             "raise --duration")
        self.duration_s = duration

    def run(self) -> DrillOutcome:
        """Run the drill in its :attr:`mode`: walk the plan (``DRY``) or run it end to end (``RUN``)."""
        match self.mode:
            case DrillMode.DRY:
                return self.walk()
            case DrillMode.RUN:
                return self.run_under_load()
            case _:
                assert_never(self.mode)

    # -- dry mode -------------------------------------------------------------------

    def walk(self) -> DrillOutcome:
        """``--dry``: validate and walk the plan without traffic; writes the same journal shape,
        with the mode in the opening note's detail."""
        load = self.load
        run_dir = load.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        started = dt.datetime.now(UTC)
        journal = Journal(provenance=build_provenance(
            run_id=load.run_id, profile=load.profile.name, seed=load.seed, scale=load.profile.scale,
            target_kind="embedded" if load.embedded else "file", target_name=None if load.embedded else load.target_name,
            started_at=started, command_line=load.command_line))
        steps = StepLog(started)
        steps.event("note", "dry run: the plan is walked, nothing is started, injected or sent", status="skipped",
                    mode=DrillMode.DRY.value)
        faults = []
        for offset, what, fault in planned_steps(self.drill):
            at = started + dt.timedelta(seconds=offset)
            kind: EventKind = "fault_start" if what == "inject" else "fault_stop"
            steps.event(kind, f"{what} {fault.name}", t=at, status="skipped", backend=fault.backend,
                        target=fault.proxy_key, fault_kind=fault.kind)
        for fault in self.drill.method:
            faults.append(FaultWindow(name=fault.name, kind=fault.kind, target=fault.target,
                                      start_offset_s=fault.at_s, end_offset_s=fault.end_s,
                                      detail={"backend": fault.backend, "planned": True}))
        for rollback in self.drill.rollbacks:
            steps.event("drill_step", f"rollback: {rollback}", t=started + dt.timedelta(seconds=self.duration_s),
                        status="skipped")
        steps.into(journal)
        journal.provenance.ended_at = dt.datetime.now(UTC)
        hypothesis = [HypothesisCheck(phase=phase, probe=p.describe(), expected=p.describe(), measured="not measured (dry run)",
                                      ok=True)
                      for p in self.drill.steady_state_hypothesis.probes for phase in ("before", "after")]
        journal.drill = DrillResult(name=self.name, title=f"{self.drill.title} (dry run)", verdict="PASS",
                                    hypothesis=hypothesis, faults=faults)
        write_journal(run_dir, journal)
        return DrillOutcome(run_dir, journal.drill, ExitCode.OK)

    # -- real run -------------------------------------------------------------------

    def run_under_load(self) -> DrillOutcome:
        """Run the drill end to end (always rolls back; see the module docstring)."""
        dry = self.load
        steps = StepLog(dt.datetime.now(UTC))
        applied = [AppliedFault(f) for f in self.drill.method]
        backends: dict[str, FaultBackend] = {}
        network: NetworkFaultBackend | None = None
        injector = FaultInjector(backends, steps, self.say, self.on_fault)
        sampler: ProbeSampler | None = None
        interrupted = False
        error: str | None = None
        rollback_notes: list[str] = []
        leftovers: dict[str, int] = {}
        direct_urls: dict[str, str] = {}
        traffic_acks: list[dict[str, dict[str, str]]] = []
        load_started: dt.datetime | None = None
        load_done = False
        try:
            with interrupts_raise():
                try:
                    if dry.embedded:
                        self.say(f"starting the embedded mocks (population {dry.population_size:,} citizens)...")
                    if self.drill.needs("network"):  # before the target: the portal may start behind a proxy
                        network = backends["network"] = NetworkFaultBackend(self.allowlist, api_url=self.proxy_api,
                                                                            run_tag=dry.run_id[-4:])
                    dry.start_target(portal_population_via=self._portal_link(network, steps))
                    direct_urls = dict(dry.urls)
                    backends.update(self._backends(dry, direct_urls))
                    if network is not None:
                        for service in self.drill.network_services():
                            with steps.step(f"proxy in front of {service}", service=service) as step:
                                dry.urls[service] = network.plumb(service, direct_urls[service])
                                step.output = f"load → {dry.urls[service]} → {direct_urls[service]}"
                    sampler = ProbeSampler(direct_urls, self.drill.steady_state_hypothesis.probes).start()
                    self.say(f"drill {self.name}: {self.drill.title} — run {dry.run_id}, load {dry.profile.name} "
                             f"for {dry.profile.duration_s:g} s, {len(self.drill.method)} step(s)")
                    if self.before_load is not None:
                        self.before_load()
                    dry.start_load()
                    load_started = dt.datetime.now(UTC)  # launched; its clock starts when the doors open
                    injector.run_plan(self.drill, dry, applied)
                    dry.wait()
                    load_done = True
                except KeyboardInterrupt:
                    interrupted = True
                    self.say("interrupted: rolling back every fault...")
                except Exception as exc:  # noqa: BLE001 - recorded as the drill's ERROR, after the rollback
                    error = f"{type(exc).__name__}: {exc}"
                    self.say(f"ERROR: {error}; rolling back every fault...")
        finally:
            with interrupts_ignored(rollback_notes):
                if sampler is not None:
                    sampler.stop()
                leftovers = roll_back(applied, injector, self.drill.rollbacks, embedded=dry.embedded)
                for fault in applied:
                    if fault.traffic is not None:
                        traffic_acks.append(fault.traffic.acknowledged)
                if interrupted or error:
                    dry.stop_load()
        try:
            rows: list[ReconciliationRow] = []
            notes: list[str] = []
            if load_done and not interrupted and error is None:
                with steps.step("reconcile ledgers") as step:
                    rows, notes = self._reconcile(dry, direct_urls, traffic_acks)
                    step.output = "; ".join(f"{r.item_kind}: ok {r.ok}, lost {r.lost}, duplicated {r.duplicated}, "
                                            f"unexpected {r.unexpected}, recovered {r.recovered}" for r in rows) or "nothing"
                exp = self.drill.expectations
                if self._retried or exp.min_retried_submissions or exp.min_replayed_submissions:
                    with steps.step("count retried submissions") as step:
                        step.output = (f"{self._retried} dossier(s) acknowledged after a timed-out or refused "
                                       f"attempt, {self._replayed} answered as a replay (same Idempotency-Key)")
                        step.detail.update({"retried": self._retried, "replayed": self._replayed})
                unverified = None
                if self.drill.expectations.no_unverified_dossiers:
                    with steps.step("check no unverified dossier was accepted") as step:
                        unverified = self._unverified_dossiers(dry, direct_urls, applied)
                        step.output = f"{unverified} dossier(s) accepted without a matching identity check"
                        if unverified:
                            step.status = "failed"
            else:
                unverified = None
            readings = sampler.snapshot_readings() if sampler is not None else []
            facts = DrillFacts(applied=applied, readings=readings, rows=rows, notes=notes + rollback_notes,
                               leftovers=leftovers, unverified=unverified, interrupted=interrupted, error=error,
                               predicted_lost=self._predicted, retried=self._retried, replayed=self._replayed)
            result = judge_drill(self.name, self.drill, dry.run_dir, facts)
            journal = self._journal(dry, steps, load_started)
            journal.drill = result
            if interrupted:
                journal.add_event("interrupted", STOP.signal_name or "SIGINT", t=STOP.requested_at,
                                  phase="load" if load_started else "starting")
            write_journal(dry.run_dir, journal)
        finally:
            for backend in backends.values():  # the network backend (its proxies) first: it was made first
                backend.close()
            dry.close()
        self.locust_exit = dry.locust_exit
        if interrupted:
            return DrillOutcome(dry.run_dir, result, ExitCode.INTERRUPTED, interrupted=True)
        return DrillOutcome(dry.run_dir, result, verdict_exit_code(result.verdict))

    # -- pieces ---------------------------------------------------------------------

    def _portal_link(self, net: NetworkFaultBackend | None, steps: StepLog) -> Callable[[str], str] | None:
        """How the portal reaches the population service: through this drill's proxy, if it has link faults."""
        if not self.drill.portal_links() or net is None:
            return None

        def via(population_url: str) -> str:
            with steps.step("proxy between portal and population", service="population") as step:
                url = net.plumb("portal->population", population_url)
                step.output = f"portal → {url} → {population_url}"
            return url

        return via

    def _backends(self, dry: LoadSession, urls: dict[str, str]) -> dict[str, FaultBackend]:
        backends: dict[str, FaultBackend] = {}
        # The HTTP backend is always there when there is an admin token: its rollback clears
        # every fault on every service, whoever set it.
        if dry.admin_token or self.drill.needs("http"):
            backends["http"] = HttpFaultBackend(urls, dry.admin_token, self.allowlist)
        if self.drill.needs("process"):
            backends["process"] = ProcessFaultBackend(dry.services)
        if self.drill.needs("traffic"):
            ctx = TrafficContext(urls=urls, secret=dry.secret, seed=dry.seed,
                                 population_size=dry.population_size, pki_dir=dry.pki_dir,
                                 run_id=dry.run_id, allowlist=self.allowlist, admin_token=dry.admin_token)
            backends["traffic"] = TrafficBackend(ctx)
        return backends

    def _reconcile(self, dry: LoadSession, urls: dict[str, str], traffic_acks: list[dict[str, dict[str, str]]]
                   ) -> tuple[list[ReconciliationRow], list[str]]:
        # What the drill's own traffic was acknowledged joins the load's ledgers, in the same
        # format, so the reconciliation can be re-checked from the run directory alone.
        drill_ledger = AckLedger()
        for acks in traffic_acks:
            for kind, items in acks.items():
                for item_id, key in items.items():
                    drill_ledger.record(kind, item_id, key)
        if drill_ledger.entries:
            (dry.run_dir / "ledgers").mkdir(parents=True, exist_ok=True)
            (dry.run_dir / "ledgers" / "drill-traffic.json").write_text(
                json.dumps(drill_ledger.entries, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        ledger = merge_load_ledgers(dry.run_dir)
        secret = dry.secret
        rows, notes = reconcile(ledger, lambda: fetch_holdings(urls, dry.admin_token, secret, ledger),
                                settle_s=self.settle_s)
        self._retried = len(ledger.entries.get(RETRIED_DOSSIERS, {}))
        self._replayed = len(ledger.entries.get(REPLAYED_DOSSIERS, {}))
        if "documents" in self.drill.expectations.exact_lost:
            self._predicted = predicted_lossy_drops(ledger.entries.get("documents", {}))
        if any(f.kind == "district_cutover" for f in self.drill.method):  # the go-live night
            from drills.golive_reconcile import in_flight, predicted_migration_drops, reconcile_migration

            row, more = reconcile_migration(urls["portal"], secret, drill_ledger.entries.get("dossiers", {}))
            rows += [row] if row is not None else []
            notes += more
            if "migrated_dossiers" in self.drill.expectations.exact_lost:
                self._predicted = predicted_migration_drops(in_flight(drill_ledger.entries.get("dossiers", {})))
        return rows, notes

    def _unverified_dossiers(self, dry: LoadSession, urls: dict[str, str], applied: list[AppliedFault]) -> int:
        from drills.reconcile import unverified_dossiers

        windows = [(a.started, a.stopped) for a in applied if a.fault.is_fault and a.started and a.stopped]
        return unverified_dossiers(urls, dry.admin_token, dry.secret, windows)

    def _journal(self, dry: LoadSession, steps: StepLog, load_started: dt.datetime | None) -> Journal:
        try:
            journal = load_journal(dry.run_dir)
        except Exception:  # noqa: BLE001 - no journal (interrupted, load crashed): build the same shape
            # The run's clock when the load's doors opened, else the launch, else the first step.
            opened = dt.datetime.fromtimestamp(dry.started_at, UTC) if dry.started_at is not None else None
            started = opened or load_started or (steps.events[0].t if steps.events else dt.datetime.now(UTC))
            journal = Journal(provenance=build_provenance(
                run_id=dry.run_id, profile=dry.profile.name, seed=dry.seed, scale=dry.profile.scale,
                target_kind="embedded" if dry.embedded else "file", target_name=dry.target_name, urls=dry.urls,
                started_at=started, ended_at=dt.datetime.now(UTC), command_line=dry.command_line))
        steps.into(journal)
        return journal
