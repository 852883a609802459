"""Wire the dry run into a Locust environment: world, personas, open-model arrivals,
exact latency recording and shipping, generator-health monitors, abort rules, and the
results written at the end. ``dientap/orchestration/locust_entry.py`` calls :func:`install` from
Locust's ``init`` event.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from kernel.defaults import POPULATION_SIZE, SEED
from kernel.load_clock import write_load_start
from kernel.load_observation import EXTENSION_ATTRIBUTE
from reports.summary_build import HISTOGRAMS_DIR
from scenarios.abort import AbortLimits, AbortMonitor, cut_short_reason
from scenarios.arrival_plan import ArrivalPlan, CommuneRate, RateCurve
from scenarios.arrivals import ArrivalScheduler, attach_arrivals
from scenarios.connections import install_keepalive_fix
from scenarios.distributed import attach_recorder
from scenarios.gc_tuning import attach_gc_tuning
from scenarios.lag import LagMonitor
from scenarios.latency import LatencyRecorder
from scenarios.load_figures import LoadFigures, progress_line
from scenarios.personas import CommuneOfficer, ProvincialAgency, citizen_journey
from scenarios.results import RunOutcome, write_results
from scenarios.runconfig import RunConfig
from scenarios.shipped_records import LEDGERS_DIR, PLAYERS_DIR, RecordsInbox, RecordsOutbox
from scenarios.spawn_message_fix import install_default_args_cache
from scenarios.world import World

__all__ = ["install", "arrival_plan", "refresh_loop_clock", "HarnessState", "LoadFigures"]

log = logging.getLogger("dientap.harness")


class HarnessState(LoadFigures):
    """The one typed extension the harness hangs on Locust's ``Environment``
    (``environment.dientap``, :data:`kernel.load_observation.EXTENSION_ATTRIBUTE`): the
    world the personas share, and the load's figures metrics observe (:class:`LoadFigures`).
    """

    def __init__(self, world: World, recorder: LatencyRecorder):
        super().__init__(recorder)
        self.world = world


def arrival_plan(world: World) -> ArrivalPlan:
    """The citizens' Poisson schedule: the national rate shared by commune size."""
    profile = world.profile
    equal = profile.citizens.weighting == "equal"
    weights = {c.code: 1 if equal else c.size_weight for c in world.communes}
    total = sum(weights.values()) or 1
    rate = profile.citizen_base_rate
    communes = [CommuneRate(c.code, c.province_code, rate * weights[c.code] / total) for c in world.communes]
    curve = RateCurve(tuple((p.at_s, p.factor) for p in profile.citizens.shape))
    return ArrivalPlan(communes, curve, seed=world.config.seed, duration_s=profile.duration_s)


def _user_counts(world: World) -> None:
    CommuneOfficer.fixed_count = len(world.slots)
    provinces = {c.province_code for c in world.communes}
    ProvincialAgency.fixed_count = len(provinces) if world.profile.agencies.enabled else 0


STATS_LOG = "locust-stats.log"


