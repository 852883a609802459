"""The shared run defaults are one fact: every part that takes a seed or a population size
starts from kernel.defaults, so changing it there changes it everywhere."""

from __future__ import annotations

import inspect

from dientap.cli import build_parser
from kernel.defaults import POPULATION_SIZE, SEED


def test_every_command_and_settings_object_starts_from_the_shared_defaults() -> None:
    from dientap.orchestration.dryrun import DryRunOptions
    from dientap.orchestration.mockcluster import MockClusterConfig
    from drills.security.target import SecurityTarget, target_from_file
    from mocks.__main__ import _parser as mocks_parser
    from mocks.core.settings import ServiceSettings
    from scenarios.runconfig import RunConfig

    seen = {
        "DryRunOptions": (DryRunOptions().seed, DryRunOptions().population_size),
        "MockClusterConfig": (MockClusterConfig().seed, MockClusterConfig().population_size),
        "ServiceSettings": (ServiceSettings.model_fields["seed"].default,
                            ServiceSettings.model_fields["population_size"].default),
        "RunConfig": (RunConfig.model_fields["seed"].default, RunConfig.model_fields["population_size"].default),
        "SecurityTarget": (SecurityTarget.__dataclass_fields__["seed"].default,
                           SecurityTarget.__dataclass_fields__["population_size"].default),
        "target_from_file": (inspect.signature(target_from_file).parameters["seed"].default,
                             inspect.signature(target_from_file).parameters["population_size"].default),
    }
    serve = mocks_parser().parse_args(["serve", "portal"])
    seen["python -m mocks serve"] = (serve.seed, serve.population_size)
    for command in (["run"], ["drill", "population-outage"], ["security"], ["mocks"]):
        args = build_parser().parse_args(command)
        seen[f"dientap {command[0]}"] = (args.seed, args.population_size)
    assert {where: value for where, value in seen.items() if value != (SEED.default, POPULATION_SIZE.default)} == {}
