"""Run provenance: who ran what, where and when — the first thing in every journal.

Declared once, built once: :func:`build_provenance` is the only place a
:class:`Provenance` is assembled, whoever writes the journal (the load at the end of a
run, a drill's own journal, a security-only run, an interrupted run). It stamps the
dientap version, normalises the target kind, sorts the services and strips secrets from
their URLs, so two journals of the same run never disagree about where it went.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel import __version__

__all__ = ["TargetKind", "TargetService", "TargetInfo", "Provenance", "build_provenance"]

TargetKind = Literal["embedded", "file", "url"]
_TARGET_KINDS: dict[str, TargetKind] = {"embedded": "embedded", "file": "file", "url": "url"}


class _Record(BaseModel):
    # Journal records reject unknown keys (a typo in a hand-edited journal does not pass).
    # NaN and infinities are refused as in every run record (reports._record.Record): a NaN scale
    # is no run's, and JSON has neither.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TargetService(_Record):
    """One system under test: its name (``portal``, ``population``, ``axis``) and base URL.

    User info (``user:password@``), query and fragment are stripped from the URL.
    """

    name: str
    base_url: str

    @field_validator("base_url")
    @classmethod
    def _strip_secrets(cls, value: str) -> str:
        # Credentials come from the environment and must never reach a journal or report;
        # stripping (rather than rejecting) keeps them out of error messages too.
        parts = urlsplit(value)
        if parts.username or parts.password or parts.query or parts.fragment:
            host = parts.hostname or ""
            netloc = f"[{host}]" if ":" in host else host
            if parts.port:
                netloc += f":{parts.port}"
            return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return value


class TargetInfo(_Record):
    """What the run aimed at: ``embedded`` mocks or a targets file, without secrets."""

    kind: TargetKind
    name: str | None = None  # e.g. the targets file name or "staging"
    services: list[TargetService] = Field(default_factory=list)


class Provenance(_Record):
    """Who ran what, where and when — the first thing in a journal."""

    dientap_version: str
    run_id: str
    profile: str
    seed: int
    scale: float = 1.0
    target: TargetInfo
    hosts: list[str] = Field(default_factory=list)  # load-generator hosts
    workers: int = 1
    started_at: datetime
    ended_at: datetime | None = None
    command_line: list[str] = Field(default_factory=list)
    prometheus_url: str | None = None


def build_provenance(
    *,
    run_id: str,
    profile: str,
    seed: int,
    target_kind: str,
    started_at: datetime,
    target_name: str | None = None,
    urls: Mapping[str, str] | None = None,
    scale: float = 1.0,
    workers: int = 1,
    hosts: Sequence[str] = (),
    ended_at: datetime | None = None,
    command_line: Sequence[str] = (),
    prometheus_url: str | None = None,
) -> Provenance:
    """The provenance of one run. ``target_kind`` is ``embedded``, ``url`` or anything
    else for a targets file (a run config's kinds); ``urls`` maps service → base URL."""
    return Provenance(
        dientap_version=__version__,
        run_id=run_id,
        profile=profile,
        seed=seed,
        scale=scale,
        target=TargetInfo(
            kind=_TARGET_KINDS.get(target_kind, "file"),
            name=target_name,
            services=[TargetService(name=name, base_url=url) for name, url in sorted((urls or {}).items())],
        ),
        hosts=list(hosts),
        workers=max(1, workers),
        started_at=started_at,
        ended_at=ended_at,
        command_line=list(command_line),
        prometheus_url=prometheus_url,
    )
