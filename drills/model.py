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

import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from drills.faultproxy.models import ATTRIBUTE_MODELS
from kernel.configfile import StrictModel
from kernel.fault_api import FAULT_ROUTE_PATTERN, LatencySpec, fault_status

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

Service = Literal["portal", "population", "axis"]
SERVICES: tuple[str, ...] = ("portal", "population", "axis")
HTTP_FAULT_KINDS = ("latency", "error", "reset", "hang", "slow_body", "outage")
NETWORK_TOXICS = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down")
PROCESS_ACTIONS = ("kill", "pause")
TRAFFIC_ACTIONS = (
    "stale_documents",
    "old_commune_dossiers",
    "expiring_certificates",
    "submission_probe",
    "officer_login_storm",
    "document_burst",
    "district_dossiers",
    "district_cutover",
    "closed_district_documents",
    "successor_officers",
)
RollbackName = Literal["clear_http_faults", "reset_proxy", "resume_processes"]
ROLLBACK_ACTIONS: tuple[RollbackName, ...] = ("clear_http_faults", "reset_proxy", "resume_processes")

# Bounds on drill-side traffic: every loop that sends requests is bounded in count and time.
MAX_TRAFFIC_REQUESTS = 2000
MAX_DRILL_SECONDS = 3600
MAX_DRILL_SCALE = 1000  # the profiles' own bound (scenarios.profile.Profile.scale)
# A toxic's attribute (ms, µs, bytes or KB/s): far past any drill (24 days in ms, 2 GB), and an
# integer every Toxiproxy reads; 10**400 would reach the fault proxy and overflow there mid-drill.
MAX_TOXIC_ATTRIBUTE = 2**31 - 1


def _seconds(value: object, what: str) -> float:
    """Accept numbers only, with a message in the catalogue's words (not pydantic's)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected {what}, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an integer no float holds (400 digits): no number of seconds at all
        raise ValueError(f"expected {what}, got an integer of {len(str(value))} digits") from None


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


class HttpFault(StrictModel):
    """A fault injected through the mocks' ``POST /admin/faults`` (removed at the end)."""

    kind: Literal["latency", "error", "reset", "hang", "slow_body", "outage"]
    route: str = Field(default="*", min_length=1, max_length=200, pattern=FAULT_ROUTE_PATTERN)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    province: str | None = Field(default=None, pattern=r"^\d{2}$")
    agency: str | None = Field(default=None, max_length=64)
    latency: LatencySpec | None = Field(default=None, validate_default=True)
    status: int = Field(default=503, ge=400, le=599)
    rate: float = Field(default=1.0, ge=0, le=1)
    bytes_per_s: int = Field(default=1024, ge=1, le=100_000_000)
    hang_s: float = Field(default=60.0, gt=0, le=600)

    _real_status = field_validator("status")(fault_status)

    @field_validator("latency")
    @classmethod
    def _latency_needed(cls, value: LatencySpec | None, info: ValidationInfo) -> LatencySpec | None:
        if value is None and info.data.get("kind") == "latency":
            raise ValueError("required when kind is 'latency'")
        return value


