"""The steps of a drill's ``method:`` — one fault, or one bounded piece of drill-side traffic,
each on the load's timeline — and the id each fault takes on its target (:func:`fault_id`).
Part of the drill file format (:mod:`drills.model`, which re-exports every name here)."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from drills.faultproxy.models import ATTRIBUTE_MODELS
from kernel.configfile import StrictModel
from kernel.fault_api import FAULT_ROUTE_PATTERN, LatencySpec, fault_status

__all__ = [
    "Service",
    "SERVICES",
    "HTTP_FAULT_KINDS",
    "NETWORK_TOXICS",
    "PROCESS_ACTIONS",
    "TRAFFIC_ACTIONS",
    "MAX_TRAFFIC_REQUESTS",
    "MAX_DRILL_SECONDS",
    "MAX_TOXIC_ATTRIBUTE",
    "HttpFault",
    "NetworkFault",
    "ProcessFault",
    "TrafficAction",
    "Fault",
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

# Bounds on drill-side traffic: every loop that sends requests is bounded in count and time.
MAX_TRAFFIC_REQUESTS = 2000
MAX_DRILL_SECONDS = 3600
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
