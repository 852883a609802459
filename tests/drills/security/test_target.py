"""Checks run only against allowlisted targets."""

from __future__ import annotations

import pytest

from drills.security import SecurityTarget, run_suite, select_checks, target_from_file
from kernel.errors import ConfigError, TargetNotAllowed

URLS = {"portal": "http://127.0.0.1:1", "population": "http://127.0.0.1:2", "axis": "https://staging-truc.example.vn"}


def test_a_host_outside_the_allowlist_is_refused_before_any_request() -> None:
    target = SecurityTarget(name="staging", kind="file", urls=URLS)
    with pytest.raises(TargetNotAllowed, match="'staging-truc.example.vn' is not on the allowlist.*--allow-host"):
        run_suite(target, select_checks(["auth.lockout"]))


def test_a_named_host_is_allowed() -> None:
    SecurityTarget(name="staging", kind="file", urls=URLS, allow_hosts=("staging-truc.example.vn",)).check_allowed()


def test_targets_file_is_checked_against_the_allowlist(tmp_path) -> None:
    path = tmp_path / "staging.yaml"
    path.write_text("portal: {base_url: https://staging-dvc.example.vn}\n"
                    "population: {base_url: http://127.0.0.1:8702}\naxis: {base_url: http://127.0.0.1:8703}\n")
    # kernel.targets raises TargetNotAllowed (ConfigError in older versions); both name the field.
    with pytest.raises((ConfigError, TargetNotAllowed),
                       match="portal.base_url: host 'staging-dvc.example.vn' is not on the allowlist"):
        target_from_file(path)
    target = target_from_file(path, extra_allow_hosts=("staging-dvc.example.vn",))
    assert target.urls["portal"] == "https://staging-dvc.example.vn" and not target.knows_signing_keys
    target.check_allowed()
