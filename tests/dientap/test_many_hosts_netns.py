"""Across hosts: the mocks, the Locust master and two workers each in a network namespace of
its own, joined only by a bridge this test makes (#14 item 5).

Every namespace — the four "hosts" and a hub holding the bridge — is created here, addressed
from the benchmarking range 198.18.0.0/15 (RFC 2544), and has no default route and no link
but its own; the root namespace gets no link at all (each veth pair is created straight
between the hub and its host). That is checked before any traffic. The target's address is
added to the allowlist explicitly (the targets file and each worker's ``--allow-host``);
loopback stays the default. A third worker without ``--allow-host`` is refused before it
sends anything. Everything is removed on the way out, failure or not, and the test checks
it is gone. Skipped, with the reason, where the machine does not allow namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.ack_ledger import AckLedger
from kernel.errors import ExitCode
from kernel.latency_records import load_histograms, merge_histogram_maps

pytestmark = pytest.mark.e2e

SUBNET = "198.18.0"  # inside 198.18.0.0/15, the range reserved for benchmarking
HOSTS = {"mocks": 1, "master": 2, "w0": 3, "w1": 4, "w2": 5}
POPULATION = "20000"
DURATION = "15"
SEED = "7"
PYTHON = [sys.executable, "-m", "dientap.cli"]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _must(*args: str) -> str:
    done = _ip(*args)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _namespaces() -> set[str]:
    return {line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()}


class Hosts:
    """The namespaces of one test: ``name`` → namespace, all joined by the hub's bridge."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.hub = f"dt{tag}-hub"
        self.ns = {name: f"dt{tag}-{name}" for name in HOSTS}
        self.bridge = "br-dt"
        self.procs: list[subprocess.Popen[str]] = []

    @property
    def all(self) -> list[str]:
        return [*self.ns.values(), self.hub]

    def address(self, name: str) -> str:
        return f"{SUBNET}.{HOSTS[name]}"

    def build(self) -> None:
        _must("netns", "add", self.hub)
        _must("-n", self.hub, "link", "add", self.bridge, "type", "bridge")
        _must("-n", self.hub, "link", "set", self.bridge, "up")
        for name, ns in self.ns.items():
            _must("netns", "add", ns)
            hub_end, host_end = f"v-{name}", "eth0"
            # Created in the hub with its peer straight in the host: never a link in the root namespace.
            _must("-n", self.hub, "link", "add", hub_end, "type", "veth", "peer", "name", host_end, "netns", ns)
            _must("-n", self.hub, "link", "set", hub_end, "master", self.bridge, "up")
            _must("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", host_end)
            _must("-n", ns, "link", "set", host_end, "up")
            _must("-n", ns, "link", "set", "lo", "up")

    def links(self, ns: str) -> set[str]:
        return {link["ifname"] for link in json.loads(_must("-n", ns, "-j", "link", "show"))}

    def routes(self, ns: str) -> list[dict]:
        return list(json.loads(_must("-n", ns, "-j", "route", "show")))

    def run(self, name: str, argv: list[str], *, stderr: int = subprocess.STDOUT) -> subprocess.Popen[str]:
        """Start ``argv`` on host ``name`` (its output on a pipe; stderr apart when asked)."""
        # The mocks serve a non-loopback address: the public default secret would be refused
        # there, so every host (mocks, master, workers) shares a secret of the rehearsal's own.
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[name], *argv], text=True, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=stderr,
                                env={**os.environ, "DIENTAP_DRY_RUN_SECRET": "netns-rehearsal-secret"})
        self.procs.append(proc)
        return proc

    def remove(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
        for ns in self.all:  # deleting a namespace deletes the veth ends inside it
            _ip("netns", "del", ns)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); this test runs as a user")
    probe = f"dt{secrets.token_hex(3)}-probe"
    done = _ip("netns", "add", probe)
    if done.returncode != 0:
        pytest.skip(f"this machine does not allow network namespaces: ip netns add: {done.stderr.strip()}")
    _ip("netns", "del", probe)
    made = Hosts()
    try:
        made.build()
        yield made
    finally:
        made.remove()
    assert not set(made.all) & _namespaces(), "a namespace of the test was left behind"


def _wait_for_line(proc: subprocess.Popen[str], text: str, timeout_s: float) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} within {timeout_s} s: {seen}")


def _run_dir(out: Path) -> Path:
    return next(p for p in out.iterdir() if p.is_dir() and not p.is_symlink())


