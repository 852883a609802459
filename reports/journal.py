"""The records of a run directory — the single source of truth for ``journal.json`` and
``summary.json``.

Scenarios and drills *write* these records; reports, the gate and the CLI *read* them.
Every record is a pydantic model, so a file written by one part is validated by the
next. JSON → model → JSON round-trips exactly (``model_dump_json`` of a loaded file
equals the dump of the model that wrote it).

Run directory (``runs/<run-id>/``)::

    journal.json      Journal   provenance, timeline, per-bucket latency series,
                                optional drill result and security scorecard
    summary.json      Summary   whole-run figures (issue #3): endpoints, provinces,
                                communes, generator health, abort
    histograms/*.hdr            encoded HDR histograms (written by scenarios)
    gate.json         (reports.gate.GateResult, written by ``dientap gate``)
    report.html                 rendered by ``reports.html.render_report``
    runs/latest   →  newest run directory (:func:`update_latest_symlink`)

Journal (``JOURNAL_VERSION`` = 1)::

    Journal
     ├── version: 1
     ├── provenance: Provenance     dientap version, run_id, profile, seed, scale, target
     │                              (kind + service names and base URLs, never secrets),
     │                              hosts, workers, started_at, ended_at, command line
     ├── events: [JournalEvent]     t (ISO time), offset_s from start, kind
     │                              (phase | fault_start | fault_stop | abort | drill_step |
     │                              security_check | note | generator_lag), name, status,
     │                              detail {str: str|int|float|bool|None};
     │                              drill_step also: end_t, output, error
     │                              (helpers: Journal.add_event, Journal.step)
     ├── timeseries: Timeseries     bucket_s + one LatencySeries per (service, endpoint):
     │                              samples [LatencySample: offset_s, count, failures,
     │                              p50/p95/p99 ms, intended p95/p99 ms]
     ├── drill: DrillResult | None  hypothesis checks, faults, reconciliation rows,
     │                              recovery_time_s, verdict
     └── security: SecurityScorecard | None   checks {id, title, owasp, verdict, evidence,
                                    detected_after_s}

The journal holds *aggregates* (per-bucket percentiles), never one row per request, so
a run of millions of requests still renders in seconds.

Summary (``SUMMARY_VERSION`` = 1) — exactly the figures of issue #3::

    Summary
     ├── run_id, profile, duration_s
     ├── requests {total, failed, rps, intended_total?}
     ├── endpoints [EndpointStats]   service, name, count, failures, p50/p95/p99/p999/max ms
     │                               (send-time latency) and ``intended`` (the same
     │                               percentiles from the intended start time), intended_count?
     ├── endpoint_provinces [EndpointProvinceStats]   optional: the same per province
     ├── provinces [ProvinceSummary] code, name, communes_total, communes_active, requests,
     │                               failures, p95_ms, checks {sign_in, catalogue,
     │                               dossier_submit, status_sync, population_lookup,
     │                               document_exchange: CheckFigure | None}
     ├── communes {total, active, with_failures, worst [CommuneStats]}
     ├── generator {trustworthy, reasons, max_schedule_lag_ms, cpu_percent {worker: %}}
     └── abort {aborted, reason, at_offset_s?}

The summary models live in :mod:`reports.summary` and are re-exported here, so every
record can be imported from this one module.

Writing is atomic (temporary file + ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, ValidationError, field_validator

from dientap.configfile import field_path
from dientap.errors import ConfigError, ConfigProblem
from reports._record import Record as _Record
from reports.summary import (
    READINESS_CHECKS,
    SUMMARY_VERSION,
    AbortInfo,
    CheckFigure,
    CommunesSummary,
    CommuneStats,
    EndpointProvinceStats,
    EndpointStats,
    GeneratorHealth,
    LatencyPercentiles,
    ProvinceChecks,
    ProvinceSummary,
    RequestTotals,
    Summary,
)

__all__ = [
    "JOURNAL_VERSION",
    "SUMMARY_VERSION",
    "JOURNAL_FILE",
    "SUMMARY_FILE",
    "READINESS_CHECKS",
    "DetailValue",
    "EventKind",
    "Verdict",
    "TargetService",
    "TargetInfo",
    "Provenance",
    "JournalEvent",
    "LatencySample",
    "LatencySeries",
    "Timeseries",
    "HypothesisCheck",
    "FaultWindow",
    "ReconciliationRow",
    "DrillResult",
    "EvidenceExcerpt",
    "SecurityCheckResult",
    "SecurityScorecard",
    "Journal",
    "RequestTotals",
    "LatencyPercentiles",
    "EndpointStats",
    "EndpointProvinceStats",
    "CheckFigure",
    "ProvinceChecks",
    "ProvinceSummary",
    "CommuneStats",
    "CommunesSummary",
    "GeneratorHealth",
    "AbortInfo",
    "Summary",
    "atomic_write_text",
    "write_journal",
    "write_summary",
    "write_run_dir",
    "load_journal",
    "load_record",
    "load_summary",
    "update_latest_symlink",
]

JOURNAL_VERSION = 1
JOURNAL_FILE = "journal.json"
SUMMARY_FILE = "summary.json"

DetailValue = str | int | float | bool | None
EventKind = Literal[
    "phase", "fault_start", "fault_stop", "abort", "drill_step", "security_check", "note", "generator_lag"
]
Verdict = Literal["PASS", "FAIL", "ERROR"]



# --------------------------------------------------------------------------- provenance


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

    kind: Literal["embedded", "file", "url"]
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


# --------------------------------------------------------------------------- timeline


class JournalEvent(_Record):
    """One point (or step) on the run's timeline.

    ``t`` is the wall-clock start, ``offset_s`` the seconds since ``provenance.started_at``.
    Drill steps (Chaos-Toolkit style) also carry ``end_t``, ``output`` and ``error``; the
    writer sets ``end_t`` in a ``finally:`` so a failed step still has an end.
    Conventional ``status`` values: ``started``, ``ok``, ``failed``, ``error``, ``skipped``.
    """

    t: datetime
    offset_s: float
    kind: EventKind
    name: str
    status: str | None = None
    detail: dict[str, DetailValue] = Field(default_factory=dict)
    end_t: datetime | None = None
    output: str | None = None
    error: str | None = None


class LatencySample(_Record):
    """Aggregates of one time bucket for one (service, endpoint).

    ``offset_s`` is the bucket start since the run start. Percentiles are ``None`` in
    a bucket without responses. ``intended_*`` measure from the intended start time
    (coordinated omission corrected); ``None`` when the generator did not record it.
    """

    offset_s: float
    count: int = Field(ge=0)
    failures: int = Field(ge=0)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    intended_p95_ms: float | None = None
    intended_p99_ms: float | None = None


class LatencySeries(_Record):
    """The per-bucket samples of one endpoint, ordered by ``offset_s``."""

    service: str
    endpoint: str
    samples: list[LatencySample] = Field(default_factory=list)


class Timeseries(_Record):
    """All latency series of a run; every bucket is ``bucket_s`` seconds wide."""

    bucket_s: float = Field(default=1.0, gt=0)
    series: list[LatencySeries] = Field(default_factory=list)


# --------------------------------------------------------------------------- drills


class HypothesisCheck(_Record):
    """One steady-state probe evaluation (before, during or after the faults)."""

    phase: Literal["before", "during", "after"]
    probe: str  # e.g. "portal p95 < 800 ms"
    offset_s: float | None = None
    expected: str
    measured: str
    ok: bool


class FaultWindow(_Record):
    """A fault that was active on the load timeline (offsets since run start)."""

    name: str
    kind: str  # latency | error | reset | hang | outage | kill | pause | toxic name ...
    target: str  # service, route, province ...
    start_offset_s: float
    end_offset_s: float | None = None  # None: never removed (the report flags it)
    detail: dict[str, DetailValue] = Field(default_factory=dict)


class ReconciliationRow(_Record):
    """Ledger comparison of one item kind (Jepsen queue-checker vocabulary)."""

    item_kind: str  # dossiers | documents | receipts | payments ...
    ok: int = Field(ge=0)
    lost: int = Field(ge=0)
    duplicated: int = Field(ge=0)
    unexpected: int = Field(ge=0)
    recovered: int = Field(ge=0)
    lost_ids: list[str] = Field(default_factory=list)


class DrillResult(_Record):
    """Outcome of a fault drill: what was injected, what held, what was lost."""

    name: str
    title: str
    verdict: Verdict
    hypothesis: list[HypothesisCheck] = Field(default_factory=list)
    faults: list[FaultWindow] = Field(default_factory=list)
    reconciliation: list[ReconciliationRow] = Field(default_factory=list)
    recovery_time_s: float | None = None
    expectations: list[str] = Field(default_factory=list)  # one line per broken expectation
    error: str | None = None


# --------------------------------------------------------------------------- security


class EvidenceExcerpt(_Record):
    """A request/response pair that shows a verdict, with secrets already redacted."""

    request: str
    response: str
    note: str | None = None


class SecurityCheckResult(_Record):
    """One security check: verdict plus the evidence a security team can act on."""

    id: str
    title: str
    owasp: str  # e.g. "API2:2023 Broken Authentication" or a domain rule
    verdict: Verdict
    summary: str = ""  # one-line evidence for the console and the scorecard
    evidence: list[EvidenceExcerpt] = Field(default_factory=list)
    detected_after_s: float | None = None  # when the target started refusing/alerting
    phase: str | None = None  # incident-handling phase (Circular 20/2017), when simulated


class SecurityScorecard(_Record):
    """All security checks of a run."""

    checks: list[SecurityCheckResult] = Field(default_factory=list)


class Journal(_Record):
    """Everything that happened in a run, in aggregated form (see the module docstring)."""

    version: Literal[1] = JOURNAL_VERSION
    provenance: Provenance
    events: list[JournalEvent] = Field(default_factory=list)
    timeseries: Timeseries = Field(default_factory=Timeseries)
    drill: DrillResult | None = None
    security: SecurityScorecard | None = None

    def add_event(self, kind: EventKind, name: str, *, status: str | None = None, t: datetime | None = None,
                  **detail: DetailValue) -> JournalEvent:
        """Append an event at ``t`` (default: now, UTC); ``offset_s`` is computed from the start."""
        t = t or datetime.now(timezone.utc)
        event = JournalEvent(t=t, offset_s=round((t - self.provenance.started_at).total_seconds(), 6), kind=kind,
                             name=name, status=status, detail=detail)
        self.events.append(event)
        return event

    @contextmanager
    def step(self, name: str, *, kind: EventKind = "drill_step", **detail: DetailValue) -> Iterator[JournalEvent]:
        """Record one step (Chaos Toolkit style): start now, end in ``finally:``, status and error.

        The body may set ``event.output`` (and ``event.status``, e.g. ``"failed"``); an
        exception sets ``status="error"`` and ``error`` and propagates::

            with journal.step("kill portal", signal="SIGKILL") as step:
                step.output = restart_portal()
        """
        event = self.add_event(kind, name, status="started", **detail)
        try:
            yield event
            if event.status == "started":
                event.status = "ok"
        except BaseException as exc:
            event.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            event.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            event.end_t = datetime.now(timezone.utc)


# --------------------------------------------------------------------------- files

M = TypeVar("M", bound=BaseModel)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same directory + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_journal(run_dir: str | Path, journal: Journal) -> Path:
    """Write ``run_dir/journal.json`` atomically; returns its path."""
    return atomic_write_text(Path(run_dir) / JOURNAL_FILE, journal.model_dump_json(indent=1))


def write_summary(run_dir: str | Path, summary: Summary) -> Path:
    """Write ``run_dir/summary.json`` atomically; returns its path."""
    return atomic_write_text(Path(run_dir) / SUMMARY_FILE, summary.model_dump_json(indent=1))


def write_run_dir(run_dir: str | Path, journal: Journal, summary: Summary | None = None) -> Path:
    """Write the journal (and the summary, when given) into ``run_dir``; returns ``run_dir``."""
    run_dir = Path(run_dir)
    write_journal(run_dir, journal)
    if summary is not None:
        write_summary(run_dir, summary)
    return run_dir


def load_record(model: type[M], path: str | Path) -> M:
    """Read one JSON record file; problems become a ConfigError naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:  # a corrupt file can yield thousands; the first say enough
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            if err["loc"] == ("version",) and err["type"] == "literal_error":
                message = f"unsupported version {err['input']!r}; this dientap reads version 1"
            problems.append(ConfigProblem(str(path), None, field_path(err["loc"]), message))
        raise ConfigError(problems) from None


def load_journal(run_dir: str | Path) -> Journal:
    """Load ``run_dir/journal.json`` (or the ``.json`` file itself when given one)."""
    path = Path(run_dir)
    return load_record(Journal, path if path.suffix == ".json" else path / JOURNAL_FILE)


def load_summary(run_dir: str | Path) -> Summary:
    """Load ``run_dir/summary.json`` (or the ``.json`` file itself when given one)."""
    path = Path(run_dir)
    return load_record(Summary, path if path.suffix == ".json" else path / SUMMARY_FILE)


def update_latest_symlink(runs_dir: str | Path, run_dir: str | Path) -> Path:
    """Point ``runs_dir/latest`` at ``run_dir`` (relative link, replaced atomically)."""
    runs_dir = Path(runs_dir)
    run_dir = Path(run_dir)
    target = os.path.relpath(run_dir.resolve(), runs_dir.resolve())
    link = runs_dir / "latest"
    tmp = runs_dir / f".latest.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link
