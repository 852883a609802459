"""A real Prometheus server on loopback for one run (``dientap run --prometheus``).

:class:`PrometheusServer` writes a concrete ``prometheus.yml`` for the run (every target
on loopback, 1-s scrape and rule evaluation so a minutes-long dry run has data points),
copies the shipped alerting/recording rules beside it, starts ``prometheus`` with its
TSDB under the run directory, waits for ``/-/ready`` and stops it in bounded time. The
data stays in ``<run_dir>/prometheus`` after the run: ``prometheus --storage.tsdb.path``
on that folder (with the written config) queries it again later.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # we start the Prometheus binary with a fixed argument list  # nosec B404
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
import yaml

from dientap.orchestration.process import child_process_options, listening_socket, wait_until_ready
from kernel.errors import ServiceStartError, UsageError
from kernel.stopping import CHILD_GRACE_S, CHILDREN, stop_processes

__all__ = ["PrometheusServer", "PrometheusTargets", "find_prometheus", "render_config", "DEFAULT_RULES"]

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "metrics" / "rules.yml"
CONFIG_NAME = "prometheus.yml"
RULES_NAME = "rules.yml"


def find_prometheus(binary: str | os.PathLike[str] | None = None) -> Path:
    """The Prometheus binary: ``binary`` (a path or a name on PATH), else ``prometheus``."""
    wanted = str(binary) if binary else "prometheus"
    found = shutil.which(wanted)
    if found is None:
        raise UsageError(
            f"prometheus binary not found: {wanted!r}; install the Debian package `prometheus` "
            "(apt-get install prometheus) or pass its path: --prometheus /path/to/prometheus"
        )
    return Path(found)


@dataclass(frozen=True)
class PrometheusTargets:
    """Scrape targets of a run: job name → metrics URL (``http://127.0.0.1:PORT/metrics``)."""

    jobs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for job, url in self.jobs.items():
            parts = urlsplit(url)
            if parts.scheme != "http" or not parts.hostname or not parts.port:
                raise UsageError(f"targets.{job}: expected http://HOST:PORT/PATH, got {url!r}")
            if not _is_loopback(parts.hostname):
                raise UsageError(f"targets.{job}: the run's Prometheus scrapes loopback only, got host {parts.hostname!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def render_config(targets: PrometheusTargets, rules_file: str | None, interval_s: float = 1.0) -> str:
    """The ``prometheus.yml`` text for ``targets`` (one job each, path from the URL)."""
    scrape_configs = []
    for job, url in sorted(targets.jobs.items()):
        parts = urlsplit(url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        scrape_configs.append(
            {
                "job_name": job,
                "metrics_path": parts.path or "/metrics",
                "static_configs": [{"targets": [f"{host}:{parts.port}"], "labels": {"dientap_role": _role(job)}}],
            }
        )
    interval = f"{max(interval_s, 1.0):g}s"
    config: dict[str, object] = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
            "external_labels": {"dientap": "dry-run"},
        },
        "scrape_configs": scrape_configs,
    }
    if rules_file:
        config["rule_files"] = [rules_file]
    return "# Written by dientap for one run; targets are this run's loopback ports.\n" + yaml.safe_dump(
        config, sort_keys=False
    )


def _role(job: str) -> str:
    return "load_generator" if job == "harness" else "drills" if job == "drills" else "target"


class PrometheusServer:
    """A Prometheus process for one run, on ``127.0.0.1`` and a free port.

    Example::

        with PrometheusServer(run_dir / "prometheus", targets={"harness": exporter_url,
                              "portal": cluster.urls["portal"] + "/metrics"}) as prom:
            print(prom.url)   # http://127.0.0.1:PORT
    """

    def __init__(
        self,
        config_dir: str | os.PathLike[str],
        targets: dict[str, str],
        *,
        rules: str | os.PathLike[str] | None = DEFAULT_RULES,
        storage_dir: str | os.PathLike[str] | None = None,
        listen: str = "127.0.0.1:0",
        binary: str | os.PathLike[str] | None = None,
        scrape_interval_s: float = 1.0,
    ) -> None:
        self.config_dir = Path(config_dir)
        self.targets = PrometheusTargets(dict(targets))
        self.rules = Path(rules) if rules else None
        self.storage_dir = Path(storage_dir) if storage_dir else self.config_dir / "data"
        host, _, port = listen.rpartition(":")
        if not _is_loopback(host.strip("[]")) or not port.isdigit():
            raise UsageError(f"listen: expected a loopback HOST:PORT (port 0 = a free one), got {listen!r}")
        self.host, self.port = host.strip("[]"), int(port)
        self.binary = find_prometheus(binary)
        self.scrape_interval_s = scrape_interval_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None
        self.url: str | None = None

    @property
    def config_path(self) -> Path:
        """The config file written for the run."""
        return self.config_dir / CONFIG_NAME

    def write_config(self) -> Path:
        """Write ``prometheus.yml`` (and a copy of the rules) into ``config_dir``."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        rules_name = None
        if self.rules is not None:
            shutil.copyfile(self.rules, self.config_dir / RULES_NAME)
            rules_name = RULES_NAME  # relative: resolved against the config file's folder
        self.config_path.write_text(render_config(self.targets, rules_name, self.scrape_interval_s), encoding="utf-8")
        return self.config_path

    def start(self, timeout_s: float = 30.0) -> str:
        """Start Prometheus and wait until ``/-/ready``; returns its base URL."""
        self.write_config()
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        port = self.port or _free_port(self.host)
        self._log = open(self.config_dir / "prometheus.log", "ab")  # noqa: SIM115 - held while it runs
        argv = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.storage_dir}",
            f"--web.listen-address={self.host}:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
        self.proc = subprocess.Popen(  # fixed argv, binary resolved by find_prometheus  # nosec B603
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, cwd=self.config_dir,
            **child_process_options(),  # a terminal's Ctrl-C reaches dientap, which stops Prometheus in order
        )
        CHILDREN.add(self.proc)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.url

    def reload(self, targets: dict[str, str] | None = None) -> None:
        """Rewrite the config (with new ``targets`` if given) and make Prometheus reload it."""
        if targets is not None:
            self.targets = PrometheusTargets(dict(targets))
        self.write_config()
        if self.url is None:
            raise ServiceStartError("prometheus: reload before start")
        response = httpx.post(f"{self.url}/-/reload", timeout=10.0)
        if response.status_code != 200:
            raise ServiceStartError(f"prometheus refused to reload its config: HTTP {response.status_code} {response.text[:200]}")

    def _wait_ready(self, timeout_s: float) -> None:
        wait_until_ready("prometheus", f"{self.url}/-/ready", self.proc, timeout_s,
                         log_hint=f"see {self.config_dir / 'prometheus.log'}")

    def stop(self, timeout_s: float = CHILD_GRACE_S) -> None:
        """SIGTERM (Prometheus flushes and exits), SIGKILL after ``timeout_s``; idempotent."""
        if self.proc is not None:
            stop_processes([self.proc], timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    # Prometheus cannot report a port it picked itself, so we pick one; the window in
    # which another process could take it is the few milliseconds until it binds.
    sock = listening_socket(host, 0)
    port = sock.getsockname()[1]
    sock.close()
    return port
