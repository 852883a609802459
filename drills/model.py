"""The drill file format (``drills/catalog/*.yaml``): a Chaos-Toolkit-shaped experiment.

::

    title, description
    profile: smoke            the load underneath: a shipped profile, or a profile file beside the
                              drill file (+ optional duration_s, scale, request_timeout_s)
    target_weaknesses:        planted defects of the embedded mocks ({axis: [lossy_axis]})
    readiness:                a readiness profile for the embedded mocks, beside the file (readiness/old-tier.yaml)
    steady_state_hypothesis:  probes with tolerances, checked before, during, after
      probes: [{name, kind: p95_ms|error_ratio|healthy, service, route, method, max, window_s, during}]
    method:                   faults (and bounded drill-side traffic) on the load timeline
      - {name, backend: http|network|process|traffic, target, at_s, duration_s,
         http: {...} | network: {...} | process: {...} | traffic: {...}}
    rollbacks: [clear_http_faults, reset_proxy, resume_processes]
    expectations: {recovery_time_s, error_budget_during_fault, max_lost, max_duplicated,
                   no_unverified_dossiers, expect_verdict, exact_lost,
                   min_retried_submissions, min_replayed_submissions}

Validation reports *every* problem at once, each as ``file:line: field: message``
(:func:`kernel.configfile.load_model`); unknown keys are errors everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from drills.fault_model import (
    HTTP_FAULT_KINDS,
    MAX_DRILL_SECONDS,
    NETWORK_TOXICS,
    PROCESS_ACTIONS,
    SERVICES,
    TRAFFIC_ACTIONS,
    Fault,
    HttpFault,
    NetworkFault,
    ProcessFault,
    Service,
    TrafficAction,
    fault_id,
)
from kernel.configfile import StrictModel

__all__ = [
    "SERVICES",
    "HTTP_FAULT_KINDS",
    "NETWORK_TOXICS",
    "PROCESS_ACTIONS",
    "TRAFFIC_ACTIONS",
    "ROLLBACK_ACTIONS",
    "Probe",
    "Hypothesis",
    "HttpFault",
    "NetworkFault",
    "ProcessFault",
    "TrafficAction",
    "Fault",
    "Expectations",
    "Drill",
    "fault_id",
]

RollbackName = Literal["clear_http_faults", "reset_proxy", "resume_processes"]
ROLLBACK_ACTIONS: tuple[RollbackName, ...] = ("clear_http_faults", "reset_proxy", "resume_processes")
MAX_DRILL_SCALE = 1000  # the profiles' own bound (scenarios.profile.Profile.scale)


def _no_control_characters(value: str | None) -> str | None:
    """A name the drill looks up as a file: a NUL in it was a ValueError in the first os call
    (a traceback, exit 70), and no file or profile is named with a control character."""
    if value is not None and any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"a file or profile name holds no control character, got {value!r}")
    return value


class Probe(StrictModel):
    """One steady-state probe, read live from the mocks (``/metrics`` and ``/healthz``) every second.

    * ``p95_ms``: the service's (or one route's) server-side p95 over the last ``window_s`` ≤ ``max``
    * ``error_ratio``: (5xx + resets) / requests over the last ``window_s`` ≤ ``max``
    * ``healthy``: ``GET /healthz`` answers 200 within a second (``max`` unused)

    Every probe is checked before the first fault and after the load; ``during: true``
    also checks it continuously while faults are active.
    """

    name: str = Field(min_length=1, max_length=120)
    kind: Literal["p95_ms", "error_ratio", "healthy"]
    service: Service = "portal"
    route: str | None = Field(default=None, max_length=200, description="route template, e.g. /dossiers")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    max: float | None = Field(default=None, ge=0, validate_default=True)
    window_s: float = Field(default=5.0, gt=0, le=300)
    during: bool = False

    @field_validator("max")
    @classmethod
    def _max_needed(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")
        if value is None and kind in ("p95_ms", "error_ratio"):
            raise ValueError(f"required for a {kind} probe")
        if value is not None and kind == "error_ratio" and value > 1:
            raise ValueError(f"an error ratio is between 0 and 1, got {value}")
        return value

    def describe(self) -> str:
        """One line for the journal: ``portal p95 ≤ 800 ms``."""
        scope = self.service + (f" {self.method or ''} {self.route}".rstrip() if self.route else "")
        scope = scope.replace("  ", " ")
        if self.kind == "p95_ms":
            return f"{scope} p95 ≤ {self.max:g} ms"
        if self.kind == "error_ratio":
            return f"{scope} error ratio ≤ {self.max:g}"
        return f"{self.service} healthy"


class Hypothesis(StrictModel):
    """The steady state: what must hold before, (optionally) during and after the faults."""

    title: str = "the national systems answer in time"
    probes: list[Probe] = Field(default_factory=list, max_length=20)



class Expectations(StrictModel):
    """What the drill must show, besides the steady-state hypothesis.

    ``recovery_time_s``: seconds after the last fault ends within which the client-side
    error ratio and p95 of ``recovery_services`` (default: the faulted services) are back
    within ``recovery_error_ratio`` / ``recovery_p95_ms`` (from the load's per-second series).
    ``error_budget_during_fault``: the highest acceptable client-side
    error ratio of the faulted services while faults are active. ``exact_lost``: for
    planted-defect drills, the exact lost count per item kind (``predicted`` = computed
    from what was acknowledged, e.g. the documents the lossy axis drops).
    """

    recovery_time_s: float | None = Field(default=None, gt=0, le=MAX_DRILL_SECONDS)
    recovery_services: list[Service] | None = Field(default=None, min_length=1)
    recovery_p95_ms: float = Field(default=2000, gt=0)
    recovery_error_ratio: float = Field(default=0.05, ge=0, le=1)
    error_budget_during_fault: float | None = Field(default=None, ge=0, le=1)
    max_lost: int = Field(default=0, ge=0)
    max_duplicated: int = Field(default=0, ge=0)
    no_unverified_dossiers: bool = False
    expect_verdict: Literal["PASS", "FAIL"] = "PASS"
    exact_lost: dict[Literal["dossiers", "documents", "receipts", "payments", "migrated_dossiers"],
                     int | Literal["predicted"]] = Field(
        default_factory=dict
    )
    # The load's own retries (kernel.ack_ledger.RETRIED_DOSSIERS / REPLAYED_DOSSIERS): at least
    # this many dossiers acknowledged only after a timed-out attempt, and at least this many
    # answered as a replay of an earlier attempt with the same Idempotency-Key that had landed.
    min_retried_submissions: int = Field(default=0, ge=0)
    min_replayed_submissions: int = Field(default=0, ge=0)

    @field_validator("exact_lost")
    @classmethod
    def _only_for_fail(cls, value: dict, info: ValidationInfo) -> dict:
        if value and info.data.get("expect_verdict") != "FAIL":
            raise ValueError("only meaningful with expect_verdict: FAIL (a planted-defect drill)")
        # A negative count can never be met: the planted-defect drill would end in ERROR, not FAIL.
        negative = [f"{kind}: {count}" for kind, count in value.items() if isinstance(count, int) and count < 0]
        if negative:
            raise ValueError(f"expected a count ≥ 0 or 'predicted' for each kind, got {', '.join(negative)}")
        return value


class Drill(StrictModel):
    """A whole drill file."""

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    profile: str = Field(default="smoke", min_length=1, max_length=200)
    duration_s: float | None = Field(default=None, gt=0, le=MAX_DRILL_SECONDS)
    scale: float | None = Field(default=None, gt=0, le=MAX_DRILL_SCALE)
    # The load clients' request timeout (kernel.defaults.REQUEST_TIMEOUT_S) for this drill: a
    # drill that freezes a service sets it below the freeze, so clients give up and retry inside it.
    request_timeout_s: float | None = Field(default=None, gt=0, le=MAX_DRILL_SECONDS)
    target_weaknesses: dict[Service, list[str]] = Field(default_factory=dict)
    # A readiness profile for the embedded mocks, relative to the drill file (the go-live
    # night opens the old district tier with it: drills/catalog/readiness/old-tier.yaml).
    readiness: str | None = Field(default=None, min_length=1, max_length=200)
    steady_state_hypothesis: Hypothesis = Field(default_factory=Hypothesis)
    method: list[Fault] = Field(default_factory=list, max_length=50)
    rollbacks: list[RollbackName] = Field(default_factory=lambda: list(ROLLBACK_ACTIONS))
    expectations: Expectations = Field(default_factory=Expectations)

    _names_a_file = field_validator("profile", "readiness")(_no_control_characters)

    @model_validator(mode="after")
    def _unique_names(self) -> Drill:
        # A weakness list that names nothing plants nothing: such a drill would do nothing at all.
        if not self.method and not any(self.target_weaknesses.values()):
            raise ValueError("method: a drill needs at least one step (or a planted weakness in target_weaknesses)")
        seen: set[str] = set()
        for fault in self.method:
            if fault.name in seen:
                raise ValueError(f"method: fault names must be unique; {fault.name!r} appears twice")
            seen.add(fault.name)
        return self

    @property
    def faults(self) -> list[Fault]:
        """The method steps that change the target (traffic actions excluded)."""
        return [f for f in self.method if f.is_fault]

    @property
    def faulted_services(self) -> list[str]:
        """Services that carry a fault at some point (for client-side recovery checks)."""
        return sorted({f.target for f in self.faults})

    def profile_from(self, drill_file: Path) -> str:
        """``profile`` as the load resolves it: a shipped profile's name as written, a file
        (a ``.yaml``/``.yml`` name or a path) relative to the drill file, as ``readiness`` is,
        so a drill and its profile move together whatever the current directory."""
        written = Path(self.profile)
        if written.is_absolute() or (written.suffix not in (".yaml", ".yml") and len(written.parts) == 1):
            return self.profile
        return str(drill_file.parent / written)

    def needs(self, backend: str) -> bool:
        """Whether any step uses ``backend``."""
        return any(f.backend == backend for f in self.method)

    def network_services(self) -> list[str]:
        """Services the load must reach through a fault proxy."""
        return sorted({f.target for f in self.method if f.network is not None and f.network.client == "load"})

    def portal_links(self) -> bool:
        """Whether the portal must reach the population service through a fault proxy."""
        return any(f.network is not None and f.network.client == "portal" for f in self.method)

    def fault_end_s(self) -> float:
        """When the last fault is removed (0 when there is none)."""
        return max((f.end_s for f in self.faults), default=0.0)
