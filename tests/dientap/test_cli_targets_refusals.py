"""A targets file that names what cannot be used — a base URL that does not parse or has no
usable port, a pki_dir that holds no dry-run CA, a secret variable that is not set — is one
``ERROR:`` line naming the field at its line, exit 3, before anything starts: no process, no socket, no
run directory, and no CA created where the file points (``run_audited`` watches)."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.errors import ExitCode

SERVICES = """\
portal: {base_url: "PORTAL"}
population: {base_url: "http://127.0.0.1:8702"}
axis: {base_url: "http://127.0.0.1:8703"}
"""

# name → (what the file adds or changes, what the one ERROR: line must say)
FILES: dict[str, tuple[str, list[str]]] = {
    "ipv6-unclosed": ('PORTAL=http://[::1', ["portal.base_url: 'http://[::1' is not a URL", "PORT from 1 to 65535"]),
    "port-too-high": ("PORTAL=http://127.0.0.1:99999", ["portal.base_url: 'http://127.0.0.1:99999' has port '99999'"]),
    "port-word": ("PORTAL=http://127.0.0.1:abc", ["portal.base_url: 'http://127.0.0.1:abc' has port 'abc'"]),
    "pki-absent": ("pki_dir: absent/pki", [":4: pki_dir: 'absent/pki' is not a directory", "ca.pem and ca.key"]),
    "pki-empty-path": ('pki_dir: ""', [":4: pki_dir: empty; give the directory that holds the dry-run CA"]),
    "secret-unset": ("credentials: {secret_env: DIENTAP_TEST_NEVER_SET_SECRET}",
                     [":4: credentials.secret_env: environment variable DIENTAP_TEST_NEVER_SET_SECRET is not set"]),
}


def _text(change: str) -> str:
    if change.startswith("PORTAL="):
        return SERVICES.replace("PORTAL", change.removeprefix("PORTAL="))
    return SERVICES.replace("PORTAL", "http://127.0.0.1:8701") + change + "\n"


@pytest.fixture(scope="module")
def refused(run_audited, tmp_path_factory) -> dict[str, Any]:
    """Each file through `dientap validate` and `dientap run`, in one audited process."""
    cwd = tmp_path_factory.mktemp("targets-refusals")
    for name, (change, _) in FILES.items():
        (cwd / f"{name}.yaml").write_text(_text(change), encoding="utf-8")
    argvs = {(name, command): (["validate", f"{name}.yaml"] if command == "validate" else
                               ["run", "smoke", "--target", f"{name}.yaml", "--out", "runs", "--no-board"])
             for name in FILES for command in ("validate", "run")}
    return dict(zip(argvs, run_audited(list(argvs.values()), cwd=cwd), strict=True))


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", list(FILES))
def test_a_targets_file_naming_what_cannot_be_used_is_one_error_line_exit_3_and_nothing_starts(refused, name, command):
    run = refused[(name, command)]
    lines = run.err.strip().splitlines()
    assert run.code == ExitCode.CONFIG_ERROR, run
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {name}.yaml"), run.err
    for part in FILES[name][1]:
        assert part in lines[0], (part, lines[0])
    assert "Traceback" not in run.err
    assert run.events == [], f"started or opened {run.events} before refusing"
    # No run directory, no absent/pki, no ca.key in the working directory.
    assert run.files == sorted(f"{n}.yaml" for n in FILES), run.files