class NetworkFault(StrictModel):
    """A toxic on a TCP fault proxy in front of the target (Toxiproxy API).

    ``client`` says whose connections pass through the proxy: ``load`` (default) — the
    load generator's; ``portal`` — the portal's identity checks to the population service
    (target ``population``, embedded mocks only: the proxy is put in the portal's way when
    it starts). ``toxic: down`` takes the proxy down (connections refused) instead of
    adding a toxic. ``attributes`` are Toxiproxy's (integers): latency {latency, jitter}
    ms, bandwidth {rate} KB/s, timeout {timeout} ms (0 = hold), slicer {average_size,
    size_variation, delay}, limit_data {bytes}, reset_peer {timeout}, slow_close {delay}.
    """

    toxic: Literal["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down"]
    attributes: dict[str, Annotated[int, Field(ge=0, le=MAX_TOXIC_ATTRIBUTE)]] = Field(default_factory=dict)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1)
    client: Literal["load", "portal"] = "load"

    @field_validator("attributes")
    @classmethod
    def _toxic_attributes(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        # Judged here as the fault proxy judges them (drills.faultproxy.models), so a misspelt
        # attribute is refused at its line before anything starts, not by the proxy's 400
        # mid-drill (and not silently ignored, as a real Toxiproxy would).
        toxic = info.data.get("toxic")
        if toxic is None:
            return value  # the toxic itself is wrong; that error is reported already
        if toxic == "down":
            if value:
                raise ValueError("a 'down' proxy takes no attributes (it refuses connections)")
            return value
        model = ATTRIBUTE_MODELS[toxic]
        try:
            model.model_validate(value)
        except ValidationError as exc:
            known = ", ".join(model.model_fields)
            raise ValueError("; ".join(
                f"{err['loc'][0]}: unknown attribute of a {toxic} toxic; give {known}" if err["type"] == "extra_forbidden"
                else err["msg"].removeprefix("Value error, ")
                for err in exc.errors()
            )) from None
        return value


class ProcessFault(StrictModel):
    """Kill (SIGKILL, restarted on the same socket at the end) or pause (SIGSTOP → SIGCONT)."""

    action: Literal["kill", "pause"]


class TrafficAction(StrictModel):
    """Bounded drill-side traffic sent with httpx during the window (not a fault: a probe that acts).

    * ``stale_documents``: documents to abolished district-level agencies → expect 422 recipient_closed
    * ``old_commune_dossiers``: dossiers filed with pre-2025 commune codes → expect 422 commune_abolished
    * ``expiring_certificates``: ``agencies`` signers whose certificates expire ``expire_after_s``
      into the window; their documents after expiry → expect 422 certificate_expired, others 201
    * ``submission_probe``: citizens submit dossiers; ``expect_status`` lists acceptable answers
      (e.g. [503] during a population outage, which must carry Retry-After)
    * ``officer_login_storm``: ``count`` commune officers sign in at once (concurrency ``concurrency``)
    * ``document_burst``: provincial agencies send ``count`` valid directives to their communes → expect 201
      (more acknowledged documents for the reconciliation to check)
    * the go-live night (:mod:`drills.backends.golive_night`; needs ``readiness`` with the old tier open):
      ``district_dossiers`` (``count`` dossiers at ``agencies`` district units, documents to their
      committees, then the owners' status queries), ``district_cutover`` (close the tier, migrate in
      batches of ``count``), ``closed_district_documents`` (refused naming the successors),
      ``successor_officers`` (the landing communes' officers work the migrated dossiers)
    """

    action: Literal[
        "stale_documents", "old_commune_dossiers", "expiring_certificates", "submission_probe", "officer_login_storm",
        "document_burst", "district_dossiers", "district_cutover", "closed_district_documents", "successor_officers",
    ]
    count: int = Field(default=20, ge=1, le=MAX_TRAFFIC_REQUESTS)
    concurrency: int = Field(default=8, ge=1, le=64)
    expect_status: list[int] = Field(default_factory=list, max_length=10)
    expect_code: str | None = Field(default=None, max_length=64)
    min_success_ratio: float = Field(default=1.0, ge=0, le=1)
    agencies: int = Field(default=3, ge=1, le=50)
    expire_after_s: float = Field(default=3.0, gt=0, le=600)

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 100 <= status <= 599:
                raise ValueError(f"HTTP statuses are 100..599, got {status}")
        return value


class Fault(StrictModel):
    """One step of the method: a fault (or drill traffic) active from ``at_s`` for ``duration_s``."""

    name: str = Field(min_length=1, max_length=120)
    backend: Literal["http", "network", "process", "traffic"]
    target: Service
    at_s: float
    duration_s: float
    http: HttpFault | None = Field(default=None, validate_default=True)
    network: NetworkFault | None = Field(default=None, validate_default=True)
    process: ProcessFault | None = Field(default=None, validate_default=True)
    traffic: TrafficAction | None = Field(default=None, validate_default=True)

    @field_validator("at_s", mode="before")
    @classmethod
    def _at(cls, value: object) -> float:
        at = _seconds(value, "seconds ≥ 0")
        if at < 0:
            raise ValueError(f"expected seconds ≥ 0, got {value!r}")
        return at

    @field_validator("duration_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        duration = _seconds(value, "seconds > 0")
        if duration <= 0 or duration > MAX_DRILL_SECONDS:
            raise ValueError(f"expected seconds > 0 and ≤ {MAX_DRILL_SECONDS}, got {value!r}")
        return duration

    @field_validator("http", "network", "process", "traffic")
    @classmethod
    def _matches_backend(cls, value: object, info: ValidationInfo) -> object:
        backend = info.data.get("backend")
        if backend is None:
            return value  # the backend itself is wrong; that error is reported already
        if info.field_name == backend and value is None:
            raise ValueError(f"required when backend is '{backend}'")
        if info.field_name != backend and value is not None:
            raise ValueError(f"only allowed when backend is '{info.field_name}' (this fault's backend is '{backend}')")
        return value

    @model_validator(mode="after")
    def _portal_calls_population_only(self) -> Fault:
        if self.network is not None and self.network.client == "portal" and self.target != "population":
            raise ValueError(
                f"network.client 'portal' needs target 'population' (the only service the portal calls), got {self.target!r}"
            )
        return self

    @property
    def end_s(self) -> float:
        """Offset at which the fault is removed."""
        return self.at_s + self.duration_s

    @property
    def proxy_key(self) -> str:
        """Which proxy a network fault acts on: the target's name, or ``portal->population``."""
        if self.network is not None and self.network.client != "load":
            return f"{self.network.client}->{self.target}"
        return self.target

    @property
    def kind(self) -> str:
        """The fault's kind for the journal: ``latency``, ``reset_peer``, ``kill``, ``stale_documents`` ..."""
        if self.http is not None:
            return self.http.kind
        if self.network is not None:
            return self.network.toxic
        if self.process is not None:
            return self.process.action
        return self.traffic.action if self.traffic is not None else self.backend

    @property
    def is_fault(self) -> bool:
        """False for drill-side traffic, which changes nothing on the target."""
        return self.backend != "traffic"


def fault_id(fault: Fault) -> str:
    """The id the drill gives a fault on the target (``drill-axis-latency``), ≤ 64 safe characters.

    The mock and the fault proxy replace a rule or toxic of the same id (and one removal would
    end both), so a slug that dropped letters — a non-ASCII one folded to ``-``, or the tail of
    a slug longer than 50 characters — gets the hash of the full name appended: ``lỗi cổng``
    and ``lối cổng`` are two faults. Two ASCII names one slug apart (``a b``, ``a-b``) are
    refused together by :func:`drills.catalog.load_drill`.
    """
    slug = re.sub(r"[^A-Za-z0-9_.:-]+", "-", fault.name).strip("-")
    if fault.name.isascii() and len(slug) <= 50:
        return f"drill-{slug or 'fault'}"
    digest = hashlib.sha256(fault.name.encode("utf-8")).hexdigest()[:8]
    return f"drill-{slug[:48].rstrip('-') or 'fault'}-{digest}"  # 6 + 48 + 1 + 8 = 63 characters at most


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
