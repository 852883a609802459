"""Generate ``metrics/rules.yml`` from the default budgets (``reports/budgets.yaml``).

    python -m metrics.rules_gen > metrics/rules.yml

The committed file must equal this output (``tests/metrics`` checks it), so the SLO
alerts can never drift from the budgets the gate applies.

Objectives (one per service line of the budgets that has them):

* availability — ``1 − error_rate`` of the budget line (99 % by default): error budget
  = ``error_rate``;
* latency — 95 % of requests (``measure="sent"``) under the line's ``p95_ms``: the
  latency budget is the 5 % allowed above it; ``p95_ms`` is a bucket edge
  (``metrics.buckets``), so the ratio is exact.

Alerts are multi-window, multi-burn-rate (Google SRE workbook, ch. 5): a *page* when both
the 1 h and 5 m windows burn faster than 14.4× (2 % of a 30-day budget in one hour), a
*ticket* when both the 6 h and 30 m windows burn faster than 6×. The long window proves
the burn is significant, the short one that it is still going on (it resets the alert
within minutes of a fix).

A dry run lasts minutes, not days: a 1 h window then averages over the few minutes that
exist and lags far behind an injected fault, and ``for:`` durations sized for production
would outlast the fault. The ``dry-run`` variants use the same 14.4× burn over 1 m and
10 s windows with a 5-s ``for``, so an alert fires within ~15 s of a fault starting and
resolves ~10 s after it is cleared — which is what a drill measures (time to detect).
They are labelled ``slo_window: dry-run`` so an Alertmanager can route them away from
a production pager.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import yaml

from reports.budgets import DEFAULT_BUDGETS_PATH, load_budgets

__all__ = ["ServiceObjective", "objectives", "render_rules"]

DURATION = "dientap_request_duration_seconds"
ERROR_WINDOWS = ("10s", "1m", "5m", "30m", "1h", "6h")


@dataclass(frozen=True)
class ServiceObjective:
    """The SLOs of one service, from its budget line."""

    service: str
    error_budget: float  # allowed failures / requests
    latency_le_s: float | None  # 95 % of requests at or under this


@dataclass(frozen=True)
class BurnAlert:
    """One multi-window burn-rate alert shape."""

    name: str
    long: str
    short: str
    factor: float
    for_: str
    severity: str
    window: str


BURN_ALERTS = (
    BurnAlert("FastBurn", "1h", "5m", 14.4, "2m", "page", "production"),
    BurnAlert("SlowBurn", "6h", "30m", 6.0, "15m", "ticket", "production"),
    BurnAlert("DryRunBurn", "1m", "10s", 14.4, "5s", "dry-run", "dry-run"),
)
LATENCY_BUDGET = 0.05  # 95 % under the p95 budget


def objectives(path: str | None = None) -> list[ServiceObjective]:
    """Service objectives of the budgets file (default: the shipped one)."""
    budgets = load_budgets(path or DEFAULT_BUDGETS_PATH)
    found = {}
    for line in budgets.budgets:
        if line.service and not line.endpoint and not line.province and line.measure == "sent":
            le = line.p95_ms / 1000 if line.p95_ms is not None else None
            found[line.service] = ServiceObjective(line.service, line.error_rate if line.error_rate is not None else 0.01, le)
    return [found[s] for s in sorted(found)]


def _error_ratio(by: str, window: str) -> str:
    return (
        f"sum by ({by}) (rate(dientap_request_failures_total[{window}]))\n"
        f"/\nsum by ({by}) (rate(dientap_requests_total[{window}]))"
    )


def _slow_ratio(objs: list[ServiceObjective], window: str) -> str:
    under = "\nor\n".join(
        f'sum by (service) (rate({DURATION}_bucket{{measure="sent",service="{o.service}",le="{o.latency_le_s:g}"}}[{window}]))'
        for o in objs
        if o.latency_le_s is not None
    )
    return f"1 - (\n{under}\n)\n/\nsum by (service) (rate({DURATION}_count{{measure=\"sent\"}}[{window}]))"


def _quantile(q: float, by: str, window: str | None, measure: str = "sent") -> str:
    series = f'{DURATION}_bucket{{measure="{measure}"}}'
    inner = f"rate({series}[{window}])" if window else series
    return f"histogram_quantile({q:g}, sum by ({by}, le) ({inner}))"


def _recording(objs: list[ServiceObjective]) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for q, name in ((0.95, "p95"), (0.99, "p99")):
        rules.append({"record": f"service:{DURATION}:{name}_rate1m", "expr": _quantile(q, "service", "1m")})
        rules.append({"record": f"service_endpoint:{DURATION}:{name}_rate1m", "expr": _quantile(q, "service, endpoint", "1m")})
        # Whole run so far: the counters are cumulative, so this is the figure summary.json reports.
        rules.append({"record": f"service_endpoint:{DURATION}:{name}_run", "expr": _quantile(q, "service, endpoint", None)})
    rules.append({"record": f"service:{DURATION}:intended_p99_rate1m", "expr": _quantile(0.99, "service", "1m", "intended")})
    rules.append({"record": "service:dientap_requests:rate1m", "expr": "sum by (service) (rate(dientap_requests_total[1m]))"})
    rules.append({"record": "province:dientap_request_errors:ratio_rate1m", "expr": _error_ratio("province", "1m")})
    rules.append({"record": "service:dientap_request_errors:ratio_rate1m", "expr": _error_ratio("service", "1m")})
    for window in ERROR_WINDOWS:
        rules.append({"record": f"service_endpoint:dientap_request_errors:ratio_rate{window}",
                      "expr": _error_ratio("service, endpoint", window)})
    for window in ERROR_WINDOWS:
        rules.append({"record": f"service:dientap_request_slow:ratio_rate{window}", "expr": _slow_ratio(objs, window)})
    rules.append({
        "record": "dientap:arrivals_achieved:ratio_rate1m",
        "expr": "rate(dientap_arrivals_started_total[1m]) / rate(dientap_arrivals_intended_total[1m])",
    })
    return rules


def _alerts(objs: list[ServiceObjective]) -> list[dict[str, object]]:
    alerts: list[dict[str, object]] = []
    for shape in BURN_ALERTS:
        per_service = []
        for o in objs:
            threshold = f"{shape.factor * o.error_budget:.4g}"
            sel = f'{{service="{o.service}"}}'
            per_service.append(
                f"(service_endpoint:dientap_request_errors:ratio_rate{shape.long}{sel} > {threshold}\n"
                f" and\n service_endpoint:dientap_request_errors:ratio_rate{shape.short}{sel} > {threshold})"
            )
        alerts.append({
            "alert": f"DientapErrorBudget{shape.name}",
            "expr": "\nor\n".join(per_service),
            "for": shape.for_,
            "labels": {"severity": shape.severity, "slo": "availability", "slo_window": shape.window},
            "annotations": {
                "summary": "{{ $labels.service }} {{ $labels.endpoint }}: error budget burning "
                f"{shape.factor:g}x too fast ({shape.long} and {shape.short} windows)",
                "description": "Error ratio {{ $value | humanizePercentage }} over the last " + shape.long
                + "; the objective allows the service's budgets.yaml error_rate "
                + ", ".join(f"({o.service} {o.error_budget:.2%})" for o in objs) + ".",
            },
        })
        slow = []
        for o in objs:
            if o.latency_le_s is None:
                continue
            threshold = f"{shape.factor * LATENCY_BUDGET:.4g}"
            sel = f'{{service="{o.service}"}}'
            slow.append(
                f"(service:dientap_request_slow:ratio_rate{shape.long}{sel} > {threshold}\n"
                f" and\n service:dientap_request_slow:ratio_rate{shape.short}{sel} > {threshold})"
            )
        alerts.append({
            "alert": f"DientapLatencyBudget{shape.name}",
            "expr": "\nor\n".join(slow),
            "for": shape.for_,
            "labels": {"severity": shape.severity, "slo": "latency", "slo_window": shape.window},
            "annotations": {
                "summary": "{{ $labels.service }}: share of requests over the p95 budget burning "
                f"{shape.factor:g}x too fast ({shape.long} and {shape.short} windows)",
                "description": "{{ $value | humanizePercentage }} of requests over the service's p95 budget; 5 % allowed.",
            },
        })
    alerts.append({
        "alert": "DientapRunAborted",
        "expr": "max by (rule) (dientap_abort_state) == 1",
        "labels": {"severity": "dry-run", "slo_window": "dry-run"},
        "annotations": {"summary": "the dry run was aborted by its {{ $labels.rule }} rule"},
    })
    alerts.append({
        "alert": "DientapGeneratorBehind",
        "expr": "dientap:arrivals_achieved:ratio_rate1m < 0.95",
        "for": "30s",
        "labels": {"severity": "dry-run", "slo_window": "dry-run"},
        "annotations": {
            "summary": "the load generator starts only {{ $value | humanizePercentage }} of the intended arrivals",
            "description": "Latency figures are not trustworthy while the generator is behind; add workers.",
        },
    })
    return alerts


class _Literal(str):
    """A string dumped as a YAML block (multi-line PromQL stays readable)."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _blockify(rules: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: (_Literal(v) if k == "expr" else v) for k, v in rule.items()} for rule in rules]


def render_rules(path: str | None = None) -> str:
    """The rules file text for the budgets at ``path`` (default: the shipped budgets)."""
    objs = objectives(path)
    doc = {
        "groups": [
            {"name": "dientap-recording", "rules": _blockify(_recording(objs))},
            {"name": "dientap-slo-alerts", "rules": _blockify(_alerts(objs))},
        ]
    }
    dumper = yaml.SafeDumper
    dumper.add_representer(_Literal, _literal)
    header = (
        "# Generated by `python -m metrics.rules_gen > metrics/rules.yml` from reports/budgets.yaml.\n"
        "# Do not edit by hand: tests/metrics fails when this file and the generator disagree.\n"
        "# Objectives: availability 1 - error_rate (99 %) per service/endpoint; latency: 95 % of\n"
        "# requests under the service's p95_ms. Burn-rate windows: see metrics/rules_gen.py.\n"
    )
    return header + yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=200)


if __name__ == "__main__":
    sys.stdout.write(render_rules(sys.argv[1] if len(sys.argv) > 1 else None))
