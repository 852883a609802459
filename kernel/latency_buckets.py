"""The latency bucket edges every dientap histogram shares — declared once, here.

The mocks' own ``/metrics`` (server side) and the load generator's exporter (client side)
use the same edges, so a dashboard panel can put both on one axis, and every boundary the
default budgets use (``reports/budgets.yaml``) is an edge, so ``histogram_quantile`` and
"fraction under budget" queries are exact at the budget. ``tests/metrics`` reads the
budgets file and fails when a boundary is missing here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LATENCY_BUCKETS_S", "BUDGET_BOUNDARIES_S"]

BUDGET_BOUNDARIES_S: Final[tuple[float, ...]] = (0.5, 0.8, 1.0, 1.5, 2.0, 3.0)
"""Boundaries of reports/budgets.yaml (p95/p99 per service and province, readiness p95s)."""

LATENCY_BUCKETS_S: Final[tuple[float, ...]] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.75, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
)
"""Histogram bucket upper bounds in seconds (Prometheus ``le``), a superset of the budgets'."""
