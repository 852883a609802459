"""Run settings several parts share, each declared once: its default, its flag, its key.

The CLI's flags, the mock services' settings, the Locust run config, the security target
and the drills all take their defaults from here, so "seed 42, 100,000 citizens" is one
fact, not ten copies that can drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = [
    "RunSetting", "SEED", "POPULATION_SIZE", "OFFICERS_PER_COMMUNE", "MAX_OFFICERS_PER_COMMUNE",
    "SQLITE_SYNCHRONOUS_ENV", "SQLITE_SYNCHRONOUS_MODES", "sqlite_synchronous",
    "COMMUNE_P95_MIN_SAMPLES", "BOARD_PORT", "BOARD_REFRESH_S", "GC_PAUSE_LIMIT_MS", "SCHEDULE_LAG_MAX_LIMIT_MS",
    "MASTER_PORT", "REMOTE_WORKERS_WAIT_S",
    "POPULATION_RATE_LIMIT_PER_S", "POPULATION_RATE_LIMIT_BURST",
    "REQUEST_TIMEOUT_S", "PROCESS_SAMPLE_S",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunSetting(Generic[T]):
    """One shared setting: where a user gives it and what it is when they do not."""

    name: str  # the key in settings objects and run files (run-config.json, mocks' settings)
    default: T
    flag: str  # the CLI flag of `dientap run/drill/security/mocks`
    help: str


SEED: Final = RunSetting("seed", 42, "--seed", "seed of the synthetic population and arrivals")
POPULATION_SIZE: Final = RunSetting("population_size", 100_000, "--population-size",
                                    "citizens in the embedded population mock")
#: Officer accounts the portal mock provisions per commune. `dientap run` raises it to what
#: the profile signs in (``Profile.officers_per_commune``), so a scaled run never signs in
#: an account that does not exist; a team starting `dientap mocks` for `--target` sets it.
OFFICERS_PER_COMMUNE: Final = RunSetting("officers_per_commune", 5, "--officers-per-commune",
                                         "officer accounts the portal provisions per commune (1-999)")
MAX_OFFICERS_PER_COMMUNE: Final = 999  # the portal mock's account numbering (OFFICERS_PER_COMMUNE)
#: The mocks' SQLite durability (``mocks.core.store``): NORMAL keeps every commit across a
#: process crash, FULL across power loss too. Read by each mock as it opens its database, and
#: checked by every command that starts the mocks: a misspelt value (``FUL``) was quietly NORMAL.
SQLITE_SYNCHRONOUS_ENV: Final = "DIENTAP_SQLITE_SYNCHRONOUS"
SQLITE_SYNCHRONOUS_MODES: Final = ("NORMAL", "FULL")


def sqlite_synchronous(environ: Mapping[str, str]) -> str:
    """The durability ``environ`` asks for (default NORMAL), or ValueError naming what is accepted."""
    value = environ.get(SQLITE_SYNCHRONOUS_ENV, "")
    if not value:
        return "NORMAL"
    if value.upper() not in SQLITE_SYNCHRONOUS_MODES:
        raise ValueError(f"environment variable {SQLITE_SYNCHRONOUS_ENV}: {value!r} is not one of "
                         f"{', '.join(SQLITE_SYNCHRONOUS_MODES)}; give FULL to survive power loss too, NORMAL (the "
                         "default) for a process crash only, or unset it")
    return value.upper()

#: The fewest requests behind a commune's p95 for a report to show it; below, it says "too
#: few". Fewer than 20 samples cannot hold a 1-in-20 tail: under 10 the p95 *is* the
#: slowest request, and one slow request moves it. The summary records the value it used.
COMMUNE_P95_MIN_SAMPLES: Final = 20

#: How long a load client waits for an answer before it counts "no response" — and a citizen
#: retries the submission with the same Idempotency-Key. 30 s is a patient browser; a drill
#: that freezes a service (drills/catalog/portal-freeze.yaml) sets it below the freeze, so the
#: clients' timeouts and retries happen inside the fault rather than after it.
REQUEST_TIMEOUT_S: Final = RunSetting("request_timeout_s", 30.0, "--request-timeout",
                                      "how long a load client waits for an answer before it gives up on it")

#: How often every process of a run (mocks, Locust master and workers) has its resident memory
#: and open files sampled into the run's records (reports.process_growth): often enough for a
#: slope over a 10-minute soak (~40 samples after the warm-up), rare enough to cost nothing.
PROCESS_SAMPLE_S: Final = 10.0

# The live national board (metrics.board): served on 127.0.0.1 by the load process that holds
# the merged figures while `dientap run` or `dientap drill` runs.
BOARD_PORT: Final = RunSetting("board_port", 0, "--board",
                               "port of the live national board on 127.0.0.1 (0: a free port)")
BOARD_REFRESH_S: Final = RunSetting("board_refresh_s", 3.0, "--board-refresh",
                                    "how often the live board's page fetches new figures")

# Generator trust (scenarios.lag.TrustLimits; README "Generator health"): one stall of the load
# process longer than this marks the run untrustworthy, whatever its p99. Every request in
# flight during a stall gains the stall on its measured latency, and 500 ms is most of the
# tightest default latency budget (submit p95 800 ms, reports/budgets.yaml): one stall could
# break a budget the target kept. A p99 limit alone misses it — at national size a 558 ms GC
# pause and an 828 ms worst lag left the p99 far below 1 s and the run "trustworthy" (#18).
GC_PAUSE_LIMIT_MS: Final = 500.0  # worst garbage-collector pause after spawning completed
SCHEDULE_LAG_MAX_LIMIT_MS: Final = 500.0  # worst overshoot of the 100 ms scheduling ticker

# Workers on other machines (README "Many machines"): the Locust master's port — Locust's own
# default, so a plain `locust -f - --worker` finds it too — and how long `dientap run` waits for
# every expected worker to connect before it gives up with nothing sent.
MASTER_PORT: Final = RunSetting("master_port", 5557, "--master-bind",
                                "where the Locust master listens for workers, HOST[:PORT]")
REMOTE_WORKERS_WAIT_S: Final = RunSetting("remote_workers_wait_s", 300.0, "--remote-workers-wait",
                                          "how long the master waits for every worker to connect")

# The population service's per-client throttle (README "Security drills", mocks/population/README.md;
# tests/mocks/population/test_limits_readme.py holds the two together). Every start uses it —
# `dientap mocks`, `dientap run`, `dientap security` — so a scorecard describes what teams run.
# Sized from the load profiles (scenarios/profiles/national.yaml): the busiest legitimate client
# is the portal, which verifies every online submission of the country, 12.17/s at the national
# morning surge; a province's system verifies its officers' applicants, ≈ 1/s for the largest.
# 100/s is 8 × the portal's surge; the burst, 2 s of it, covers two full verify-batch calls
# (100 items each). A scraper on one keep-alive connection made 700 look-ups/s on a quiet
# 2-core machine and 236/s on a busy one: it meets a 429 within 2 s either way (at 200/s it
# took 10 s on the busy machine, and a scraper slower than the rate is never refused) and is
# then held to 100/s — 8.6 million look-ups a day instead of 20-60 million, and the audit
# log sees it.
POPULATION_RATE_LIMIT_PER_S: Final = 100.0
POPULATION_RATE_LIMIT_BURST: Final = 200