def tables_to_log(path: Path) -> None:
    """Send Locust's end-of-run tables to ``path`` instead of the console.

    They are 150 columns wide, misalign long service names and repeat, with approximated
    percentiles, what dientap's own summary and report say exactly; the console keeps
    dientap's progress line and summary. Called from the ``init`` event, after Locust's
    ``setup_logging`` has given ``locust.stats_logger`` its console handler.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = logging.getLogger("locust.stats_logger")
    for handler in list(tables.handlers):
        tables.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    tables.addHandler(handler)
    tables.propagate = False


def refresh_loop_clock() -> None:
    """Bring gevent's idea of "now" up to date before Locust starts its ``--run-time`` timer.

    Locust starts that timer from its main greenlet right after the ``init`` event, outside
    any loop callback. Since gevent 1.3 such a timer does not refresh the loop's cached time
    (``starting_timer_may_update_loop_time``), so it counted from when the loop last looked
    at the clock — before :func:`install`'s world building, which does not yield — and the
    load ran that much short of its plan: 8.6 s of a 10-s smoke run on a busy machine,
    which the gate then rightly called cut short.
    """
    gevent.get_hub().loop.update_now()


def install(environment: Any, config: RunConfig) -> HarnessState:
    """Attach everything to ``environment`` for its runner's role (local, master, worker)."""
    installed_at = time.time()  # before Locust's --run-time clock starts (see cut_short_reason)
    install_keepalive_fix()
    install_default_args_cache()
    if not isinstance(environment.runner, WorkerRunner):
        tables_to_log(Path(config.run_dir) / "logs" / STATS_LOG)
    world = World(environment, config)
    _user_counts(world)
    recorder = LatencyRecorder()
    state = HarnessState(world, recorder)
    setattr(environment, EXTENSION_ATTRIBUTE, state)
    runner = environment.runner
    is_master = isinstance(runner, MasterRunner)

    if not is_master:
        # DIENTAP_GC_FREEZE=0 turns the freeze off, to measure what it buys (bench/loadgen.py --only gc).
        gc_monitor = attach_gc_tuning(environment, freeze=os.environ.get("DIENTAP_GC_FREEZE", "1") != "0")
        node = f"worker-{runner.worker_index}" if isinstance(runner, WorkerRunner) else "local"

        def make_scheduler(index: int, count: int) -> ArrivalScheduler:
            plan = arrival_plan(world).partition(index, count) if count > 1 else arrival_plan(world)
            return ArrivalScheduler(
                plan, lambda arrival: citizen_journey(world, arrival), max_in_flight=world.profile.citizens.max_in_flight
            )

        scheduler_getter = attach_arrivals(environment, make_scheduler)
        state.scheduler_getter = scheduler_getter
        state.lag = LagMonitor(
            node=node,
            arrivals=lambda: (s.stats if (s := scheduler_getter()) is not None else None),
            gc_monitor=gc_monitor,
        )
    node_name = f"worker-{runner.worker_index}" if isinstance(runner, WorkerRunner) else "local"
    run_dir = Path(config.run_dir)

    # What a worker was acknowledged and who it played travel with its reports to the master's
    # run directory (a worker on another machine shares no disk with it), as they grow: a
    # worker that dies mid-run leaves the master all but its last report's worth.
    outbox = RecordsOutbox(node_name, world.ledger, world.players) if isinstance(runner, WorkerRunner) else None
    inbox = RecordsInbox(run_dir) if is_master else None
    shipped_copy = LatencyRecorder() if config.copy_dir is not None and isinstance(runner, WorkerRunner) else None
    state.shipping = attach_recorder(
        environment, recorder, health=state.lag.snapshot if state.lag else None, outbox=outbox, inbox=inbox,
    )
    if shipped_copy is not None:
        # A worker on another machine keeps what it shipped: the master's merge is auditable
        # against the union of its workers' copies.
        state.shipping.on_sent.append(shipped_copy.absorb)

    def on_test_start(environment: Any, **_kw: Any) -> None:
        state.started_at = time.time()
        if not isinstance(environment.runner, WorkerRunner):
            # The run's one clock (kernel.load_clock): a drill places its faults on it.
            write_load_start(config.run_dir, state.started_at)
        if not isinstance(environment.runner, WorkerRunner):
            gevent.spawn(_progress, environment, state, world.profile.duration_s)
        if state.lag is not None:
            state.lag.start()
        if not isinstance(environment.runner, WorkerRunner) and world.profile.abort.enabled:
            rules = world.profile.abort
            state.abort = AbortMonitor(
                environment,
                recorder,
                AbortLimits(max_error_rate=rules.error_rate, max_p99_ms=rules.p99_ms, sustain_s=rules.for_s),
                delay_s=3.0 if is_master else 1.0,
            ).start()

    def on_test_stopping(environment: Any, **_kw: Any) -> None:
        # The generator is judged over the load, not over its own teardown: stopping
        # 16,000 users of a worker at once holds its loop a second, when every request
        # still in flight is being cut off anyway.
        if state.lag is not None:
            state.lag.stop()

    def on_test_stop(environment: Any, **_kw: Any) -> None:
        if state.lag is not None:
            state.lag.stop()
        if state.abort is not None:
            state.abort.stop_monitoring()
        # What the load was acknowledged (for drills' reconciliation) and who it played: a
        # local process writes its own; a worker's travel in its reports to the master (the
        # inbox), and a worker on another machine keeps a copy in its own directory.
        if inbox is not None:
            # Workers whose final report never came (killed, lost): what they reported is kept.
            inbox.write_unwritten()
        elif not isinstance(runner, WorkerRunner):
            world.ledger.dump(run_dir / LEDGERS_DIR / f"{node_name}.json")
            world.dump_players(run_dir / PLAYERS_DIR / f"{node_name}.json")
        elif shipped_copy is not None and config.copy_dir is not None:
            copy = Path(config.copy_dir)
            world.ledger.dump(copy / LEDGERS_DIR / f"{node_name}.json")
            world.dump_players(copy / PLAYERS_DIR / f"{node_name}.json")
            shipped_copy.dump(copy / HISTOGRAMS_DIR, config.run_id)

    def on_quitting(environment: Any, **_kw: Any) -> None:
        if isinstance(environment.runner, WorkerRunner):
            return
        if inbox is not None:
            inbox.write_unwritten()  # a late report's records, after the stop
        ended = time.time()
        started = state.started_at or ended
        decision = state.abort.decision if state.abort is not None else None
        outcome = RunOutcome(
            started_at=started,
            ended_at=ended,
            abort=decision,
            snapshots=state.shipping.snapshots() if state.shipping is not None else [],
            missing_workers=list(getattr(state.shipping, "missing_final", []) or []),
            cut_short=(cut_short_reason(config.profile.duration_s, ended - installed_at, ended - started)
                       if decision is None else None),
        )
        try:
            write_results(config, world, recorder, outcome)
        except Exception:  # a failing listener is logged, never kills the run (Locust's rule)
            log.exception("could not write the run results to %s", config.run_dir)

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stopping.add_listener(on_test_stopping)
    environment.events.test_stop.add_listener(on_test_stop)
    environment.events.quitting.add_listener(on_quitting)
    refresh_loop_clock()  # last: the world building above is what the stale clock missed
    return state


