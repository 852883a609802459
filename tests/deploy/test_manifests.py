"""deploy/k8s/ and the Containerfile: valid Kubernetes (by the Kubernetes schemas, offline),
in step with the ``dientap`` command line (a flag that no longer exists fails here, naming the
manifest, the command and the flag), and in step with each other (replicas, Service, allowlist,
mounts, references, image). No cluster is needed: nothing here talks to one."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kv  # a test extra: the Kubernetes schemas, offline

from dientap import __version__
from dientap.cli import build_parser
from kernel.configfile import load_model
from kernel.targets import SERVICE_NAMES, TargetsFile
from reports.budgets import load_budgets
from scenarios.profile import shipped_profiles
from tests.deploy.k8s_manifests import (
    K8S_DIR,
    ROOT,
    ContainerCommand,
    Manifest,
    all_container_commands,
    container_commands,
    containerfile_command,
    find,
    flag_problems,
    manifests,
    option_values,
    pod_spec,
)

# The Kubernetes versions the manifests are validated against, pinned here rather than taken
# from whatever kubernetes-validate is installed (its newest schema moves with each release):
# - 1.25, the oldest schema kubernetes-validate 1.37 ships: the manifests use nothing newer
#   (seccompProfile, topologySpreadConstraints and projected volumes are all older), so a
#   cluster that old accepts them too;
# - 1.37, the newest it ships: no field the manifests use has been removed since.
# A schema version between the two that rejected a field would need one of these to reject it
# too (Kubernetes removes fields only after deprecating them across releases).
KUBERNETES_VERSIONS = ("1.25", "1.37")
ALL_MANIFESTS = manifests()
ALL_COMMANDS = [*all_container_commands(), containerfile_command()]


def _id(manifest: Manifest) -> str:
    return f"{manifest.path.relative_to(K8S_DIR)}#{manifest.index}"


def _validate(body: dict[str, Any], version: str) -> str:
    # strict: the schemas that forbid properties Kubernetes does not know, so a misspelt
    # field (`replica:`, `arg:`) fails here instead of being dropped silently by the cluster.
    return kv.validate(body, version, strict=True)


# -- Kubernetes schemas ---------------------------------------------------------------------


def test_the_manifests_cover_what_a_distributed_run_needs() -> None:
    kinds = sorted((m.body["kind"], m.body["metadata"]["name"]) for m in ALL_MANIFESTS)
    assert kinds == [
        ("ConfigMap", "dientap-config"),
        ("Deployment", "dientap-worker"),
        ("Job", "dientap-gate"),
        ("Job", "dientap-master"),
        ("PersistentVolumeClaim", "dientap-runs"),
        ("Secret", "dientap-dry-run"),
        ("Service", "dientap-master"),
    ]


def test_kubernetes_validate_ships_the_pinned_versions() -> None:
    shipped = {kv.major_minor(v) for v in kv.all_versions()}
    missing = [v for v in KUBERNETES_VERSIONS if v not in shipped]
    assert not missing, f"kubernetes-validate has no schema for {missing}; it has {sorted(shipped)}: re-pin KUBERNETES_VERSIONS"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("manifest", ALL_MANIFESTS, ids=_id)
def test_every_manifest_is_valid_kubernetes(manifest: Manifest, version: str) -> None:
    problem = None
    try:
        assert _validate(manifest.body, version) == version
    except kv.ValidationError as exc:
        problem = f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"
    if problem:  # failed outside the except: one line, not jsonschema's dump of the schema
        pytest.fail(f"{manifest.where} is not valid Kubernetes {version}: {problem}")


def test_validation_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schemas ship inside the package: validating every manifest opens no socket."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("kubernetes-validate tried to reach the network")

    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for manifest in ALL_MANIFESTS:
        for version in KUBERNETES_VERSIONS:
            _validate(manifest.body, version)


def _worker_deployment() -> dict[str, Any]:
    return copy.deepcopy(find("Deployment", "dientap-worker").body)


def _misspelt_field(body: dict[str, Any]) -> None:
    body["spec"]["replica"] = body["spec"].pop("replicas")


def _wrong_type(body: dict[str, Any]) -> None:
    body["spec"]["replicas"] = "four"


def _misspelt_container_field(body: dict[str, Any]) -> None:
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["arg"] = container.pop("args")


def _container_without_a_name(body: dict[str, Any]) -> None:
    del body["spec"]["template"]["spec"]["containers"][0]["name"]


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_misspelt_field, "'replica' was unexpected"),
        (_wrong_type, "'four' is not of type 'integer'"),
        (_misspelt_container_field, "'arg' was unexpected"),
        (_container_without_a_name, "'name' is a required property"),
    ],
    ids=["misspelt field", "wrong type", "misspelt container field", "container without a name"],
)
def test_the_validator_rejects_a_broken_manifest(break_it: Any, expected: str) -> None:
    body = _worker_deployment()
    for version in KUBERNETES_VERSIONS:
        _validate(body, version)  # the unbroken one passes: the breakage is what fails below
    break_it(body)
    for version in KUBERNETES_VERSIONS:
        with pytest.raises(kv.ValidationError) as caught:
            _validate(body, version)
        assert expected in caught.value.message


# -- in step with the command line ---------------------------------------------------------


def _command_id(command: ContainerCommand) -> str:
    return command.where.split(": ", 1)[-1].replace(" ", "-")


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=_command_id)
def test_every_flag_the_manifests_use_exists(command: ContainerCommand) -> None:
    problems = flag_problems(command, build_parser())
    assert not problems, "\n".join(problems)


def test_the_flag_check_names_a_flag_that_does_not_exist() -> None:
    worker = next(c for c in all_container_commands() if c.argv[1] == "worker")
    parser = build_parser()
    assert flag_problems(worker, parser) == []
    broken = ContainerCommand(worker.where, worker.container, (*worker.argv, "--no-such-flag", "1"))
    [problem] = flag_problems(broken, parser)
    assert problem.startswith("deploy/k8s/workers.yaml: Deployment/dientap-worker container worker: `dientap worker --master")
    assert "--no-such-flag is not an option of `dientap worker`" in problem


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # a flag of another subcommand: `run` has it, `worker` does not
        (("dientap", "worker", "--master", "m:5557", "--remote-workers", "4"),
         "--remote-workers is not an option of `dientap worker`"),
        # a prefix argparse would expand (to --remote-workers) is still not the flag's name
        (("dientap", "run", "national", "--remote", "4"), "--remote is not an option of `dientap run`"),
        (("dientap", "run", "national", "--remote-workers=4", "--master-bnd=0.0.0.0"), "--master-bnd is not an option"),
        (("dientap", "wrker", "--master", "m"), "names no dientap subcommand"),
        (("locust", "--worker"), "does not run dientap"),
    ],
    ids=["other subcommand's flag", "abbreviation", "--flag=value form", "unknown subcommand", "not dientap"],
)
def test_the_flag_check_catches(argv: tuple[str, ...], expected: str) -> None:
    problems = flag_problems(ContainerCommand("a manifest", {}, argv), build_parser())
    assert any(expected in p for p in problems), problems


def _parse(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str | None:
    """The real parser's one ERROR: line for ``argv``, or None when it parses."""
    try:
        build_parser().parse_args(list(argv[1:]))
    except SystemExit:
        return capsys.readouterr().err.strip()
    return None


