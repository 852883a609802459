"""The run's Prometheus: the config it writes, what it refuses, and a real server scraping loopback."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import yaml

from dientap.orchestration.prometheus import (
    DEFAULT_RULES,
    PrometheusServer,
    PrometheusTargets,
    find_prometheus,
    render_config,
)
from kernel.errors import ServiceStartError, UsageError
from tests.support import loopback_http_server

HAVE_PROMETHEUS = shutil.which("prometheus") is not None
needs_prometheus = pytest.mark.skipif(not HAVE_PROMETHEUS, reason="the prometheus binary is not installed")
DEADLINE_S = 60.0


def _config(targets: dict[str, str], rules: str | None = "rules.yml", interval_s: float = 1.0) -> dict:
    return yaml.safe_load(render_config(PrometheusTargets(targets), rules, interval_s))


def test_one_scrape_job_per_target_with_its_path_port_and_role():
    config = _config({
        "portal": "http://127.0.0.1:8701/metrics",
        "harness": "http://localhost:9646/custom/path",
        "drills": "http://127.0.0.1:9700",
    })
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == ["drills", "harness", "portal"]  # sorted: the same run writes the same file
    assert jobs["harness"]["metrics_path"] == "/custom/path"
    assert jobs["drills"]["metrics_path"] == "/metrics"
    assert jobs["portal"]["static_configs"] == [{"targets": ["127.0.0.1:8701"], "labels": {"dientap_role": "target"}}]
    assert jobs["harness"]["static_configs"][0]["labels"] == {"dientap_role": "load_generator"}
    assert jobs["drills"]["static_configs"][0]["labels"] == {"dientap_role": "drills"}
    assert config["global"]["external_labels"] == {"dientap": "dry-run"}
    assert config["rule_files"] == ["rules.yml"]


@pytest.mark.parametrize(("interval_s", "written"), [(0.2, "1s"), (1.0, "1s"), (2.5, "2.5s"), (15, "15s")])
def test_scrape_and_rule_intervals_are_at_least_one_second(interval_s, written):
    glob = _config({"portal": "http://127.0.0.1:1/metrics"}, None, interval_s)["global"]
    assert glob["scrape_interval"] == glob["scrape_timeout"] == glob["evaluation_interval"] == written


def test_no_rules_file_means_no_rule_files_and_ipv6_hosts_are_bracketed():
    text = render_config(PrometheusTargets({"portal": "http://[::1]:8701/metrics"}), None)
    assert text.startswith("# Written by dientap for one run")
    config = yaml.safe_load(text)
    assert "rule_files" not in config
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["[::1]:8701"]


@pytest.mark.parametrize(("url", "says"), [
    ("https://127.0.0.1:8701/metrics", "expected http://HOST:PORT/PATH"),
    ("http://127.0.0.1/metrics", "expected http://HOST:PORT/PATH"),
    ("127.0.0.1:8701", "expected http://HOST:PORT/PATH"),
    ("http://10.0.0.5:8701/metrics", "scrapes loopback only, got host '10.0.0.5'"),
    ("http://staging-dvc.example.vn:80/metrics", "scrapes loopback only, got host 'staging-dvc.example.vn'"),
])
def test_a_target_that_is_not_a_loopback_http_url_is_refused_by_job(url, says):
    with pytest.raises(UsageError, match=rf"^targets\.portal: .*{re.escape(says)}"):
        PrometheusTargets({"portal": url})


@pytest.mark.parametrize("url", ["http://localhost:1/m", "http://127.0.0.2:1/m", "http://[::1]:1/m"])
def test_every_loopback_form_is_accepted(url):
    assert PrometheusTargets({"harness": url}).jobs == {"harness": url}


def test_a_missing_binary_says_how_to_install_it():
    with pytest.raises(UsageError, match=r"prometheus binary not found: 'no-such-prometheus'; install the Debian "
                       r"package `prometheus` \(apt-get install prometheus\) or pass its path: --prometheus "):
        find_prometheus("no-such-prometheus")


def test_a_binary_given_by_path_is_used_as_given(tmp_path):
    fake = tmp_path / "prom"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert find_prometheus(fake) == fake


@pytest.mark.parametrize("listen", ["0.0.0.0:9090", "10.1.2.3:0", "127.0.0.1:http", "127.0.0.1"])
def test_prometheus_listens_on_loopback_only(tmp_path, listen):
    fake = tmp_path / "prom"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    with pytest.raises(UsageError, match=rf"listen: expected a loopback HOST:PORT .*got '{re.escape(listen)}'"):
        PrometheusServer(tmp_path / "p", {}, listen=listen, binary=fake)


def test_write_config_copies_the_rules_beside_the_config(tmp_path):
    fake = tmp_path / "prom"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    server = PrometheusServer(tmp_path / "p", {"portal": "http://127.0.0.1:8701/metrics"}, binary=fake)
    written = server.write_config()
    assert written == tmp_path / "p" / "prometheus.yml"
    assert (tmp_path / "p" / "rules.yml").read_bytes() == DEFAULT_RULES.read_bytes()
    assert yaml.safe_load(written.read_text())["rule_files"] == ["rules.yml"]  # relative: the folder moves with the run
    bare = PrometheusServer(tmp_path / "q", {}, rules=None, binary=fake)
    assert "rule_files" not in yaml.safe_load(bare.write_config().read_text())
    assert not (tmp_path / "q" / "rules.yml").exists()


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_written_config_and_the_shipped_rules(tmp_path):
    import subprocess

    fake = tmp_path / "prom"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    server = PrometheusServer(tmp_path / "p", {"harness": "http://127.0.0.1:9646/metrics",
                                               "portal": "http://[::1]:8701/metrics"}, binary=fake)
    config = server.write_config()
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=120,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE dientap_test_up gauge\ndientap_test_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[str]:
    """A metrics endpoint on a free loopback port: ``http://127.0.0.1:PORT/metrics``."""
    with loopback_http_server(_Exporter) as url:
        yield f"{url}/metrics"


