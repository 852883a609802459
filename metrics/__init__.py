"""Prometheus instrumentation of a dry run: the load generator's exporter, the shared
latency bucket edges, the drill-fault registry, and the shipped ``prometheus.yml``,
``rules.yml`` and ``dashboard.json`` (paths below)."""

from pathlib import Path

from metrics.buckets import LATENCY_BUCKETS_S
from metrics.drill_state import DrillState
from metrics.exporter import METRICS_LISTEN_ENV, attach_exporter, attach_from_env, build_registry

__all__ = [
    "LATENCY_BUCKETS_S",
    "METRICS_LISTEN_ENV",
    "DrillState",
    "attach_exporter",
    "attach_from_env",
    "build_registry",
    "PROMETHEUS_YML",
    "RULES_YML",
    "DASHBOARD_JSON",
]

_HERE = Path(__file__).parent
PROMETHEUS_YML = _HERE / "prometheus.yml"
RULES_YML = _HERE / "rules.yml"
DASHBOARD_JSON = _HERE / "dashboard.json"
