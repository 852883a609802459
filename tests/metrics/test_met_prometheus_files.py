"""The shipped prometheus.yml, rules.yml and dashboard.json: promtool-valid, in step with
the budgets, and referring only to metrics that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import metrics
from dientap.orchestration.prometheus import PrometheusServer, PrometheusTargets, render_config
from kernel.errors import UsageError
from metrics.rules_gen import objectives, render_rules

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)")

EXPORTED = {
    "dientap_request_duration_seconds_bucket", "dientap_request_duration_seconds_count", "dientap_request_duration_seconds_sum",
    "dientap_requests_total", "dientap_request_failures_total", "dientap_active_actors", "dientap_arrivals_intended_total",
    "dientap_arrivals_started_total", "dientap_arrivals_behind_total", "dientap_abort_state", "dientap_drill_fault_active",
    "dientap_run_start_time_seconds", "dientap_exporter_render_seconds", "dientap_exporter_render_cpu_seconds_total",
    "process_cpu_seconds_total",
    "dientap_mock_request_duration_seconds_bucket",
}
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "max", "sort_desc", "le", "and", "or", "last_over_time",
    "service", "endpoint", "province", "measure", "job", "harness", "sent", "intended", "rule",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


@needs_promtool
def test_shipped_prometheus_yml_passes_promtool() -> None:
    result = _promtool("check", "config", str(metrics.PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_shipped_rules_pass_promtool() -> None:
    result = _promtool("check", "rules", str(metrics.RULES_YML))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_a_runs_written_config_passes_promtool(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "prom", {"harness": "http://127.0.0.1:9646/metrics",
                                                  "portal": "http://127.0.0.1:8701/metrics"})
    path = server.write_config()
    result = _promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["global"]["scrape_interval"] == "1s" and doc["rule_files"] == ["rules.yml"]
    assert {c["job_name"]: c["static_configs"][0]["targets"] for c in doc["scrape_configs"]} == {
        "harness": ["127.0.0.1:9646"], "portal": ["127.0.0.1:8701"]}


def test_rules_file_is_the_generators_output() -> None:
    assert metrics.RULES_YML.read_text(encoding="utf-8") == render_rules(), (
        "metrics/rules.yml is stale: run `python -m metrics.rules_gen > metrics/rules.yml`")


def test_latency_alerts_use_the_budgets_p95_and_a_bucket_edge() -> None:
    objs = {o.service: o for o in objectives()}
    assert objs["portal"].latency_le_s == 0.8 and objs["population"].latency_le_s == 0.5
    assert all(o.latency_le_s in metrics.LATENCY_BUCKETS_S for o in objs.values())
    text = metrics.RULES_YML.read_text(encoding="utf-8")
    assert 'service="portal",le="0.8"' in text
    assert "> 0.144" in text  # 14.4 × the 1 % error budget


def test_dry_run_alert_uses_short_windows() -> None:
    doc = yaml.safe_load(metrics.RULES_YML.read_text(encoding="utf-8"))
    alerts = {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}
    dry = alerts["DientapErrorBudgetDryRunBurn"]
    assert "ratio_rate1m" in dry["expr"] and "ratio_rate10s" in dry["expr"] and dry["for"] == "5s"
    fast = alerts["DientapErrorBudgetFastBurn"]
    assert "ratio_rate1h" in fast["expr"] and "ratio_rate5m" in fast["expr"]
    assert alerts["DientapErrorBudgetSlowBurn"]["labels"]["severity"] == "ticket"


def _dashboard_exprs() -> list[str]:
    dash = json.loads(metrics.DASHBOARD_JSON.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dash["annotations"]["list"] if "expr" in a]
    return exprs


def _substitute(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$service", ".*")


def test_dashboard_refers_only_to_exported_or_recorded_metrics() -> None:
    doc = yaml.safe_load(metrics.RULES_YML.read_text(encoding="utf-8"))
    recorded = {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    for expr in _dashboard_exprs():
        cleaned = re.sub(r'"[^"]*"|\[[^\]]*\]', "", _substitute(expr))
        names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", cleaned)) - PROMQL_WORDS
        assert names <= EXPORTED | recorded, f"{expr}: unknown {names - EXPORTED - recorded}"


def test_dashboard_has_drill_fault_annotations_and_unique_panel_ids() -> None:
    dash = json.loads(metrics.DASHBOARD_JSON.read_text(encoding="utf-8"))
    annotations = {a["name"]: a for a in dash["annotations"]["list"]}
    assert "dientap_drill_fault_active" in annotations["Drill faults"]["expr"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in dash["panels"])
    for wanted in ("p95", "p99", "Throughput", "province", "actors", "Arrivals"):
        assert wanted in titles


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:check_{i}", "expr": _substitute(e)} for i, e in enumerate(_dashboard_exprs())]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_targets_must_be_loopback_http_urls() -> None:
    with pytest.raises(UsageError,
                       match=r"targets.portal: the run's Prometheus scrapes loopback only, got host 'staging.example.vn'"):
        PrometheusTargets({"portal": "http://staging.example.vn:8701/metrics"})
    with pytest.raises(UsageError, match=r"targets.harness: expected http://HOST:PORT/PATH"):
        PrometheusTargets({"harness": "127.0.0.1:9646"})


def test_listen_must_be_loopback(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="listen: expected a loopback HOST:PORT"):
        PrometheusServer(tmp_path, {}, listen="0.0.0.0:9090")  # noqa: S104 - the refused case


def test_missing_binary_names_the_package_and_the_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"prometheus binary not found: '/nonexistent/prometheus'.*--prometheus /path"):
        PrometheusServer(tmp_path, {}, binary="/nonexistent/prometheus")


def test_render_config_without_rules_has_no_rule_files() -> None:
    text = render_config(PrometheusTargets({"harness": "http://127.0.0.1:1234/metrics"}), None)
    assert "rule_files" not in yaml.safe_load(text)