def _poll(url: str, params: dict[str, str], found) -> dict:  # noqa: ANN001 - a predicate on the JSON answer
    deadline = time.monotonic() + DEADLINE_S
    answer: dict = {}
    while time.monotonic() < deadline:
        answer = httpx.get(url, params=params, timeout=10).json()
        if found(answer):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"not seen within {DEADLINE_S:.0f} s: {answer}")


@pytest.mark.e2e
@needs_prometheus
def test_a_real_prometheus_scrapes_the_run_reloads_new_targets_and_stops(tmp_path, exporter):
    prom = PrometheusServer(tmp_path / "prometheus", {"harness": exporter}, storage_dir=tmp_path / "tsdb")
    try:
        url = prom.start(timeout_s=DEADLINE_S)
        assert url == prom.url and url.startswith("http://127.0.0.1:")

        answer = _poll(f"{url}/api/v1/query", {"query": "dientap_test_up"}, lambda a: a["data"]["result"])
        labels = answer["data"]["result"][0]["metric"]
        assert (labels["job"], labels["dientap_role"]) == ("harness", "load_generator")

        # A reload is synchronous: the config Prometheus runs has the new job as soon as it
        # returns (its first scrape waits for the 5-s discovery tick, so it is not awaited here).
        prom.reload({"harness": exporter, "portal": exporter})
        loaded = yaml.safe_load(httpx.get(f"{url}/api/v1/status/config", timeout=10).json()["data"]["yaml"])
        jobs = {job["job_name"]: job["static_configs"][0]["labels"] for job in loaded["scrape_configs"]}
        assert jobs == {"harness": {"dientap_role": "load_generator"}, "portal": {"dientap_role": "target"}}
    finally:
        prom.stop()
    assert prom.proc is not None and prom.proc.returncode == 0
    assert any((tmp_path / "tsdb").iterdir()), "the run's TSDB stays in the run directory"


@pytest.mark.e2e
@needs_prometheus
def test_a_config_prometheus_refuses_on_reload_is_reported(tmp_path):
    prom = PrometheusServer(tmp_path / "prometheus", {})
    try:
        prom.start(timeout_s=DEADLINE_S)
        broken = tmp_path / "broken-rules.yml"
        broken.write_text("groups:\n  - name: x\n    rules:\n      - record: not a metric name\n        expr: up{\n")
        prom.rules = broken
        with pytest.raises(ServiceStartError, match=r"^prometheus refused to reload its config: HTTP 500"):
            prom.reload()
        assert prom.proc is not None and prom.proc.poll() is None, "a refused reload keeps the old config running"
    finally:
        prom.stop()


@pytest.mark.e2e
def test_a_prometheus_that_exits_at_once_is_a_start_error_naming_its_log(tmp_path):
    failing = tmp_path / "prom"
    failing.write_text("#!/bin/sh\necho 'bad flag' >&2\nexit 1\n")
    failing.chmod(0o755)
    prom = PrometheusServer(tmp_path / "p", {}, binary=failing)
    log = tmp_path / "p" / "prometheus.log"
    with pytest.raises(ServiceStartError, match=rf"^prometheus exited with code 1 while starting; see {re.escape(str(log))}$"):
        prom.start(timeout_s=DEADLINE_S)
    assert prom.proc is not None and prom.proc.returncode == 1
    assert "bad flag" in log.read_text()
    prom.stop()  # idempotent after a failed start


def test_reload_before_start_is_refused(tmp_path):
    fake = Path(shutil.which("true") or "/bin/true")
    prom = PrometheusServer(tmp_path / "p", {}, binary=fake)
    with pytest.raises(ServiceStartError, match="reload before start"):
        prom.reload()
