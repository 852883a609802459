"""The load record (``load.json``): the counts a run recorded besides its histograms.

The load writes it at the end of a run, beside ``histograms/latency.hdr``; the summary
(:mod:`reports.summary_build`) is built from these two records and the roster, nothing
else. It holds what the histograms cannot: failures per (service, endpoint, province),
requests and failures per commune (never a metric label, so only here), the generator's
own health and how the run ended::

    LoadRecord
     ├── version, run_id, profile, started_at, ended_at   (epoch seconds)
     ├── key_failures [KeyFailures]    service, endpoint, province, failures
     ├── key_throttled [KeyThrottled]  service, endpoint, province, throttled (by the target:
     │                                 423/429 with Retry-After; never among the failures)
     ├── communes {code: CommuneCounts}   requests, failures
     ├── generator GeneratorHealth      (reports.summary)
     └── abort AbortInfo                (reports.summary)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field, model_validator

from reports._record import Count, Record, check_parts
from reports.run_files import atomic_write_text, load_record
from reports.summary import AbortInfo, GeneratorHealth

__all__ = ["LOAD_RECORD_FILE", "LOAD_RECORD_VERSION", "KeyFailures", "KeyThrottled", "CommuneCounts", "LoadRecord",
           "write_load_record", "load_load_record"]

LOAD_RECORD_FILE: Final = "load.json"
LOAD_RECORD_VERSION: Final = 1


class KeyFailures(Record):
    """Failed requests of one (service, endpoint, province)."""

    service: str
    endpoint: str
    province: str
    failures: Count


class KeyThrottled(Record):
    """Requests of one (service, endpoint, province) the target throttled (423/429 with a
    Retry-After): the target protecting itself, counted apart from its failures."""

    service: str
    endpoint: str
    province: str
    throttled: Count


class CommuneCounts(Record):
    """Requests and failures one commune's actors made."""

    requests: Count
    failures: Count

    @model_validator(mode="after")
    def _parts_of_the_requests(self) -> CommuneCounts:
        check_parts("requests", self.requests, failures=self.failures)
        return self


class LoadRecord(Record):
    """What a run recorded besides its latency histograms (see the module docstring)."""

    version: Literal[1] = LOAD_RECORD_VERSION
    run_id: str
    profile: str
    started_at: float
    ended_at: float
    key_failures: list[KeyFailures] = Field(default_factory=list)
    key_throttled: list[KeyThrottled] = Field(default_factory=list)  # absent from runs before #18: none counted
    communes: dict[str, CommuneCounts] = Field(default_factory=dict)
    generator: GeneratorHealth
    abort: AbortInfo = Field(default_factory=AbortInfo)

    def failures_by_key(self) -> dict[tuple[str, str, str], int]:
        """``key_failures`` as a mapping (service, endpoint, province) → failures."""
        return {(k.service, k.endpoint, k.province): k.failures for k in self.key_failures}

    def throttled_by_key(self) -> dict[tuple[str, str, str], int]:
        """``key_throttled`` as a mapping (service, endpoint, province) → throttled requests."""
        return {(k.service, k.endpoint, k.province): k.throttled for k in self.key_throttled}


def write_load_record(run_dir: str | Path, record: LoadRecord) -> Path:
    """Write ``run_dir/load.json`` atomically; returns its path."""
    return atomic_write_text(Path(run_dir) / LOAD_RECORD_FILE, record.model_dump_json(indent=1))


def load_load_record(run_dir: str | Path) -> LoadRecord:
    """Load ``run_dir/load.json``; problems become a ConfigError naming file and field."""
    return load_record(LoadRecord, Path(run_dir) / LOAD_RECORD_FILE)
