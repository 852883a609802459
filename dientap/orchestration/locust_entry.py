"""The Locust entry of the dry run: registers the dientap listeners and exposes the
personas. ``dientap run`` points Locust at this file; the repository's ``locustfile.py``
re-exports it so ``locust -f locustfile.py`` works too (it ships inside the package, so
an installed dientap needs no checkout).

It is wiring, so it lives with the orchestration: it joins two parts, the scenarios (the
load and its recording) and metrics (the exporter observing it). Locust imports it by
path, as a top-level module, so this package's ``__init__`` does not run in Locust.
"""

from __future__ import annotations

import logging

from locust import events

from scenarios.harness import config_from_options, install, register_cli_options
from scenarios.personas import CommuneOfficer, ProvincialAgency
from scenarios.runconfig import load_run_config

__all__ = ["CommuneOfficer", "ProvincialAgency"]


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    register_cli_options(parser)


@events.init.add_listener
def _init(environment, **_kw) -> None:
    config = load_run_config() or config_from_options(environment.parsed_options)
    install(environment, config)
    # The Prometheus exporter observes the harness from outside: scenarios never call metrics
    # code. It serves /metrics on $DIENTAP_METRICS_LISTEN (local runner or master only).
    from metrics.exporter import attach_from_env

    attach_from_env(environment)
    # The live national board, on the socket `dientap run/drill` bound and handed over
    # ($DIENTAP_BOARD_FD; local runner or master only). A view: if it cannot start, the load
    # runs without it.
    from metrics.board import attach_board_from_env

    try:
        attach_board_from_env(environment)
    except Exception:  # logged: a board that cannot start must not stop the load
        logging.getLogger("dientap.metrics.board").exception("the live board could not start")
