"""kernel.provenance: one builder for every journal's provenance."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel import __version__
from kernel.provenance import Provenance, TargetInfo, TargetService, build_provenance

T0 = datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


def test_the_builder_stamps_the_version_sorts_services_and_strips_secrets() -> None:
    p = build_provenance(run_id="r1", profile="smoke", seed=3, target_kind="file", target_name="staging.yaml",
                         urls={"portal": "https://u:pw@dvc.example.vn/api?token=x", "axis": "https://truc.example.vn"},
                         workers=2, started_at=T0)
    assert p.dientap_version == __version__
    assert p.target == TargetInfo(kind="file", name="staging.yaml", services=[
        TargetService(name="axis", base_url="https://truc.example.vn"),
        TargetService(name="portal", base_url="https://dvc.example.vn/api"),
    ])
    assert "pw" not in p.model_dump_json() and "token" not in p.model_dump_json()
    assert p.workers == 2 and p.ended_at is None


def test_run_config_kinds_other_than_embedded_and_url_are_journalled_as_a_targets_file() -> None:
    kinds = {k: build_provenance(run_id="r", profile="p", seed=1, target_kind=k, started_at=T0).target.kind
             for k in ("embedded", "url", "file", "targets")}
    assert kinds == {"embedded": "embedded", "url": "url", "file": "file", "targets": "file"}


def test_workers_count_at_least_one_and_the_record_round_trips() -> None:
    p = build_provenance(run_id="r", profile="p", seed=1, target_kind="embedded", workers=0, started_at=T0,
                         command_line=("dientap", "run", "smoke"), hosts=("gen-1",))
    assert p.workers == 1 and p.command_line == ["dientap", "run", "smoke"] and p.hosts == ["gen-1"]
    assert Provenance.model_validate_json(p.model_dump_json()) == p
