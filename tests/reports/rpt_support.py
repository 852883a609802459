"""Small, explicit records for the report and gate tests (imported by the test modules)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kernel.configfile import parse_model
from reports.budgets import Budgets
from reports.journal import Journal, Provenance, TargetInfo
from reports.summary import CommunesSummary, EndpointStats, GeneratorHealth, LatencyPercentiles, RequestTotals, Summary

FIXTURES = Path(__file__).parent / "fixtures"


def endpoint(service: str, name: str, *, count: int = 1000, failures: int = 0, p50: float = 20.0, p95: float = 100.0,
             p99: float = 200.0, intended_p95: float | None = 110.0, intended_count: int | None = 1000) -> EndpointStats:
    """One endpoint with the given figures (p99.9 and max derived)."""
    intended = None if intended_p95 is None else LatencyPercentiles(p50_ms=p50, p95_ms=intended_p95, p99_ms=p99 * 1.2,
                                                                    p999_ms=p99 * 2, max_ms=p99 * 3)
    return EndpointStats(service=service, name=name, count=count, failures=failures, p50_ms=p50, p95_ms=p95, p99_ms=p99,
                         p999_ms=p99 * 1.5, max_ms=p99 * 2, intended=intended, intended_count=intended_count)


def make_summary(*endpoints: EndpointStats, run_id: str = "run-1", intended_total: int | None = None) -> Summary:
    """A summary holding ``endpoints`` (default: two portal endpoints and one population endpoint)."""
    eps = list(endpoints) or [endpoint("portal", "POST /dossiers"), endpoint("portal", "GET /procedures", p95=50.0),
                              endpoint("population", "GET /citizens/{personal_id}", p95=40.0)]
    total = sum(e.count for e in eps)
    return Summary(run_id=run_id, profile="smoke", duration_s=60.0,
                   requests=RequestTotals(total=total, failed=sum(e.failures for e in eps), rps=total / 60,
                                          intended_total=total if intended_total is None else intended_total),
                   endpoints=eps, communes=CommunesSummary(total=3321, active=3321, with_failures=0),
                   generator=GeneratorHealth(trustworthy=True))


def make_journal(run_id: str = "run-1") -> Journal:
    """A journal with provenance only."""
    return Journal(provenance=Provenance(dientap_version="0.1.0", run_id=run_id, profile="smoke", seed=42,
                                         target=TargetInfo(kind="embedded"),
                                         started_at=datetime(2026, 6, 30, 7, 0, tzinfo=UTC)))


def budgets(text: str) -> Budgets:
    """Budgets from YAML text (validated like a file)."""
    return parse_model(Budgets, text, "budgets.yaml")
