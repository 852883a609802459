"""Run a drill: start the target, plumb the fault proxy, start the load, inject and remove
faults on the load's timeline while probing every second, roll everything back (always),
reconcile, and write the drill result into the run's journal.

::

    start target → proxies in front of network-faulted services → start load
      → at each fault's offset: inject (journal step) … at its end: remove (journal step)
      → load drains → rollback every backend, verify nothing is left (finally:, even on Ctrl-C)
      → reconcile ledgers → DrillResult into journal.json

Ctrl-C (SIGINT) or SIGTERM at any point raises KeyboardInterrupt in the runner; the
rollback then runs with further SIGINTs ignored, so a second Ctrl-C cannot leave a fault
behind. Outcome → exit code: PASS 0; FAIL 1 (``ExitCode.BUDGET_BREACHED``, also for a
planted-defect drill that fails as expected); ERROR 70 (the drill could not run, or a
planted-defect drill did not fail the way it must); interrupted 130.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dientap import __version__
from dientap.allowlist import Allowlist
from dientap.errors import ExitCode, UsageError
from dientap.orchestration.dryrun import DryRun, DryRunOptions
from drills.backends import HttpFaultBackend, NetworkFaultBackend, ProcessFaultBackend, TrafficBackend, TrafficOutcome
from drills.backends.traffic import TrafficContext
from drills.model import Drill, Fault
from drills.probes import ProbeReading, ProbeSampler, client_recovery, client_window
from drills.reconcile import AckLedger, fetch_holdings, merge_load_ledgers, passes, predicted_lossy_drops, reconcile
from reports.journal import (
    DrillResult,
    FaultWindow,
    HypothesisCheck,
    Journal,
    JournalEvent,
    Provenance,
    ReconciliationRow,
    TargetInfo,
    TargetService,
    load_journal,
    write_journal,
)

__all__ = ["DrillRunner", "DrillOutcome", "verdict_exit_code", "planned_steps"]

UTC = dt.timezone.utc


def verdict_exit_code(verdict: str) -> ExitCode:
    """PASS → 0, FAIL → 1 (BUDGET_BREACHED / DRILL_FAILED), ERROR → 70."""
    return {"PASS": ExitCode.OK, "FAIL": ExitCode.BUDGET_BREACHED}.get(verdict, ExitCode.INTERNAL_ERROR)


@dataclass
class DrillOutcome:
    """Where the results are and what the drill concluded."""

    run_dir: Path
    result: DrillResult
    exit_code: ExitCode
    interrupted: bool = False


@dataclass
class _Applied:
    """A fault as it really happened (wall-clock times)."""

    fault: Fault
    started: dt.datetime | None = None
    stopped: dt.datetime | None = None
    detail: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    traffic: TrafficOutcome | None = None
    thread: threading.Thread | None = None


def planned_steps(drill: Drill) -> list[tuple[float, str, Fault]]:
    """The schedule: (offset, "inject" | "remove", fault), in time order (removals first on ties)."""
    steps = [(f.at_s, "inject", f) for f in drill.method] + [(f.end_s, "remove", f) for f in drill.method]
    return sorted(steps, key=lambda s: (s[0], 0 if s[1] == "remove" else 1))


class _Steps:
    """Journal steps recorded before the run's journal exists; re-based onto it at the end."""

    def __init__(self, started_at: dt.datetime):
        self.scratch = Journal(provenance=_provenance("scratch", "scratch", 0, 1.0, TargetInfo(kind="embedded"), started_at))

    @property
    def events(self) -> list[JournalEvent]:
        """Everything recorded so far."""
        return self.scratch.events

    def step(self, name: str, **detail: str | int | float | bool | None):  # noqa: ANN201 - Journal.step's context manager
        """A drill step (start, end in finally, status, output, error)."""
        return self.scratch.step(name, **detail)

    def event(self, kind: str, name: str, t: dt.datetime | None = None, status: str | None = None,
              **detail: str | int | float | bool | None) -> JournalEvent:
        """A point event (fault_start, fault_stop, note)."""
        return self.scratch.add_event(kind, name, status=status, t=t, **detail)  # type: ignore[arg-type]

    def into(self, journal: Journal) -> None:
        """Append every event to ``journal`` with offsets from its start."""
        start = journal.provenance.started_at
        for event in self.events:
            journal.events.append(event.model_copy(update={"offset_s": round((event.t - start).total_seconds(), 6)}))
        journal.events.sort(key=lambda e: e.t)


