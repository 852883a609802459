"""One dry run as an object: start the target, run the load in the background, finish.

``dientap run`` uses it start to finish; drills use it to inject faults on the load's
timeline while it runs (``start()`` → faults → ``wait()``), and security checks to run
attacks under load.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dientap.orchestration.account_check import AccountCheck, account_probes, accounts_cover, check_accounts
from dientap.orchestration.board import BoardLink
from dientap.orchestration.locust_procs import LOCUST_STOP_S, LocustPlan, run_locust, stop_locust
from dientap.orchestration.mockcluster import SERVICE_ORDER, MockCluster, MockClusterConfig
from dientap.orchestration.proc_sampler import ProcessSampler
from dientap.orchestration.process import ServiceProcess, listening_socket
from dientap.orchestration.prometheus import PrometheusServer
from kernel.accounts_file import AccountsFile
from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.defaults import (
    BOARD_REFRESH_S,
    MASTER_PORT,
    OFFICERS_PER_COMMUNE,
    POPULATION_SIZE,
    REMOTE_WORKERS_WAIT_S,
    REQUEST_TIMEOUT_S,
    SEED,
)
from kernel.errors import UsageError
from kernel.load_clock import read_load_start
from kernel.provenance import Provenance, TargetKind, build_provenance
from kernel.roster import Commune
from kernel.targets import TargetSpec
from kernel.tls import TlsOptions

__all__ = ["DryRunOptions", "DryRun", "new_run_id", "record_interruption"]


def new_run_id() -> str:
    """A sortable, unique run id."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@dataclass
class DryRunOptions:
    """What to run, against what, and where the results go."""

    profile: str = "smoke"
    target: str = "embedded"  # or a targets.yaml path
    allow_hosts: tuple[str, ...] = ()
    duration_s: float | None = None
    scale: float | None = None
    workers: int = 0
    remote_workers: int = 0  # workers from other machines (dientap worker) the master waits for
    master_bind: tuple[str, int] = ("127.0.0.1", MASTER_PORT.default)
    remote_workers_wait_s: float = REMOTE_WORKERS_WAIT_S.default
    seed: int = SEED.default
    population_size: int = POPULATION_SIZE.default
    request_timeout_s: float = REQUEST_TIMEOUT_S.default  # how long a load client waits for an answer
    readiness_file: Path | None = None
    out: Path = Path("runs")
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # embedded only
    mock_settings: dict[str, dict] = field(default_factory=dict)  # embedded only: service → overrides
    # embedded only: service → the integration shape the load speaks to the mocks (kernel.targets.PROTOCOLS)
    protocols: dict[str, str] = field(default_factory=dict)
    # embedded only: the mocks serve https and require a client certificate (mutual TLS),
    # certificates from a dry-run CA in the run's directory — the load speaks TLS as to a real target
    mocks_tls: bool = False
    command_line: list[str] = field(default_factory=lambda: ["dientap", *sys.argv[1:]])
    board_port: int | None = None  # the live board's port on 127.0.0.1 (0: a free one); None: no board
    board_refresh_s: float = BOARD_REFRESH_S.default
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))  # what the run tells its user


def record_interruption(run_dir: Path, provenance: Provenance, signal_name: str, at: datetime, phase: str) -> None:
    """Add an ``interrupted`` event to ``run_dir``'s journal — or, when nothing wrote one yet
    (interrupted before the load ran, or the load was killed), write a journal of just
    ``provenance`` and that event, so an interrupted run directory always says so."""
    from reports.journal import Journal
    from reports.run_files import load_journal, write_journal

    if not run_dir.is_dir():
        return
    journal = load_journal(run_dir) if (run_dir / "journal.json").exists() else Journal(provenance=provenance)
    journal.add_event("interrupted", signal_name, t=at, phase=phase)
    write_journal(run_dir, journal)



