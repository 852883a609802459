"""The image, built with podman from the Containerfile, runs what deploy/k8s/ runs.

Where podman works: build the image (scripts/build-image), then play the cluster's topology
in containers sharing one network namespace with no network at all (``--network none``; the
services' names resolve to its loopback through a hosts file): the mocks stand in for
staging, the master runs the master Job's own arguments, a worker the worker Deployment's,
then the gate the gate Job's — each with the manifest's mounts, user and read-only root
filesystem. What differs from the manifests, and why: the profile (smoke for 10 s instead of
national: a test, not a benchmark), one worker instead of four, the target's URLs (plain HTTP
on the mocks' ports), and the worker's ``--runs 1`` (so it ends).
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from tests.deploy.k8s_manifests import ROOT, ContainerCommand, container_commands, find, option_values

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.image]

STAGING = {"staging-dvc.example.vn": 8701, "staging-dc.example.vn": 8702, "staging-truc.example.vn": 8703}
ADMIN_TOKEN = "image-test-admin"  # nosec B105 - the mocks' admin token for this test only


def _podman() -> list[str]:
    """podman as scripts/build-image runs it: runc where installed, ulimits no higher than ours
    (see the script for why both)."""
    command = ["podman"]
    if shutil.which("runc"):
        command += ["--runtime", "runc"]
    return command


def _limits() -> list[str]:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=8192:8192"]


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman runc mmdebstrap; README: Containers and Kubernetes)")
    if os.geteuid() != 0:
        pytest.skip("the containers write the results as uid 10001 to host directories: needs rootful podman (root)")
    if subprocess.run([*_podman(), "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("podman is installed but `podman info` fails here")
    built = subprocess.run([str(ROOT / "scripts" / "build-image")], capture_output=True, text=True, timeout=900, check=False)
    if built.returncode == 3:  # the script's "cannot build here" (no base image can be had)
        pytest.skip(f"scripts/build-image cannot build here: {built.stderr.strip()}")
    assert built.returncode == 0, f"scripts/build-image failed (exit {built.returncode}):\n{built.stderr[-4000:]}"
    return built.stdout.strip().splitlines()[-1]


class Pod:
    """Containers sharing the network namespace of the first (the mocks'), removed at the end."""

    def __init__(self, image: str, root: Path):
        self.image, self.root, self.prefix = image, root, f"dientap-test-{secrets.token_hex(3)}"
        self.names: list[str] = []
        self.hosts = root / "hosts"
        self.hosts.write_text(f"127.0.0.1 localhost dientap-master {' '.join(STAGING)}\n", encoding="utf-8")

    def start(self, name: str, argv: list[str], *, options: list[str], network: list[str] | None = None) -> str:
        full = f"{self.prefix}-{name}"
        network = network if network is not None else ["--network", f"container:{self.names[0]}"]
        subprocess.run([*_podman(), "run", "-d", "--name", full, *_limits(), *network, "-v", f"{self.hosts}:/etc/hosts:ro",
                        *options, self.image, *argv], check=True, capture_output=True, timeout=60)
        self.names.append(full)
        return full

    def wait(self, name: str, timeout_s: float) -> tuple[int, str]:
        done = subprocess.run([*_podman(), "wait", name], capture_output=True, text=True, timeout=timeout_s, check=False)
        logs = subprocess.run([*_podman(), "logs", name], capture_output=True, text=True, timeout=30, check=False)
        return int(done.stdout.strip() or -1), logs.stdout + logs.stderr

    def logs(self, name: str) -> str:
        logs = subprocess.run([*_podman(), "logs", name], capture_output=True, text=True, timeout=30, check=False)
        return logs.stdout + logs.stderr

    def remove(self) -> None:
        for name in reversed(self.names):  # the mocks last: the others live in their namespace
            subprocess.run([*_podman(), "rm", "-f", "-t", "5", name], capture_output=True, timeout=60, check=False)


@pytest.fixture
def pod(image: str, tmp_path: Path) -> Iterator[Pod]:
    made = Pod(image, tmp_path)
    try:
        yield made
    finally:
        made.remove()


def _as_podman(command: ContainerCommand, volumes: dict[str, Path], env: dict[str, str]) -> list[str]:
    """The container's mounts, user, root filesystem and environment, as podman options."""
    spec = command.container
    options = ["--user", "10001:10001"]
    if spec["securityContext"].get("readOnlyRootFilesystem"):
        options.append("--read-only")
    for mount in spec.get("volumeMounts", []):
        if mount["name"] == "tmp":
            options += ["--tmpfs", mount["mountPath"]]
        else:
            options += ["-v", f"{volumes[mount['name']]}:{mount['mountPath']}" + (":ro" if mount.get("readOnly") else "")]
    for variable in spec.get("env", []):
        options += ["-e", f"{variable['name']}={env[variable['valueFrom']['secretKeyRef']['key']]}"]
    return options


def _replace_value(argv: tuple[str, ...], flag: str, value: str) -> list[str]:
    assert option_values(argv, flag), f"{flag} not in {argv}"
    return [value if i and argv[i - 1] == flag else a for i, a in enumerate(argv)]


def test_the_image_runs_the_manifests_commands(pod: Pod, tmp_path: Path) -> None:
    dirs = {name: tmp_path / name for name in ("data", "etc", "runs", "worker-out", "budgets")}
    for d in dirs.values():
        d.mkdir()
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "configmap.yaml").read_text(encoding="utf-8"))["data"]
    targets = config["targets.yaml"]
    for host, port in STAGING.items():
        targets = targets.replace(f"https://{host}", f"http://{host}:{port}")
    (dirs["etc"] / "targets.yaml").write_text(targets, encoding="utf-8")
    (dirs["budgets"] / "budgets.yaml").write_text(config["budgets.yaml"], encoding="utf-8")
    subprocess.run(["chown", "-R", "10001:10001", str(tmp_path)], check=True)

    mocks = pod.start("mocks", ["mocks", "--data-dir", "/data", "--duration", "300", "--admin-token", ADMIN_TOKEN],
                      options=["--user", "10001:10001", "--read-only", "--tmpfs", "/tmp", "-v", f"{dirs['data']}:/data"],
                      network=["--network", "none"])
    deadline = time.monotonic() + 120
    while "Ctrl-C to stop" not in pod.logs(mocks):
        assert time.monotonic() < deadline, f"the mocks did not start:\n{pod.logs(mocks)}"
        time.sleep(1)
    shutil.copytree(dirs["data"] / "axis" / "pki", dirs["etc"] / "pki")  # the Secret's ca.pem and ca.key
    subprocess.run(["chown", "-R", "10001:10001", str(dirs["etc"])], check=True)  # as the pods' fsGroup makes them
    env = {"dry-run-secret": DEFAULT_DRY_RUN_SECRET, "admin-token": ADMIN_TOKEN}

    [master] = container_commands(find("Job", "dientap-master"))
    argv = _replace_value(master.argv, "--remote-workers", "1")
    argv = ["smoke" if a == "national" else a for a in argv[1:]] + ["--duration", "10"]  # argv[0] is the ENTRYPOINT
    volumes = {"etc-dientap": dirs["etc"], "runs": dirs["runs"]}
    master_name = pod.start("master", argv, options=_as_podman(master, volumes, env))

    [worker] = container_commands(find("Deployment", "dientap-worker"))
    volumes = {"pki": dirs["etc"] / "pki", "worker-out": dirs["worker-out"]}
    worker_name = pod.start("worker", [*worker.argv[1:], "--runs", "1", "--idle-timeout", "120"],
                            options=_as_podman(worker, volumes, env))

    code, master_log = pod.wait(master_name, 300)
    assert code == 0, f"the master exited {code}:\n{master_log}"
    assert "0 local + 1 remote workers" in master_log
    code, worker_log = pod.wait(worker_name, 120)
    assert code == 0 and "stopping after 1 run(s)" in worker_log and "ERROR" not in worker_log, worker_log
    summary = json.loads((dirs["runs"] / "latest" / "summary.json").read_text(encoding="utf-8"))
    assert summary["requests"]["total"] > 0 and summary["requests"]["failed"] == 0, f"{summary['requests']}\n{master_log}"

    [gate] = container_commands(find("Job", "dientap-gate"))
    gate_name = pod.start("gate", list(gate.argv[1:]),
                          options=_as_podman(gate, {"budgets": dirs["budgets"], "runs": dirs["runs"]}, env))
    code, gate_log = pod.wait(gate_name, 120)
    assert code == 0, f"the gate exited {code}:\n{gate_log}"
    assert "within budget (exit 0)" in gate_log
    assert (dirs["runs"] / "gate-junit.xml").is_file()