def _provenance(run_id: str, profile: str, seed: int, scale: float, target: TargetInfo, started_at: dt.datetime,
                command_line: list[str] | None = None) -> Provenance:
    return Provenance(dientap_version=__version__, run_id=run_id, profile=profile, seed=seed, scale=scale,
                      target=target, started_at=started_at, command_line=command_line or [])


@contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _interrupts_ignored(notes: list[str]) -> Iterator[None]:
    """During the rollback a further Ctrl-C is noted, not obeyed: nothing may be left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        notes.append(f"{signal.Signals(signum).name} ignored during rollback")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class DrillRunner:
    """Runs one drill against the embedded mocks or a targets file (see the module docstring)."""

    def __init__(self, name: str, drill: Drill, options: DryRunOptions, *, proxy_api: str | None = None,
                 settle_s: float = 5.0, say: Callable[[str], None] = print,
                 on_fault: Callable[[str, str, bool], None] | None = None):
        """``on_fault(name, kind, active)`` is told when each fault starts and stops (the CLI
        wires it to the metrics exporter's drill-state gauge); a failing hook is ignored."""
        self.on_fault = on_fault
        self.name = name
        self.drill = drill
        self.options = options
        self.proxy_api = proxy_api
        self.settle_s = settle_s
        self.say = say
        self.allowlist = Allowlist(options.allow_hosts)
        self._validate_plan()

    def _validate_plan(self) -> None:
        drill, opts = self.drill, self.options
        embedded = opts.target == "embedded"
        if drill.target_weaknesses and not embedded:
            raise UsageError(f"drill {self.name!r} plants defects in the embedded mocks; run it with --target embedded")
        if drill.needs("process") and not embedded:
            raise UsageError(f"drill {self.name!r} kills or pauses processes; that needs --target embedded")
        from scenarios.profile import resolve_profile

        duration = resolve_profile(opts.profile).scaled(opts.scale, opts.duration_s).duration_s
        late = [f"{f.name} at {f.at_s:g} s" for f in drill.method if f.at_s >= duration]
        if late:
            raise UsageError(f"the load lasts {duration:g} s but these steps start after it: {', '.join(late)}; "
                             "raise --duration")
        self.duration_s = duration

    # -- dry mode -------------------------------------------------------------------

    def walk(self) -> DrillOutcome:
        """``--dry``: validate and walk the plan without traffic; writes the same journal shape."""
        from dientap.orchestration.dryrun import new_run_id

        run_id = new_run_id()
        run_dir = (self.options.out / run_id).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        started = dt.datetime.now(UTC)
        target = TargetInfo(kind="embedded" if self.options.target == "embedded" else "file",
                            name=None if self.options.target == "embedded" else str(self.options.target))
        journal = Journal(provenance=_provenance(run_id, self.options.profile, self.options.seed,
                                                 self.options.scale or 1.0, target, started,
                                                 self.options.command_line))
        steps = _Steps(started)
        steps.event("note", "dry run: the plan is walked, nothing is started, injected or sent", status="skipped")
        faults = []
        for offset, what, fault in planned_steps(self.drill):
            at = started + dt.timedelta(seconds=offset)
            kind = "fault_start" if what == "inject" else "fault_stop"
            steps.event(kind, f"{what} {fault.name}", t=at, status="skipped", backend=fault.backend,
                        target=fault.target, fault_kind=fault.kind)
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

    def run(self) -> DrillOutcome:
        """Run the drill end to end (always rolls back; see the module docstring)."""
        opts = self.options
        if self.drill.target_weaknesses:
            opts.vulnerable = {k: list(v) for k, v in self.drill.target_weaknesses.items()}
        dry = DryRun(opts)
        steps = _Steps(dt.datetime.now(UTC))
        applied = [_Applied(f) for f in self.drill.method]
        backends: dict[str, object] = {}
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
            with _interrupts_raise():
                try:
                    if opts.target == "embedded":
                        self.say(f"starting the embedded mocks (population {opts.population_size:,} citizens)...")
                    dry.start_target()
                    direct_urls = dict(dry.urls)
                    backends = self._backends(dry, direct_urls)
                    net = backends.get("network")
                    if isinstance(net, NetworkFaultBackend):
                        for service in self.drill.network_services():
                            with steps.step(f"proxy in front of {service}", service=service) as step:
                                dry.urls[service] = net.plumb(service, direct_urls[service])
                                step.output = f"load → {dry.urls[service]} → {direct_urls[service]}"
                    sampler = ProbeSampler(direct_urls, self.drill.steady_state_hypothesis.probes).start()
                    self.say(f"drill {self.name}: {self.drill.title} — run {dry.run_id}, load {dry.profile.name} "
                             f"for {dry.profile.duration_s:g} s, {len(self.drill.method)} step(s)")
                    dry.start_load()
                    load_started = dt.datetime.fromtimestamp(dry.started_at or time.time(), UTC)
                    self._schedule(dry, applied, backends, steps)
                    dry.wait()
                    load_done = True
                except KeyboardInterrupt:
                    interrupted = True
                    self.say("interrupted: rolling back every fault...")
                except Exception as exc:  # noqa: BLE001 - recorded as the drill's ERROR, after the rollback
                    error = f"{type(exc).__name__}: {exc}"
                    self.say(f"ERROR: {error}; rolling back every fault...")
        finally:
            with _interrupts_ignored(rollback_notes):
                if sampler is not None:
                    sampler.stop()
                leftovers = self._rollback(applied, backends, steps)
                for fault in applied:
                    if fault.traffic is not None:
                        traffic_acks.append(fault.traffic.acknowledged)
                if interrupted or error:
                    dry.stop_load()
        try:
            rows, notes = [], []
            if load_done and not interrupted and error is None:
                with steps.step("reconcile ledgers") as step:
                    rows, notes = self._reconcile(dry, direct_urls, traffic_acks)
                    step.output = "; ".join(f"{r.item_kind}: ok {r.ok}, lost {r.lost}, duplicated {r.duplicated}, "
                                            f"unexpected {r.unexpected}, recovered {r.recovered}" for r in rows) or "nothing"
                unverified = None
                if self.drill.expectations.no_unverified_dossiers:
                    with steps.step("check no unverified dossier was accepted") as step:
                        unverified = self._unverified_dossiers(dry, direct_urls, applied)
                        step.output = f"{unverified} dossier(s) accepted without a matching identity check"
                        if unverified:
                            step.status = "failed"
            else:
                unverified = None
            result = self._result(dry, applied, sampler, rows, notes + rollback_notes, leftovers, unverified,
                                  interrupted, error)
            journal = self._journal(dry, steps, load_started)
            journal.drill = result
            write_journal(dry.run_dir, journal)
        finally:
            net = backends.get("network")
            if isinstance(net, NetworkFaultBackend):
                net.close()
            for backend in backends.values():
                close = getattr(backend, "close", None)
                if close is not None and not isinstance(backend, NetworkFaultBackend):
                    close()
            dry.close()
        self.locust_exit = dry.locust_exit
        if interrupted:
            return DrillOutcome(dry.run_dir, result, ExitCode.INTERRUPTED, interrupted=True)
        return DrillOutcome(dry.run_dir, result, verdict_exit_code(result.verdict))

    # -- pieces ---------------------------------------------------------------------

    def _backends(self, dry: DryRun, urls: dict[str, str]) -> dict[str, object]:
        backends: dict[str, object] = {}
        # The HTTP backend is always there when there is an admin token: its rollback clears
        # every fault on every service, whoever set it.
        if dry.admin_token or self.drill.needs("http"):
            backends["http"] = HttpFaultBackend(urls, dry.admin_token, self.allowlist)
        if self.drill.needs("network"):
            backends["network"] = NetworkFaultBackend(self.allowlist, api_url=self.proxy_api, run_tag=dry.run_id[-4:])
        if self.drill.needs("process"):
            backends["process"] = ProcessFaultBackend(dry.cluster.services if dry.cluster else None)
        if self.drill.needs("traffic"):
            ctx = TrafficContext(urls=urls, secret=dry.secret, seed=self.options.seed,
                                 population_size=self.options.population_size, pki_dir=dry.pki_dir,
                                 run_id=dry.run_id, allowlist=self.allowlist)
            backends["traffic"] = TrafficBackend(ctx)
        return backends

    def _schedule(self, dry: DryRun, applied: list[_Applied], backends: dict[str, object], steps: _Steps) -> None:
        by_fault = {id(a.fault): a for a in applied}
        pending = planned_steps(self.drill)
        while pending:
            offset, what, fault = pending[0]
            if dry.elapsed() < offset and not dry.wait(0):
                time.sleep(min(0.1, offset - dry.elapsed()))
                continue
            pending.pop(0)
            state = by_fault[id(fault)]
            if what == "inject":
                self._inject(state, backends, steps)
            elif state.started is not None:
                self._remove(state, backends, steps)

    def _tell(self, fault: Fault, active: bool) -> None:
        if self.on_fault is not None:
            try:
                self.on_fault(fault.name, fault.kind, active)
            except Exception:  # noqa: BLE001,S110 - an observer must never break a drill or its rollback
                pass

    def _inject(self, state: _Applied, backends: dict[str, object], steps: _Steps) -> None:
        fault = state.fault
        self._tell(fault, True)
        self.say(f"  inject {fault.name} ({fault.backend} {fault.kind} on {fault.target})")
        if fault.backend == "traffic":
            backend: TrafficBackend = backends["traffic"]  # type: ignore[assignment]
            deadline = time.monotonic() + fault.duration_s
            state.started = dt.datetime.now(UTC)
            steps.event("fault_start", fault.name, t=state.started, status="started", backend="traffic",
                        target=fault.target, fault_kind=fault.kind)

            def run() -> None:
                try:
                    state.traffic = backend.run(fault, deadline)
                except Exception as exc:  # noqa: BLE001 - reported as this action's failure
                    state.traffic = TrafficOutcome(fault.kind, notes=[f"{type(exc).__name__}: {exc}"])

            state.thread = threading.Thread(target=run, name=f"drill-traffic-{fault.name}", daemon=True)
            state.thread.start()
            return
        with steps.step(f"inject {fault.name}", backend=fault.backend, target=fault.target, fault_kind=fault.kind) as step:
            state.started = dt.datetime.now(UTC)
            state.detail = backends[fault.backend].inject(fault)  # type: ignore[attr-defined]
            step.detail.update(state.detail)
            step.output = ", ".join(f"{k}={v}" for k, v in state.detail.items())
        steps.event("fault_start", fault.name, t=state.started, status="ok", backend=fault.backend,
                    target=fault.target, fault_kind=fault.kind)

    def _remove(self, state: _Applied, backends: dict[str, object], steps: _Steps) -> None:
        fault = state.fault
        if state.stopped is not None:
            return
        self._tell(fault, False)
        self.say(f"  remove {fault.name}")
        if fault.backend == "traffic":
            if state.thread is not None:
                state.thread.join(30)  # bounded: the action stops at its own deadline
            state.stopped = dt.datetime.now(UTC)
            outcome = state.traffic
            with steps.step(f"traffic {fault.name}", target=fault.target, fault_kind=fault.kind) as step:
                step.output = outcome.summary() if outcome else "no outcome (still running?)"
                if outcome is None or not outcome.ok:
                    step.status = "failed"
                if outcome is not None:
                    step.detail.update({"sent": outcome.sent, "as_expected": outcome.as_expected})
            steps.event("fault_stop", fault.name, t=state.stopped, status="ok", backend="traffic")
            return
        try:
            with steps.step(f"remove {fault.name}", backend=fault.backend, target=fault.target) as step:
                step.output = backends[fault.backend].remove(fault)  # type: ignore[attr-defined]
        finally:
            state.stopped = dt.datetime.now(UTC)
            steps.event("fault_stop", fault.name, t=state.stopped, status="ok", backend=fault.backend)

    def _rollback(self, applied: list[_Applied], backends: dict[str, object], steps: _Steps) -> dict[str, int]:
        """Remove every fault still active, then run every backend's rollback and verify."""
        for state in applied:
            if state.started is not None and state.stopped is None:
                try:
                    self._remove(state, backends, steps)
                except Exception:  # noqa: BLE001,S110 - the blanket rollback below still runs; the step has the error
                    pass
        names = {"clear_http_faults": "http", "reset_proxy": "network", "resume_processes": "process"}
        # Declared rollbacks first (journalled by name); every backend's rollback runs regardless,
        # because a drill file must not be able to forget one.
        order = [names[r] for r in self.drill.rollbacks] + [b for b in ("http", "network", "process") if b not in
                                                              [names[r] for r in self.drill.rollbacks]]
        for backend_name in order:
            backend = backends.get(backend_name)
            if backend is None:
                continue
            with steps.step(f"rollback {backend_name}", backend=backend_name) as step:
                try:
                    done = backend.clear_all()  # type: ignore[attr-defined]
                    step.output = ", ".join(f"{k}: {v}" for k, v in done.items()) or "nothing to do"
                except Exception as exc:  # noqa: BLE001 - a failed rollback is recorded; the others still run
                    step.status, step.error = "error", f"{type(exc).__name__}: {exc}"
        leftovers: dict[str, int] = {}
        with steps.step("verify rollback") as step:
            http = backends.get("http")
            if isinstance(http, HttpFaultBackend):
                for service, count in http.active().items():
                    if count == -1 and self.options.target == "embedded":
                        # An embedded mock that no longer answers is stopping (a terminal's Ctrl-C
                        # reaches it too); its faults live in its memory and end with it.
                        step.detail[f"http:{service}"] = "unreachable: embedded mock stopping, its faults end with it"
                    elif count:
                        leftovers[f"http:{service}"] = count
            net = backends.get("network")
            if isinstance(net, NetworkFaultBackend):
                leftovers.update({f"network:{k}": v for k, v in net.leftover().items() if v})
            proc = backends.get("process")
            if isinstance(proc, ProcessFaultBackend):
                leftovers.update({f"process:{k}": v for k, v in proc.leftover().items() if v})
            step.output = "nothing left behind" if not leftovers else "LEFT BEHIND (-1: could not check): " + ", ".join(
                f"{k}={v}" for k, v in leftovers.items())
            for key, value in leftovers.items():
                step.detail[key] = value
            if leftovers:
                step.status = "failed"
        return leftovers

    def _reconcile(self, dry: DryRun, urls: dict[str, str], traffic_acks: list[dict[str, dict[str, str]]]
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
        if "documents" in self.drill.expectations.exact_lost:
            self._predicted = predicted_lossy_drops(ledger.entries.get("documents", {}))
        return rows, notes

    def _unverified_dossiers(self, dry: DryRun, urls: dict[str, str], applied: list[_Applied]) -> int:
        from drills.reconcile import unverified_dossiers

        windows = [(a.started, a.stopped) for a in applied if a.fault.is_fault and a.started and a.stopped]
        return unverified_dossiers(urls, dry.admin_token, dry.secret, windows)

    def _journal(self, dry: DryRun, steps: _Steps, load_started: dt.datetime | None) -> Journal:
        try:
            journal = load_journal(dry.run_dir)
        except Exception:  # noqa: BLE001 - no journal (interrupted, load crashed): build the same shape
            target = TargetInfo(kind="embedded" if self.options.target == "embedded" else "file",
                                services=[TargetService(name=k, base_url=v) for k, v in sorted(dry.urls.items())])
            started = load_started or (steps.events[0].t if steps.events else dt.datetime.now(UTC))
            journal = Journal(provenance=_provenance(dry.run_id, dry.profile.name, self.options.seed, dry.profile.scale,
                                                     target, started, self.options.command_line))
            journal.provenance.ended_at = dt.datetime.now(UTC)
        steps.into(journal)
        return journal

    def _result(self, dry: DryRun, applied: list[_Applied], sampler: ProbeSampler | None,
                rows: list[ReconciliationRow], notes: list[str], leftovers: dict[str, int], unverified: int | None,
                interrupted: bool, error: str | None) -> DrillResult:
        exp = self.drill.expectations
        broken: list[str] = []
        readings = sampler.snapshot_readings() if sampler is not None else []
        try:
            journal_start = load_journal(dry.run_dir).provenance.started_at
        except Exception:  # noqa: BLE001 - no journal (interrupted): offsets from the first step
            journal_start = next((a.started for a in applied if a.started), dt.datetime.now(UTC))
        hypothesis = self._hypothesis(applied, readings, journal_start.timestamp())
        broken += [f"hypothesis {c.phase}: {c.probe} — measured {c.measured}" for c in hypothesis if not c.ok]
        faults: list[FaultWindow] = []
        fault_windows: list[FaultWindow] = []  # the real faults (traffic actions excluded)
        for state in applied:
            if state.started is None:
                continue
            detail = dict(state.detail)
            detail["backend"] = state.fault.backend
            if state.traffic is not None:
                detail.update({"sent": state.traffic.sent, "as_expected": state.traffic.as_expected})
                if not state.traffic.ok:
                    broken.append(f"{state.fault.name}: {state.traffic.summary()}")
            faults.append(FaultWindow(
                name=state.fault.name, kind=state.fault.kind, target=state.fault.target,
                start_offset_s=round((state.started - journal_start).total_seconds(), 3),
                end_offset_s=round((state.stopped - journal_start).total_seconds(), 3) if state.stopped else None,
                detail=detail))
            if state.fault.is_fault:
                fault_windows.append(faults[-1])
        recovery = None
        if not interrupted and error is None:
            try:
                journal = load_journal(dry.run_dir)
            except Exception:  # noqa: BLE001
                journal = None
            services = list(exp.recovery_services or self.drill.faulted_services)
            if journal is not None and fault_windows and services:
                end = max(w.end_offset_s or 0.0 for w in fault_windows)
                recovery = client_recovery(journal, services, end, max_error_ratio=exp.recovery_error_ratio,
                                           max_p95_ms=exp.recovery_p95_ms)
                if exp.recovery_time_s is not None:
                    if recovery is None:
                        broken.append(f"recovery: {', '.join(services)} not back within tolerance before the load ended "
                                      f"(limit {exp.recovery_time_s:g} s)")
                    elif recovery > exp.recovery_time_s:
                        broken.append(f"recovery took {recovery:.1f} s > {exp.recovery_time_s:g} s")
                if exp.error_budget_during_fault is not None:
                    for window in fault_windows:
                        seen = client_window(journal, [window.target], window.start_offset_s,
                                             window.end_offset_s or window.start_offset_s)
                        if seen.error_ratio is not None and seen.error_ratio > exp.error_budget_during_fault:
                            broken.append(f"error budget during {window.name}: {seen.failures}/{seen.requests} failed "
                                          f"({seen.error_ratio:.2f} > {exp.error_budget_during_fault:g})")
            lost = sum(r.lost for r in rows)
            duplicated = sum(r.duplicated for r in rows)
            if not passes(rows, max_lost=exp.max_lost, max_duplicated=exp.max_duplicated):
                broken.append(f"reconciliation: {lost} lost, {duplicated} duplicated "
                              f"(allowed {exp.max_lost} lost, {exp.max_duplicated} duplicated)")
            if not rows:
                broken.append("reconciliation: nothing could be compared (" + "; ".join(notes or ["no ledgers"]) + ")")
            if unverified:
                broken.append(f"{unverified} dossier(s) accepted without a matching identity verification")
        if leftovers:
            broken.append("rollback left faults behind: " + ", ".join(f"{k}={v}" for k, v in leftovers.items()))
        broken += [f"note: {n}" for n in notes if "ignored during rollback" in n]
        verdict = "FAIL" if broken else "PASS"
        if interrupted:
            verdict, error = "ERROR", "interrupted (SIGINT/SIGTERM); every fault was rolled back" + (
                "" if not leftovers else " — EXCEPT the ones listed")
        elif error is not None:
            verdict = "ERROR"
        elif exp.expect_verdict == "FAIL":
            verdict, error = self._planted_verdict(verdict, rows)
        return DrillResult(name=self.name, title=self.drill.title, verdict=verdict, hypothesis=hypothesis,
                           faults=faults, reconciliation=rows,
                           recovery_time_s=round(recovery, 2) if recovery is not None else None,
                           expectations=broken, error=error)

    def _planted_verdict(self, verdict: str, rows: list[ReconciliationRow]) -> tuple[str, str | None]:
        """A planted-defect drill must FAIL, and with exactly the expected losses, to prove the checker."""
        if verdict != "FAIL":
            return "ERROR", "this drill plants a defect and must FAIL, but everything passed: the checker missed it"
        by_kind = {r.item_kind: r for r in rows}
        for kind, expected in self.drill.expectations.exact_lost.items():
            row = by_kind.get(kind)
            found = row.lost if row else 0
            if expected == "predicted":
                predicted = getattr(self, "_predicted", [])
                if row is None or sorted(row.lost_ids) != predicted[: len(row.lost_ids)] or found != len(predicted):
                    return "ERROR", (f"planted defect: expected exactly the {len(predicted)} predicted lost {kind}, "
                                     f"the checker found {found}")
            elif found != expected:
                return "ERROR", f"planted defect: expected exactly {expected} lost {kind}, the checker found {found}"
        return "FAIL", None

    def _hypothesis(self, applied: list[_Applied], readings: list[ProbeReading], origin: float) -> list[HypothesisCheck]:
        probes = self.drill.steady_state_hypothesis.probes
        # Drill-side traffic counts as a window too: a login storm is "during" like a fault.
        starts = [a.started.timestamp() for a in applied if a.started]
        windows = [(a.started.timestamp(), a.stopped.timestamp() if a.stopped else float("inf"))
                   for a in applied if a.started]
        first = min(starts) if starts else float("inf")
        checks: list[HypothesisCheck] = []
        for index, probe in enumerate(probes):
            mine = [r for r in readings if r.probe == index]
            before = [r for r in mine if r.t < first]
            if before:
                checks.append(self._phase_check("before", probe.describe(), before[-1:], origin))
            if probe.during:
                during = [r for r in mine if any(s <= r.t <= e for s, e in windows)]
                if during:
                    checks.append(self._phase_check("during", probe.describe(), during, origin))
            last_end = max((e for _s, e in windows), default=0.0)
            after = [r for r in mine if r.t > last_end]
            if after:
                checks.append(self._phase_check("after", probe.describe(), after[-1:], origin))
        return checks

    @staticmethod
    def _phase_check(phase: str, probe: str, readings: list[ProbeReading], origin: float) -> HypothesisCheck:
        worst = next((r for r in readings if not r.ok), readings[-1])
        held = sum(1 for r in readings if r.ok)
        measured = worst.measured if len(readings) == 1 else f"{worst.measured} (held {held}/{len(readings)} s)"
        return HypothesisCheck(phase=phase, probe=probe, offset_s=round(worst.t - origin, 1), expected=probe,  # type: ignore[arg-type]
                               measured=measured, ok=all(r.ok for r in readings))