def test_mocks_master_and_workers_on_separate_hosts_match_a_single_host_run(hosts: Hosts, tmp_path: Path) -> None:
    # -- isolation, before any traffic --------------------------------------------------
    for name, ns in hosts.ns.items():
        assert hosts.links(ns) == {"lo", "eth0"}, (name, hosts.links(ns))
        routes = hosts.routes(ns)
        assert not [r for r in routes if r.get("dst") == "default"], (name, routes)
        assert {r.get("dst") for r in routes} == {f"{SUBNET}.0/24"}, (name, routes)
    assert hosts.links(hosts.hub) == {"lo", hosts.bridge, *(f"v-{n}" for n in HOSTS)}
    assert not hosts.routes(hosts.hub)  # the hub has no address: it only switches
    root_links = {link["ifname"] for link in json.loads(_must("-j", "link", "show"))}
    assert not {"br-dt", *(f"v-{n}" for n in HOSTS)} & root_links

    # -- the target on its own host -----------------------------------------------------
    target = hosts.address("mocks")
    data = tmp_path / "mocks"
    mocks = hosts.run("mocks", [*PYTHON, "mocks", "--host", target, "--data-dir", str(data), "--population-size",
                                POPULATION, "--officers-per-commune", "1", "--seed", SEED, "--duration", "240"])
    _wait_for_line(mocks, "Ctrl-C to stop.", 120)
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "name: other-hosts\n"
        f"allow_hosts: [{target}]\n"  # the benchmarking address, allowed explicitly
        + "".join(f"{s}: {{base_url: 'http://{target}:{p}'}}\n"
                  for s, p in (("portal", 8701), ("population", 8702), ("axis", 8703)))
        + f"pki_dir: {data / 'axis' / 'pki'}\n",
        encoding="utf-8",
    )

    # -- the same run on one host, same seed, at the same time (each run is bound by its
    #    timeline, not the CPU: one after the other they cost the suite 20 s more) ---------
    single_out = tmp_path / "single"
    single = subprocess.Popen([*PYTHON, "run", "smoke", "--duration", DURATION, "--seed", SEED, "--population-size",
                               POPULATION, "--no-board", "--out", str(single_out)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    hosts.procs.append(single)  # killed with the hosts' processes if the test ends early

    # -- the master, and two workers with the target on their own allowlists ------------
    master_addr = hosts.address("master")
    out = tmp_path / "runs"
    master = hosts.run("master", [*PYTHON, "run", "smoke", "--target", str(targets), "--remote-workers", "2",
                                  "--master-bind", f"{master_addr}:5557", "--duration", DURATION, "--seed", SEED,
                                  "--population-size", POPULATION, "--no-board", "--out", str(out),
                                  "--remote-workers-wait", "120"])
    worker_argv = [*PYTHON, "worker", "--master", master_addr, "--runs", "1", "--idle-timeout", "120"]
    refused = hosts.run("w2", [*worker_argv, "--out", str(tmp_path / "w2")], stderr=subprocess.PIPE)
    refused_out, refused_err = refused.communicate(timeout=120)
    workers = [
        hosts.run(name, [*worker_argv, "--allow-host", target, "--pki-dir", str(data / "axis" / "pki"),
                         "--out", str(tmp_path / name)])
        for name in ("w0", "w1")
    ]
    master_log, _ = master.communicate(timeout=300)
    worker_logs = [w.communicate(timeout=60)[0] for w in workers]

    assert refused.returncode == ExitCode.TARGET_NOT_ALLOWED, (refused_out, refused_err)
    errors = [line for line in refused_err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and target in errors[0] and "allowlist" in errors[0], refused_err
    assert not (tmp_path / "w2").exists() or not any((tmp_path / "w2").rglob("*.hdr"))
    assert master.returncode == 0, master_log
    assert all(w.returncode == 0 for w in workers), worker_logs
    distributed = _run_dir(out)
    summary = json.loads((distributed / "summary.json").read_text(encoding="utf-8"))
    assert summary["requests"]["total"] > 0 and summary["requests"]["failed"] == 0, summary["requests"]

    # -- the master's merge is the union of what the workers shipped ---------------------
    copies = [tmp_path / name / distributed.name for name in ("w0", "w1")]
    shipped = merge_histogram_maps([load_histograms(c / "histograms" / "latency.hdr") for c in copies])
    merged = load_histograms(distributed / "histograms" / "latency.hdr")
    assert set(merged) == set(shipped)
    assert all(merged[key].counts == shipped[key].counts for key in merged)
    each = [load_histograms(c / "histograms" / "latency.hdr") for c in copies]
    assert all(each), "a worker shipped nothing"
    ledgers = AckLedger.merge(sorted((distributed / "ledgers").glob("*.json")))
    assert ledgers.entries == AckLedger.merge([next((c / "ledgers").glob("*.json")) for c in copies]).entries

    # -- the single-host run matches -----------------------------------------------------
    single_log, _ = single.communicate(timeout=300)
    assert single.returncode == 0, single_log
    one = json.loads((_run_dir(single_out) / "summary.json").read_text(encoding="utf-8"))
    assert one["requests"]["failed"] == 0
    for key in ("total", "active"):
        assert summary["communes"][key] == one["communes"][key], key
    assert [(p["code"], p["communes_active"]) for p in summary["provinces"]] == \
        [(p["code"], p["communes_active"]) for p in one["provinces"]]
    assert _players(distributed) == _players(_run_dir(single_out))  # every officer and agency, played once
    # The arrival plan is the seed's: the workers' partitions add up to the single process's
    # plan (the last second's arrivals may fall either side of the stop).
    due, due_single = summary["generator"]["arrivals_due"], one["generator"]["arrivals_due"]
    assert abs(due - due_single) <= 10, (due, due_single)
    common = {(e["service"], e["name"]) for e in one["endpoints"] if e["count"] >= 10}
    assert common <= {(e["service"], e["name"]) for e in summary["endpoints"]}


def _players(run_dir: Path) -> dict[str, list[str]]:
    played: dict[str, list[str]] = {}
    for path in sorted((run_dir / "players").glob("*.json")):
        for role, names in json.loads(path.read_text(encoding="utf-8")).items():
            played.setdefault(role, []).extend(names)
    return {role: sorted(names) for role, names in played.items()}
