"""kernel.targets: the targets file — format errors, the allowlist, secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.errors import ConfigError, TargetNotAllowed
from kernel.pki import DryRunCA
from kernel.targets import load_targets


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(text, encoding="utf-8")
    return path


LOOPBACK = """\
name: rehearsal
portal: {base_url: "http://127.0.0.1:8701/"}
population: {base_url: "http://127.0.0.1:8702"}
axis: {base_url: "http://[::1]:8703"}
credentials: {secret_env: REHEARSAL_SECRET, admin_token_env: REHEARSAL_ADMIN}
"""


@pytest.fixture(autouse=True)
def _rehearsal_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOOPBACK names REHEARSAL_SECRET, and a variable the file names must be set."""
    monkeypatch.setenv("REHEARSAL_SECRET", "s3cret-from-env")


def test_a_loopback_targets_file_resolves_urls_and_reads_secrets_from_the_named_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REHEARSAL_SECRET", "s3cret-from-env")
    monkeypatch.setenv("REHEARSAL_ADMIN", "admin-from-env")
    target = load_targets(_write(tmp_path, LOOPBACK))
    assert target.name == "rehearsal" and target.kind == "file"
    assert target.urls == {"portal": "http://127.0.0.1:8701", "population": "http://127.0.0.1:8702",
                           "axis": "http://[::1]:8703"}
    assert target.dry_run_secret == "s3cret-from-env" and target.admin_token == "admin-from-env"
    # What provenance records holds no secret, and neither does the repr.
    shown = f"{target.describe()} {target!r}"
    assert "s3cret-from-env" not in shown and "admin-from-env" not in shown


def test_without_secret_env_the_dry_run_secret_is_dientaps_own_variable_else_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIENTAP_DRY_RUN_SECRET", raising=False)
    monkeypatch.delenv("REHEARSAL_ADMIN", raising=False)
    unnamed = LOOPBACK.replace("secret_env: REHEARSAL_SECRET, ", "")
    target = load_targets(_write(tmp_path, unnamed))
    assert target.dry_run_secret == DEFAULT_DRY_RUN_SECRET and target.admin_token is None
    monkeypatch.setenv("DIENTAP_DRY_RUN_SECRET", "the-teams-own")
    assert load_targets(_write(tmp_path, unnamed)).dry_run_secret == "the-teams-own"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_a_secret_env_the_file_names_must_hold_a_secret_never_the_public_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("REHEARSAL_SECRET", raising=False)
    else:
        monkeypatch.setenv("REHEARSAL_SECRET", value)
    with pytest.raises(ConfigError) as refused:
        load_targets(_write(tmp_path, LOOPBACK))
    [problem] = refused.value.problems
    assert problem.field == "credentials.secret_env" and "targets.yaml" in problem.file
    assert "environment variable REHEARSAL_SECRET is not set" in problem.message