class DryRun:
    """Start → (faults, attacks...) → wait → results in ``run_dir``."""

    def __init__(self, options: DryRunOptions):
        from scenarios.profile import resolve_profile

        if options.workers < 0:
            raise UsageError(f"--workers must be ≥ 0, got {options.workers}")
        self.options = options
        self.profile = resolve_profile(options.profile).scaled(options.scale, options.duration_s)
        self.run_id = new_run_id()
        self.run_dir = (options.out / self.run_id).resolve()
        self._created_at = datetime.now(UTC)
        self._interruption_lock = threading.Lock()
        self._interruption_recorded = False
        embedded = options.target == "embedded"
        self._target_kind: TargetKind = "embedded" if embedded else "file"
        self._target_name = "embedded mocks" if embedded else str(options.target)
        self.cluster: MockCluster | None = None
        self.urls: dict[str, str] = {}
        self.adapter = "default"
        self.protocols: dict[str, str] = {}  # service → integration shape (kernel.targets.PROTOCOLS)
        self.tls: dict[str, TlsOptions] = {}  # service → TLS options toward it
        self.accounts_file: Path | None = None  # the target's accounts (kernel.accounts_file); None: derived
        self.admin_token: str | None = None
        self.launched_at: float | None = None  # when Locust was launched (its clock starts later)
        self._started_at: float | None = None
        self.locust_exit: int | None = None
        self._thread: threading.Thread | None = None
        self.prometheus: PrometheusServer | None = None
        self._metrics_listen: str | None = None
        self._locust_procs: list = []
        self._sampler: ProcessSampler | None = None  # RSS and open files of every process, while the load runs
        self.secret: str = DEFAULT_DRY_RUN_SECRET  # the dry-run accounts' secret (never written to disk)
        self.pki_dir: Path | None = None  # the dry-run CA the load signs documents with
        self.board: BoardLink | None = None  # the live board, once bound (bind_board)

    # -- the face drills see (drills.load.LoadSession) ---------------------------------

    @property
    def embedded(self) -> bool:
        """True for the embedded mocks, False for a targets file."""
        return self.options.target == "embedded"

    @property
    def target_name(self) -> str:
        """"embedded mocks", or the targets file as given."""
        return self._target_name

    @property
    def seed(self) -> int:
        """Seed of the synthetic population and arrivals."""
        return self.options.seed

    @property
    def population_size(self) -> int:
        """Citizens in the (embedded or staging) population."""
        return self.options.population_size

    @property
    def allow_hosts(self) -> tuple[str, ...]:
        """Hosts allowed besides loopback."""
        return self.options.allow_hosts

    @property
    def workers(self) -> int:
        """Locust workers of the run, local and remote (0: one local process)."""
        return self.options.workers + self.options.remote_workers

    @property
    def command_line(self) -> list[str]:
        """The command line that started the run (for provenance)."""
        return self.options.command_line

    @property
    def services(self) -> dict[str, ServiceProcess] | None:
        """The embedded service processes, once started (None for a targets file)."""
        return self.cluster.services if self.cluster is not None else None

    # -- target ---------------------------------------------------------------------

    def start_target(self, *, portal_population_via: Callable[[str], str] | None = None) -> None:
        """Start the embedded mocks, or resolve the targets file (allowlist enforced).

        ``portal_population_via`` (embedded mocks only) maps the population service's URL
        to the one the portal calls instead, e.g. a fault proxy's.
        """
        from kernel.targets import load_targets

        self.run_dir.mkdir(parents=True, exist_ok=True)
        opts = self.options
        if opts.target == "embedded":
            config = MockClusterConfig(
                data_dir=self.run_dir / "mocks", seed=opts.seed, population_size=opts.population_size,
                readiness_file=opts.readiness_file, log_dir=self.run_dir / "logs", vulnerable=opts.vulnerable,
                extra_settings=self._provisioned(opts.mock_settings), portal_population_via=portal_population_via,
                tls_dir=self.run_dir / "mocks" / "tls" if opts.mocks_tls else None,
                client_auth=frozenset(SERVICE_ORDER) if opts.mocks_tls else frozenset(),
            )
            self.cluster = MockCluster(config)
            self.cluster.start()
            self.urls, self.admin_token = self.cluster.urls, config.admin_token
            self.secret, self.pki_dir = DEFAULT_DRY_RUN_SECRET, self.run_dir / "mocks" / "axis" / "pki"
            self._target_name, self._target_kind = "embedded mocks", "embedded"
            self.adapter, self.protocols = "default", dict(opts.protocols)
            files = self.cluster.tls
            if files is not None:
                shown = TlsOptions(ca_bundle=files.ca, client_cert=files.client_cert, client_key=files.client_key)
                self.tls = dict.fromkeys(SERVICE_ORDER, shown)
                opts.say(f"mocks: https with mutual TLS at {', '.join(self.urls.values())}; CA {files.ca}")
        else:
            target = load_targets(opts.target, extra_allow_hosts=opts.allow_hosts)
            self.urls, self.admin_token = target.urls, target.admin_token
            self.secret, self.pki_dir = target.dry_run_secret, target.pki_dir
            self._target_name, self._target_kind = target.name, "file"
            self.adapter, self.protocols = target.adapter, dict(target.protocols)
            self.tls = dict(target.tls)
            self.accounts_file = target.accounts_file

    def _provisioned(self, settings: dict[str, dict]) -> dict[str, dict]:
        """The mocks' settings with every officer account the profile signs in provisioned
        (an explicit ``officers_per_commune`` is kept: the account check then judges it)."""
        portal = {OFFICERS_PER_COMMUNE.name: max(OFFICERS_PER_COMMUNE.default, self.profile.officers_per_commune)}
        return {**settings, "portal": {**portal, **settings.get("portal", {})}}

    def start_prometheus(self, binary: str | None = None, also: dict[str, str] | None = None) -> str:
        """Start a real Prometheus on loopback scraping the load's exporter, the embedded mocks
        and ``also`` (job → scrape URL: a drill's own fault state); call after
        :meth:`start_target`, before :meth:`start_load`. Returns its URL."""
        sock = listening_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        sock.close()
        targets = {"harness": f"http://127.0.0.1:{port}/metrics"}
        if self.cluster is not None:  # a targets file's services are not on loopback: not scraped
            targets.update({name: f"{url}/metrics" for name, url in self.cluster.urls.items()})
        targets.update(also or {})
        self.prometheus = PrometheusServer(self.run_dir / "prometheus", targets, binary=binary)
        url = self.prometheus.start()
        self._metrics_listen = f"127.0.0.1:{port}"
        return url

    # -- the live board ---------------------------------------------------------------

    def bind_board(self) -> str | None:
        """Bind the live board's socket (``options.board_port``; None: no board) before anything
        starts; a port in use is a :class:`UsageError` naming the flag. Returns the URL."""
        if self.options.board_port is None:
            return None
        if self.board is None:
            self.board = BoardLink.bind(self.options.board_port, self.options.board_refresh_s)
        return self.board.url

    # -- load -----------------------------------------------------------------------

    @property
    def users(self) -> tuple[int, int]:
        """(officer users, agency users) of the profile."""
        from scenarios.communes import officer_slots

        slots = officer_slots(self.profile)
        agencies = len({s.commune.province_code for s in slots}) if self.profile.agencies.enabled else 0
        return len(slots), agencies

    def check_accounts(self) -> AccountCheck:
        """Sign in once as every kind of account the profile uses; :class:`AccountsMissing`
        (an ``ERROR:`` line, nothing sent) at the first the target lacks (``account_check``)."""
        from scenarios.communes import active_communes

        profile = self.profile
        spec = TargetSpec(urls=self.urls, secret=self.secret, accounts_file=self.accounts_file)
        communes = active_communes(profile)
        accounts = self._accounts_cover(communes) if self.accounts_file is not None else None
        probes = account_probes(communes, profile.officers_per_commune, spec.credentials, accounts, self.protocols)
        bind = spec.binds_commune_sources
        needed = (f" — profile {profile.name} at scale {profile.scale:g} signs in "
                  f"{profile.officers_per_commune} officers per commune")
        return check_accounts(self.urls, probes, bind_sources=bind, needed=needed, tls=self.tls, protocols=self.protocols,
                              targets_file=self.options.target)

    def _accounts_cover(self, communes: list[Commune]) -> AccountsFile:
        """The accounts file, once it is known to hold every account the profile signs in
        as and every password it names can be read (else an ``ERROR:`` naming the commune)."""
        assert self.accounts_file is not None
        return accounts_cover(self.accounts_file, self.profile, communes, self.protocols)

    def check_accounts_file(self) -> None:
        """Before anything starts — no run directory, no socket, no probe of the target: a
        targets file's accounts file covers every account the profile signs in as, and every
        password it names can be read. Found only by :meth:`start_load`, it stopped the run
        after its directory was made (and a drill after probing the target, exit 70)."""
        if self.embedded:
            return
        from kernel.targets import load_targets
        from scenarios.communes import active_communes

        target = load_targets(self.options.target, extra_allow_hosts=self.options.allow_hosts)
        if target.accounts_file is not None:
            accounts_cover(target.accounts_file, self.profile, active_communes(self.profile), target.protocols)

    def start_load(self, prometheus_url: str | None = None) -> None:
        """Check the accounts, then launch Locust in a background thread (returns at once)."""
        from scenarios.runconfig import RUN_CONFIG_ENV, SECRET_ENV, RunConfig

        opts = self.options
        opts.say(self.check_accounts().line())
        run_config = RunConfig(
            run_id=self.run_id, run_dir=self.run_dir, profile=self.profile, seed=opts.seed,
            population_size=opts.population_size, urls=self.urls, pki_dir=self.pki_dir, workers=self.workers,
            request_timeout_s=opts.request_timeout_s,
            adapter=self.adapter, protocols=self.protocols, target_kind=self._target_kind,
            tls={service: options.as_dict() for service, options in self.tls.items()},
            accounts_file=self.accounts_file,
            target_name=self._target_name, command_line=opts.command_line,
            prometheus_url=prometheus_url or (self.prometheus.url if self.prometheus else None),
        )
        config_path = self.run_dir / "run-config.json"
        run_config.write(config_path)
        served = None
        if opts.remote_workers > 0:
            from dientap.orchestration.remote import write_served_entry

            served = write_served_entry(self.run_dir, self.run_id, run_config.model_dump_json())
        env = {RUN_CONFIG_ENV: str(config_path), SECRET_ENV: self.secret}
        if self.admin_token:
            env["DIENTAP_ADMIN_TOKEN"] = self.admin_token
        if self._metrics_listen:
            from metrics.exporter import METRICS_LISTEN_ENV

            env[METRICS_LISTEN_ENV] = self._metrics_listen
        board = self.board
        if board is not None:
            board.start(self.run_dir, run_id=self.run_id, profile=self.profile.name, duration_s=self.profile.duration_s)
            env.update(board.env())
        officers, agencies = self.users
        plan = LocustPlan(
            users=officers + agencies, spawn_rate=self.profile.spawn_rate, run_time_s=self.profile.duration_s,
            workers=opts.workers, remote_workers=opts.remote_workers,
            # Local workers only: a free loopback port, so runs side by side never collide.
            master_bind=opts.master_bind if opts.remote_workers else ("127.0.0.1", 0),
            locustfile=served, master_args=("--dientap-run-id", self.run_id) if served else (),
            expect_workers_wait_s=opts.remote_workers_wait_s if opts.remote_workers else 60.0,
            env=env, log_dir=self.run_dir / "logs",
            master_sockets=(board.sock,) if board is not None and board.sock is not None else (),
        )

        sampler = self._sampler = ProcessSampler(self.run_dir, self._sampled_processes)

        def target() -> None:
            try:
                self.locust_exit = run_locust(plan, self._locust_procs)
            finally:
                sampler.stop()  # the run's figures end with its load
                if board is not None:
                    board.handed_over()

        if board is not None:
            opts.say(f"live board: {board.url}  (refreshes every {board.refresh_s:g} s; stops with the run)")

        self.launched_at = time.time()
        self._thread = threading.Thread(target=target, name="locust", daemon=True)
        self._thread.start()
        sampler.start()

    def _sampled_processes(self) -> dict[str, int | None]:
        """What the process sampler reads: the embedded mocks, the Locust master and workers."""
        named: dict[str, int | None] = {}
        if self.cluster is not None:
            named.update({name: service.pid for name, service in self.cluster.services.items()})
        procs = list(self._locust_procs)
        for index, proc in enumerate(procs):
            name = ("locust-master" if len(procs) > 1 or self.workers else "locust") if index == 0 \
                else f"locust-worker-{index - 1}"
            named[name] = proc.pid if proc.poll() is None else None
        return named

    @property
    def started_at(self) -> float | None:
        """When the load's doors opened (epoch seconds): the run's one clock, written by the
        load itself (:mod:`kernel.load_clock`); ``None`` until then."""
        if self._started_at is None and self.launched_at is not None:
            self._started_at = read_load_start(self.run_dir)
        return self._started_at

    def elapsed(self) -> float | None:
        """Seconds on the run's clock since the load's doors opened; ``None`` before."""
        started = self.started_at
        return None if started is None else time.time() - started

    def stop_load(self, timeout_s: float = LOCUST_STOP_S) -> None:
        """Stop the load early and gracefully (Locust still writes its results); bounded."""
        stop_locust(list(self._locust_procs), timeout_s)
        self.wait(2.0)

    def record_interruption(self, signal_name: str, at: datetime, phase: str) -> None:
        """Say in the run's journal that the run was interrupted, when, by what and in which phase.

        Recorded once, whichever path (the command or the stop watchdog) gets there first.
        Call it after :meth:`stop_load`: Locust writes the journal as it stops.
        """
        with self._interruption_lock:
            if self._interruption_recorded:
                return
            self._interruption_recorded = True
        provenance = build_provenance(
            run_id=self.run_id, profile=self.profile.name, seed=self.options.seed, scale=self.profile.scale,
            target_kind=self._target_kind, target_name=self._target_name, urls=self.urls,
            workers=self.workers, started_at=self._created_at, ended_at=at,
            command_line=self.options.command_line,
        )
        record_interruption(self.run_dir, provenance, signal_name, at, phase)
    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the load to finish; True when it has.

        In slices of 0.5 s: a Ctrl-C that lands just before a blocking join starts would
        only reach its Python handler when the join returns — at the end of the load.
        """
        if self._thread is None:
            return True
        end = None if timeout_s is None else time.monotonic() + timeout_s
        while self._thread.is_alive():
            left = 0.5 if end is None else min(0.5, end - time.monotonic())
            if left <= 0:
                break
            self._thread.join(left)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Stop the load if it still runs (an interrupted caller), Prometheus and the embedded mocks."""
        if self._thread is not None and self._thread.is_alive():
            self.stop_load()
        if self._sampler is not None:
            self._sampler.stop()
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        if self.board is not None:
            self.board.close()

    def __enter__(self) -> DryRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
