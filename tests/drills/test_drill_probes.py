"""Live probes from the mocks' Prometheus text, and the client-side recovery time."""

from __future__ import annotations

import datetime as dt

from drills.model import Probe
from drills.probes import client_recovery, client_window, parse_metrics, window_error_ratio, window_p95_ms
from reports.journal import Journal, LatencySample, LatencySeries, Provenance, TargetInfo, Timeseries

BUCKETS = (0.1, 0.5, 1.0)


def _text(counts: dict[float, int], statuses: dict[str, int], route: str = "/dossiers") -> str:
    lines = []
    cumulative = 0
    for le in BUCKETS:
        cumulative += counts.get(le, 0)
        lines.append(f'dientap_mock_request_duration_seconds_bucket{{service="portal",route="{route}",method="POST",le="{le}"}} '
                     f"{cumulative}")
    lines.append(f'dientap_mock_request_duration_seconds_bucket{{service="portal",route="{route}",method="POST",le="+Inf"}} '
                 f"{cumulative}")
    lines.append('dientap_mock_request_duration_seconds_bucket{service="portal",route="/healthz",method="GET",le="+Inf"} 999')
    for klass, n in statuses.items():
        lines.append(f'dientap_mock_requests_total{{service="portal",route="{route}",method="POST",status_class="{klass}"}} {n}')
    lines.append('dientap_mock_requests_total{service="portal",route="/metrics",method="GET",status_class="5xx"} 50')
    return ("# TYPE dientap_mock_request_duration_seconds histogram\n# TYPE dientap_mock_requests counter\n"
            + "\n".join(lines) + "\n")


def test_p95_and_error_ratio_are_computed_over_the_window_only() -> None:
    probe = Probe(name="p", kind="p95_ms", service="portal", route="/dossiers", max=400)
    old = parse_metrics(_text({0.1: 100}, {"2xx": 100}), 0.0, True)
    new = parse_metrics(_text({0.1: 100, 0.5: 10, 1.0: 90}, {"2xx": 180, "5xx": 15, "reset": 5}), 5.0, True)
    # In the window: 10 requests in (0.1, 0.5], 90 in (0.5, 1.0]; rank 95 lies in the last bucket.
    assert abs(window_p95_ms(new, old, probe) - (500 + 500 * (95 - 10) / 90)) < 1e-6
    ratio, total = window_error_ratio(new, old, probe)
    assert total == 100 and abs(ratio - 0.2) < 1e-9  # /metrics and /healthz are not counted


def test_a_restarted_process_counts_from_zero() -> None:
    probe = Probe(name="e", kind="error_ratio", service="portal", max=0.1)
    old = parse_metrics(_text({0.1: 500}, {"2xx": 500}), 0.0, True)
    new = parse_metrics(_text({0.1: 10}, {"2xx": 9, "5xx": 1}), 5.0, True)
    assert window_error_ratio(new, old, probe) == (0.1, 10)


def _journal(samples: list[tuple[float, int, int, float]]) -> Journal:
    start = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    series = LatencySeries(service="axis", endpoint="POST /documents", samples=[
        LatencySample(offset_s=o, count=c, failures=f, p95_ms=p) for o, c, f, p in samples])
    return Journal(provenance=Provenance(dientap_version="0", run_id="r", profile="smoke", seed=1,
                                         target=TargetInfo(kind="embedded"), started_at=start),
                   timeseries=Timeseries(series=[series]))


def test_recovery_is_the_start_of_the_first_stable_good_streak_after_the_fault() -> None:
    journal = _journal([(9, 10, 9, 50), (10, 10, 5, 50), (11, 10, 0, 50), (12, 10, 4, 50), (13, 10, 0, 60),
                        (14, 0, 0, 0), (15, 10, 0, 70), (16, 10, 0, 80), (17, 10, 0, 90)])
    assert client_recovery(journal, ["axis"], 10.0, max_error_ratio=0.05, max_p95_ms=100) == 3.0
    assert client_recovery(journal, ["axis"], 10.0, max_error_ratio=0.05, max_p95_ms=65) is None
    assert client_recovery(journal, ["portal"], 10.0, max_error_ratio=0.05, max_p95_ms=100) is None


def test_client_window_sums_the_faulted_services() -> None:
    journal = _journal([(9, 10, 9, 50), (10, 10, 5, 500), (11, 10, 0, 50)])
    seen = client_window(journal, ["axis"], 9.0, 11.0)
    assert (seen.requests, seen.failures, seen.worst_p95_ms) == (20, 14, 500)
    assert seen.error_ratio == 0.7
