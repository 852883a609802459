"""The dry run's Locust entry plus the metrics exporter — the wiring the lead adds to
``scenarios/locust_entry.py`` (``attach_from_env`` after ``install``). Used by the e2e
test and the overhead benchmark as ``locust -f tests/metrics/exporter_locustfile.py``."""

from __future__ import annotations

from locust import events

from metrics.exporter import attach_from_env
from scenarios.locust_entry import CommuneOfficer, ProvincialAgency

__all__ = ["CommuneOfficer", "ProvincialAgency"]


@events.init.add_listener
def _metrics(environment, **_kw) -> None:
    # Registered after locust_entry's own init listener, so environment.dientap exists.
    attach_from_env(environment)
