"""Reading deploy/k8s/ and the Containerfile for the tests: the documents, the commands their
containers run, and which of those commands' flags the real ``dientap`` parser does not know."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
CONTAINERFILE = ROOT / "Containerfile"
# The image's ENTRYPOINT; a container with no `command:` of its own runs it with its `args:`.
ENTRYPOINT = ("dientap",)
POD_KINDS = {"Job", "Deployment"}


@dataclass(frozen=True)
class Manifest:
    """One document of one file under deploy/k8s/."""

    path: Path
    index: int
    body: dict[str, Any]

    @property
    def where(self) -> str:
        """``deploy/k8s/workers.yaml: Deployment/dientap-worker``: how a failure names it."""
        return f"{self.path.relative_to(ROOT)}: {self.body.get('kind')}/{self.body.get('metadata', {}).get('name')}"


@dataclass(frozen=True)
class ContainerCommand:
    """What one container (or the image's own ENTRYPOINT + CMD) runs."""

    where: str
    container: dict[str, Any]
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: `{' '.join(self.argv)}`"


def manifest_files() -> list[Path]:
    """Every YAML file under deploy/k8s/, examples and the gate included."""
    return sorted(p for p in K8S_DIR.rglob("*") if p.suffix in (".yaml", ".yml"))


def manifests() -> list[Manifest]:
    """Every non-empty document of every manifest file."""
    found = []
    for path in manifest_files():
        for index, body in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if body:
                found.append(Manifest(path, index, body))
    return found


def find(kind: str, name: str) -> Manifest:
    """The one manifest of that kind and name."""
    matches = [m for m in manifests() if m.body.get("kind") == kind and m.body["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name} under deploy/k8s/, found {len(matches)}"
    return matches[0]


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    """The pod template's spec of a Job or a Deployment."""
    return manifest.body["spec"]["template"]["spec"]


def container_commands(manifest: Manifest) -> Iterator[ContainerCommand]:
    """The command of every container and init container of a Job's or a Deployment's pods."""
    if manifest.body.get("kind") not in POD_KINDS:
        return
    spec = pod_spec(manifest)
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        argv = (*container.get("command", ENTRYPOINT), *container.get("args", []))
        yield ContainerCommand(f"{manifest.where} container {container['name']}", container, tuple(str(a) for a in argv))


def all_container_commands() -> list[ContainerCommand]:
    """Every container command of every manifest."""
    return [command for manifest in manifests() for command in container_commands(manifest)]


def containerfile_command(text: str | None = None) -> ContainerCommand:
    """The image's default command: its last ENTRYPOINT and CMD (exec form), joined."""
    text = CONTAINERFILE.read_text(encoding="utf-8") if text is None else text
    found: dict[str, list[str]] = {}
    for instruction in ("ENTRYPOINT", "CMD"):
        lines = re.findall(rf"^{instruction}\s+(\[.*\])\s*$", text, re.MULTILINE)
        if lines:
            found[instruction] = json.loads(lines[-1])
    assert found.get("ENTRYPOINT") == list(ENTRYPOINT), f"Containerfile: ENTRYPOINT {found.get('ENTRYPOINT')}, not {ENTRYPOINT}"
    return ContainerCommand("Containerfile: ENTRYPOINT + CMD", {}, (*found["ENTRYPOINT"], *found.get("CMD", [])))


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse has no public way to list a parser's options or subparsers; _actions is the
    # attribute every argparse introspection tool reads.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def flag_problems(command: ContainerCommand, parser: argparse.ArgumentParser) -> list[str]:
    """Every flag of ``command`` that its ``dientap`` subcommand does not register, by its exact
    name (argparse would accept a unique prefix of a longer flag; a manifest must not rely on
    that: the prefix breaks the day another flag shares it). One line per problem, naming the
    manifest, the command and the flag."""
    argv = command.argv
    if tuple(argv[: len(ENTRYPOINT)]) != ENTRYPOINT:
        return [f"{command}: does not run {' '.join(ENTRYPOINT)}"]
    subcommands = _subcommands(parser)
    options, name, problems = _option_strings(parser), "dientap", []
    for token in argv[len(ENTRYPOINT):]:
        if name == "dientap" and token in subcommands:
            options, name = _option_strings(subcommands[token]), f"dientap {token}"
            continue
        if not token.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", token):
            continue  # a value or a positional (a negative number is a value too)
        flag = token.split("=", 1)[0]
        if flag not in options:
            problems.append(f"{command}: {flag} is not an option of `{name}` (it has: {', '.join(sorted(options))})")
    if name == "dientap" and not any(t in ("-h", "--help", "--version") for t in argv):
        problems.append(f"{command}: names no dientap subcommand (known: {', '.join(sorted(subcommands))})")
    return problems


def option_values(argv: tuple[str, ...], flag: str) -> list[str]:
    """The values given to ``flag`` in ``argv`` (``--flag VALUE`` or ``--flag=VALUE``), in order."""
    values = []
    for i, token in enumerate(argv):
        if token == flag and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif token.startswith(flag + "="):
            values.append(token.split("=", 1)[1])
    return values