@pytest.mark.parametrize(("url", "says"), [
    ("http://[::1", "is not a URL (Invalid IPv6 URL)"),
    ("http://127.0.0.1:99999", "has port '99999'"),
    ("http://127.0.0.1:abc", "has port 'abc'"),
    ("http://127.0.0.1:0", "has port '0'"),
    ("https://[::1]:+443/api", "has port '+443'"),
])
def test_a_base_url_that_does_not_parse_or_has_no_usable_port_names_the_field_and_what_is_accepted(
    tmp_path: Path, url: str, says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_targets(_write(tmp_path, LOOPBACK.replace("http://127.0.0.1:8701/", url)))
    [problem] = refused.value.problems
    assert (problem.field, problem.line) == ("portal.base_url", 2)
    assert problem.message == f"{url!r} {says}; give http(s)://HOST[:PORT][/PATH] with a PORT from 1 to 65535"


def test_ports_from_1_to_65535_and_ipv6_hosts_are_accepted(tmp_path: Path) -> None:
    text = LOOPBACK.replace("127.0.0.1:8701/", "127.0.0.1:65535/").replace("127.0.0.1:8702", "localhost:1")
    assert load_targets(_write(tmp_path, text)).urls == {
        "portal": "http://127.0.0.1:65535", "population": "http://localhost:1", "axis": "http://[::1]:8703"}


def _with_pki(tmp_path: Path, pki_dir: str) -> Path:
    return _write(tmp_path, LOOPBACK.replace("credentials: {secret_env: REHEARSAL_SECRET, admin_token_env: REHEARSAL_ADMIN}\n",
                                             f'pki_dir: "{pki_dir}"\n'))


def test_a_pki_dir_must_already_hold_a_dry_run_ca_and_none_is_created_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    cases = {str(tmp_path / "absent" / "pki"): "is not a directory", str(tmp_path / "empty"): "ca.pem and ca.key missing",
             "": "empty; give the directory that holds the dry-run CA (ca.pem and ca.key)"}
    for pki_dir, says in cases.items():
        with pytest.raises(ConfigError) as refused:
            load_targets(_with_pki(tmp_path, pki_dir))
        [problem] = refused.value.problems
        assert problem.field == "pki_dir" and says in problem.message, (pki_dir, problem)
    # Nothing was created: not the directory, not a key in it, not a key in the working directory.
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["empty", "targets.yaml"]


def test_a_pki_dir_holding_a_ca_is_accepted_and_a_broken_one_is_named(tmp_path: Path) -> None:
    DryRunCA.load_or_create(tmp_path / "pki")
    assert load_targets(_with_pki(tmp_path, str(tmp_path / "pki"))).pki_dir == tmp_path / "pki"
    (tmp_path / "pki" / "ca.key").write_text("not a key\n")
    with pytest.raises(ConfigError) as refused:
        load_targets(_with_pki(tmp_path, str(tmp_path / "pki")))
    [problem] = refused.value.problems
    assert problem.field == "pki_dir" and "ca.key: not an unencrypted PEM key" in problem.message


def test_hosts_off_the_allowlist_are_refused_naming_every_service(tmp_path: Path) -> None:
    path = _write(tmp_path, LOOPBACK.replace("127.0.0.1:8701/", "dvc.example.vn").replace("[::1]:8703", "truc.example.vn"))
    with pytest.raises(TargetNotAllowed) as refused:
        load_targets(path)
    message = str(refused.value)
    assert "portal.base_url" in message and "'dvc.example.vn'" in message
    assert "axis.base_url" in message and "'truc.example.vn'" in message
    assert "population.base_url" not in message
    # Each refused URL is also a problem of its own, for callers that list them one per line.
    assert [(p.field, "targets.yaml" in p.file) for p in refused.value.problems] == [
        ("portal.base_url", True), ("axis.base_url", True)]


def test_allow_hosts_in_the_file_or_on_the_command_line_admit_a_host(tmp_path: Path) -> None:
    remote = LOOPBACK.replace("127.0.0.1:8701/", "dvc.example.vn")
    assert load_targets(_write(tmp_path, remote), extra_allow_hosts=("dvc.example.vn",)).urls["portal"] == (
        "http://dvc.example.vn")
    in_file = load_targets(_write(tmp_path, "allow_hosts: [dvc.example.vn]\n" + remote))
    assert in_file.allow_hosts == ("dvc.example.vn",)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (LOOPBACK.replace("http://127.0.0.1:8702", "ftp://127.0.0.1:8702"), "population.base_url"),
        (LOOPBACK.replace("axis: {base_url: \"http://[::1]:8703\"}\n", ""), "axis"),
        (LOOPBACK + "portl: {base_url: http://127.0.0.1:1}\n", "portl"),
        (LOOPBACK.replace("REHEARSAL_SECRET", "lower-case"), "credentials.secret_env"),
    ],
)
def test_format_errors_name_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_targets(_write(tmp_path, text))
    assert "targets.yaml" in str(bad.value) and field in str(bad.value)


def test_each_service_names_the_shape_it_speaks_native_by_default(tmp_path: Path) -> None:
    text = LOOPBACK.replace('"http://127.0.0.1:8701/"}', '"http://127.0.0.1:8701/", protocol: dvcqg-adapter}')
    target = load_targets(_write(tmp_path, text))
    assert target.protocols == {"portal": "dvcqg-adapter", "population": "native", "axis": "native"}
    assert target.describe()["protocols"] == target.protocols


def test_a_shape_the_service_does_not_speak_is_refused_naming_the_field_and_the_shapes_there_are(tmp_path: Path) -> None:
    # c06-soap is the population database's shape, not the axis's.
    text = LOOPBACK.replace('"http://[::1]:8703"}', '"http://[::1]:8703", protocol: c06-soap}')
    with pytest.raises(ConfigError) as refused:
        load_targets(_write(tmp_path, text))
    message = str(refused.value)
    assert "axis.protocol" in message and "'native'" in message and "'vdxp'" in message