@pytest.mark.parametrize("command", all_container_commands(), ids=_command_id)
def test_every_manifest_command_parses(command: ContainerCommand, capsys: pytest.CaptureFixture[str]) -> None:
    """Beyond the names: the values too (a port, a count, a HOST:PORT)."""
    assert _parse(command.argv, capsys) is None, f"{command}: {capsys.readouterr().err}"


def test_a_bad_value_in_a_manifest_command_fails_the_parse(capsys: pytest.CaptureFixture[str]) -> None:
    master = next(c for c in all_container_commands() if c.argv[1] == "run")
    argv = tuple("four" if i > 0 and master.argv[i - 1] == "--remote-workers" else a for i, a in enumerate(master.argv))
    error = _parse(argv, capsys)
    assert error is not None and "--remote-workers" in error and "'four'" in error


def test_the_master_runs_a_shipped_profile() -> None:
    [master] = container_commands(find("Job", "dientap-master"))
    assert master.argv[:3] == ("dientap", "run", "national")
    assert "national" in shipped_profiles(), f"the master runs profile national; shipped: {shipped_profiles()}"


def test_the_image_runs_dientap_as_a_non_root_user() -> None:
    text = (ROOT / "Containerfile").read_text(encoding="utf-8")
    assert containerfile_command(text).argv == ("dientap", "--help")
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users == ["10001:10001"]
    for manifest in ALL_MANIFESTS:
        if manifest.body["kind"] in ("Job", "Deployment"):
            context = pod_spec(manifest)["securityContext"]
            assert (context["runAsNonRoot"], context["runAsUser"], context["runAsGroup"]) == (True, 10001, 10001), manifest.where