PROGRESS_EVERY_S = 5.0


def _progress(environment: Any, state: HarnessState, duration_s: float) -> None:
    """Print one live progress line every few seconds (users, req/s, errors, p95, throttled)."""
    while environment.runner is not None and environment.runner.state not in ("stopped", "stopping", "quitting"):
        gevent.sleep(PROGRESS_EVERY_S)
        total = environment.runner.stats.total
        elapsed = time.time() - (state.started_at or time.time())
        p95 = total.get_current_response_time_percentile(0.95) or 0
        line = progress_line(elapsed, duration_s, environment.runner.user_count, total.current_rps, state.recorder, p95)
        print(line, file=sys.stderr, flush=True)


def register_cli_options(parser: Any) -> None:
    """Options for ``locust -f locustfile.py`` used without ``dientap run``."""
    group = parser.add_argument_group("dientap")
    group.add_argument("--dientap-profile", default="smoke", help="profile name or YAML path (default smoke)")
    group.add_argument("--dientap-portal", default="http://127.0.0.1:8701")
    group.add_argument("--dientap-population", default="http://127.0.0.1:8702")
    group.add_argument("--dientap-axis", default="http://127.0.0.1:8703")
    group.add_argument("--dientap-pki-dir", default=".dientap/data/axis/pki", help="the axis mock's dry-run CA directory")
    group.add_argument("--dientap-seed", type=int, default=SEED.default)
    group.add_argument("--dientap-population-size", type=int, default=POPULATION_SIZE.default)
    group.add_argument("--dientap-out", default="runs/locust-ui", help="where results are written")
    # Set by `dientap run` on a master that serves remote workers; Locust copies it to every
    # worker with each spawn, and a worker holding another run's entry refuses to play.
    group.add_argument("--dientap-run-id", default="", help="the run a master plays (dientap run sets it)")


def config_from_options(options: Any) -> RunConfig:
    """A run config from ``--dientap-*`` options (loopback targets unless allowed)."""
    from kernel.allowlist import Allowlist
    from scenarios.profile import resolve_profile

    allow = Allowlist()
    urls = {
        "portal": allow.check_url(options.dientap_portal, what="portal"),
        "population": allow.check_url(options.dientap_population, what="population"),
        "axis": allow.check_url(options.dientap_axis, what="axis"),
    }
    pki = Path(options.dientap_pki_dir)
    return RunConfig(
        run_id=time.strftime("%Y%m%d-%H%M%S"),
        run_dir=Path(options.dientap_out),
        profile=resolve_profile(options.dientap_profile),
        seed=options.dientap_seed,
        population_size=options.dientap_population_size,
        urls=urls,
        pki_dir=pki if pki.exists() else None,
    )