# -- in step with each other ---------------------------------------------------------------


def _single(argv: tuple[str, ...], flag: str) -> str:
    [value] = option_values(argv, flag)
    return value


def test_the_workers_are_as_many_as_the_master_waits_for() -> None:
    [master] = container_commands(find("Job", "dientap-master"))
    replicas = find("Deployment", "dientap-worker").body["spec"]["replicas"]
    assert int(_single(master.argv, "--remote-workers")) == replicas


def test_the_workers_reach_the_master_through_its_service() -> None:
    service = find("Service", "dientap-master").body
    [port] = service["spec"]["ports"]
    [master] = container_commands(find("Job", "dientap-master"))
    [worker] = container_commands(find("Deployment", "dientap-worker"))
    assert _single(worker.argv, "--master") == f"{service['metadata']['name']}:{port['port']}"
    bind_host, bind_port = _single(master.argv, "--master-bind").rsplit(":", 1)
    assert (bind_host, int(bind_port)) == ("0.0.0.0", port["targetPort"])
    master_labels = find("Job", "dientap-master").body["spec"]["template"]["metadata"]["labels"]
    worker_labels = find("Deployment", "dientap-worker").body["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"].items()
    assert selector <= master_labels.items() and not selector <= worker_labels.items()


def _config_file(name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    path.write_text(find("ConfigMap", "dientap-config").body["data"][name], encoding="utf-8")
    return path


def test_the_workers_allow_every_host_the_targets_name(tmp_path: Path) -> None:
    """The workers' allowlist is their own; it must cover the master's targets, or every
    worker refuses the run."""
    targets = load_model(TargetsFile, _config_file("targets.yaml", tmp_path))
    [worker] = container_commands(find("Deployment", "dientap-worker"))
    hosts = {getattr(targets, s).base_url.split("://", 1)[1].split("/")[0].split(":")[0] for s in SERVICE_NAMES}
    assert hosts == set(option_values(worker.argv, "--allow-host")) == set(targets.allow_hosts)
    env = {e["name"] for c in pod_spec(find("Deployment", "dientap-worker"))["containers"] for e in c.get("env", [])}
    assert targets.credentials.secret_env in env


def test_the_budgets_in_the_configmap_load(tmp_path: Path) -> None:
    budgets = load_budgets(_config_file("budgets.yaml", tmp_path))
    assert budgets.budgets and budgets.generator.require_trustworthy


def _provided(volume: dict[str, Any], configmaps: dict[str, dict], secrets: dict[str, dict]) -> set[str] | None:
    """The paths a volume holds (None: anything, it is writable storage); checks item keys."""
    if "persistentVolumeClaim" in volume or "emptyDir" in volume:
        return None
    sources = volume["projected"]["sources"] if "projected" in volume else [volume]
    paths: set[str] = set()
    for source in sources:
        if "configMap" in source:
            ref, data = source["configMap"], configmaps[source["configMap"]["name"]]["data"]
        else:
            ref = source["secret"]
            data = secrets[ref.get("name", ref.get("secretName"))]["stringData"]
        for item in ref["items"]:
            assert item["key"] in data, f"volume {volume['name']}: no key {item['key']!r}"
            parts = item["path"].split("/")
            paths.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return paths


@pytest.mark.parametrize("kind_name", [("Job", "dientap-master"), ("Deployment", "dientap-worker"), ("Job", "dientap-gate")],
                         ids=lambda kn: kn[1])
def test_every_path_a_command_names_is_mounted(kind_name: tuple[str, str], tmp_path: Path) -> None:
    """Every absolute path in a command (and the targets' pki_dir, for the master) lies on a
    volume that holds it: the root filesystem is read-only and holds none of them."""
    manifest = find(*kind_name)
    configmaps = {m.body["metadata"]["name"]: m.body for m in ALL_MANIFESTS if m.body["kind"] == "ConfigMap"}
    secrets = {m.body["metadata"]["name"]: m.body for m in ALL_MANIFESTS if m.body["kind"] == "Secret"}
    volumes = {v["name"]: _provided(v, configmaps, secrets) for v in pod_spec(manifest)["volumes"]}
    for command in container_commands(manifest):
        assert command.container["securityContext"]["readOnlyRootFilesystem"] is True
        paths = [a for a in command.argv if a.startswith("/")]
        if "--target" in command.argv:
            paths.append(str(load_model(TargetsFile, _config_file("targets.yaml", tmp_path)).pki_dir))
        mounts = command.container["volumeMounts"]
        for path in paths:
            mount = max((m for m in mounts if (path + "/").startswith(m["mountPath"].rstrip("/") + "/")),
                        key=lambda m: len(m["mountPath"]), default=None)
            assert mount is not None, f"{command}: {path} is on no volume"
            held = volumes[mount["name"]]
            relative = path[len(mount["mountPath"]):].strip("/")
            assert held is None or relative in {"", *held}, f"{command}: {path}: volume {mount['name']} holds only {held}"


def test_every_reference_names_something_that_exists() -> None:
    names = {(m.body["kind"], m.body["metadata"]["name"]) for m in ALL_MANIFESTS}
    secret_keys = set(find("Secret", "dientap-dry-run").body["stringData"])
    for manifest in ALL_MANIFESTS:
        if manifest.body["kind"] not in ("Job", "Deployment"):
            continue
        for volume in pod_spec(manifest)["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names, manifest.where
        for container in pod_spec(manifest)["containers"]:
            for env in container.get("env", []):
                ref = env["valueFrom"]["secretKeyRef"]
                assert ("Secret", ref["name"]) in names and ref["key"] in secret_keys, f"{manifest.where}: {env['name']}"


def test_every_container_runs_this_version_of_the_image() -> None:
    """A worker on another dientap version than the master's is refused: one image for all."""
    images = {c.container["image"] for c in all_container_commands()}
    assert images == {f"dientap:{__version__}"}


def test_kubectl_apply_of_the_directory_starts_the_run_but_not_the_gate() -> None:
    """`kubectl apply -f deploy/k8s/` reads that directory only (no -R): the gate, which must
    wait for the run, and the example Secret, which must never be applied, live below it."""
    top = {(m.body["kind"], m.body["metadata"]["name"]) for m in ALL_MANIFESTS if m.path.parent == K8S_DIR}
    assert ("Job", "dientap-master") in top and ("Deployment", "dientap-worker") in top
    assert ("Job", "dientap-gate") not in top and ("Secret", "dientap-dry-run") not in top
    assert yaml.safe_load((K8S_DIR / "examples" / "dry-run-secret.yaml").read_text(encoding="utf-8"))["kind"] == "Secret"
