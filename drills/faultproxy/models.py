"""Typed models of the Toxiproxy API: proxy and toxic input, toxic attributes, and their JSON.

Attribute names, units and defaults follow Toxiproxy (``toxics/*.go``): times in milliseconds
(``slicer.delay`` in microseconds), ``bandwidth.rate`` in KB/s where 1 KB = 1000 bytes, every
attribute defaulting to 0. Stricter than Toxiproxy on purpose: unknown attribute keys and wrong
JSON types are 400s here (Toxiproxy silently ignores a misspelt ``latency_ms``), so a drill that
passes validation here means the same thing against a real Toxiproxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drills.faultproxy.errors import bad_request_body, invalid_stream, invalid_toxic_type, missing_field

__all__ = [
    "Stream",
    "ToxicAttributes",
    "LatencyAttributes",
    "BandwidthAttributes",
    "SlowCloseAttributes",
    "TimeoutAttributes",
    "ResetPeerAttributes",
    "SlicerAttributes",
    "LimitDataAttributes",
    "NoopAttributes",
    "ATTRIBUTE_MODELS",
    "MAX_ATTRIBUTE",
    "TOXIC_TYPES",
    "ProxySpec",
    "ToxicSpec",
    "ToxicUpdate",
    "parse_proxy_spec",
    "parse_proxy_update",
    "parse_toxic_spec",
    "parse_toxic_update",
    "parse_attributes",
]


class Stream(StrEnum):
    """Link direction: ``upstream`` is client → server, ``downstream`` is server → client."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


# Toxiproxy reads every attribute into a Go int64 and refuses a larger JSON number; an integer
# past it (10**400) was accepted here and overflowed the first chunk's delay (OverflowError).
MAX_ATTRIBUTE = 2**63 - 1


class ToxicAttributes(BaseModel):
    """Base of the per-type attribute models (strict JSON types, unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LatencyAttributes(ToxicAttributes):
    """``latency``: delay every chunk by ``latency`` ± ``jitter`` milliseconds."""

    latency: int = Field(0, ge=0, le=MAX_ATTRIBUTE)
    jitter: int = Field(0, ge=0, le=MAX_ATTRIBUTE)


class BandwidthAttributes(ToxicAttributes):
    """``bandwidth``: at most ``rate`` KB/s (1 KB = 1000 bytes); 0 = unlimited."""

    rate: int = Field(0, ge=0, le=MAX_ATTRIBUTE)


class SlowCloseAttributes(ToxicAttributes):
    """``slow_close``: delay the close (EOF) by ``delay`` milliseconds."""

    delay: int = Field(0, ge=0, le=MAX_ATTRIBUTE)


class TimeoutAttributes(ToxicAttributes):
    """``timeout``: stop data and close after ``timeout`` ms; 0 = hold until removed (bounded here)."""

    timeout: int = Field(0, ge=0, le=MAX_ATTRIBUTE)


class ResetPeerAttributes(ToxicAttributes):
    """``reset_peer``: on the next data, wait ``timeout`` ms then reset (TCP RST) the connection."""

    timeout: int = Field(0, ge=0, le=MAX_ATTRIBUTE)


class SlicerAttributes(ToxicAttributes):
    """``slicer``: cut data into ~``average_size`` ± ``size_variation`` byte pieces, ``delay`` µs apart."""

    average_size: int = Field(0, ge=0, le=MAX_ATTRIBUTE)
    size_variation: int = Field(0, ge=0, le=MAX_ATTRIBUTE)
    delay: int = Field(0, ge=0, le=MAX_ATTRIBUTE)

    @model_validator(mode="after")
    def _sizes(self) -> SlicerAttributes:
        # Toxiproxy panics (rand.Intn(0)) or loops on these; refuse them up front.
        if self.average_size < 1:
            raise ValueError("average_size must be >= 1")
        if self.size_variation >= self.average_size:
            raise ValueError("size_variation must be smaller than average_size")
        return self


class LimitDataAttributes(ToxicAttributes):
    """``limit_data``: close the connection once ``bytes`` bytes have passed."""

    bytes: int = Field(0, ge=0, le=MAX_ATTRIBUTE)


class NoopAttributes(ToxicAttributes):
    """``noop``: pass data through unchanged."""


ATTRIBUTE_MODELS: dict[str, type[ToxicAttributes]] = {
    "latency": LatencyAttributes,
    "bandwidth": BandwidthAttributes,
    "slow_close": SlowCloseAttributes,
    "timeout": TimeoutAttributes,
    "reset_peer": ResetPeerAttributes,
    "slicer": SlicerAttributes,
    "limit_data": LimitDataAttributes,
    "noop": NoopAttributes,
}
TOXIC_TYPES = frozenset(ATTRIBUTE_MODELS)


@dataclass(frozen=True)
class ProxySpec:
    """A proxy as created by ``POST /proxies`` or listed in ``POST /populate`` / ``--config``."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True


@dataclass(frozen=True)
class ToxicSpec:
    """A toxic as created by ``POST /proxies/{proxy}/toxics``."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: ToxicAttributes


@dataclass(frozen=True)
class ToxicUpdate:
    """The fields of ``POST/PATCH /proxies/{proxy}/toxics/{toxic}``: attributes merge, toxicity replaces."""

    attributes: dict[str, object]
    toxicity: float | None


def _expect_object(body: object, what: str = "body") -> dict[str, object]:
    if not isinstance(body, dict):
        raise bad_request_body(f"{what}: expected a JSON object, got {type(body).__name__}")
    return body


def _check_keys(body: dict[str, object], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request_body(f"{prefix}{unknown[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")


def _string(body: dict[str, object], key: str, default: str, prefix: str = "") -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise bad_request_body(f"{prefix}{key}: expected a string, got {value!r}")
    return value


def _bool(body: dict[str, object], key: str, default: bool, prefix: str = "") -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_request_body(f"{prefix}{key}: expected true or false, got {value!r}")
    return value


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request_body(f"toxicity: expected a number between 0 and 1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise bad_request_body(f"toxicity: expected a number between 0 and 1, got {value!r}")
    return float(value)


def _check_name(name: str, what: str) -> None:
    """A proxy's or toxic's name is one path segment of the API (``/proxies/{name}``): one
    holding ``/`` could be created but never addressed again — not even to remove it."""
    if "/" in name or any(not c.isprintable() for c in name):
        raise bad_request_body(f"{what}: {name!r} holds a '/' or a control character; a name is one segment of "
                               "the API's paths")


# Clients (the Go client among them) send the proxy's ``toxics`` back when creating one; ignore it.
_PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}


def parse_proxy_spec(body: object, *, where: str = "") -> ProxySpec:
    """Validate a proxy-creation object; ``where`` (``" at proxy 2"``) is appended to missing-field errors."""
    data = _expect_object(body, "proxy")
    _check_keys(data, _PROXY_KEYS)
    name = _string(data, "name", "")
    upstream = _string(data, "upstream", "")
    listen = _string(data, "listen", "")
    enabled = _bool(data, "enabled", True)
    if not name:
        raise missing_field(f"name{where}")
    _check_name(name, f"name{where}")
    if not upstream:
        raise missing_field(f"upstream{where}")
    return ProxySpec(name=name, listen=listen, upstream=upstream, enabled=enabled)


def parse_proxy_update(body: object, current: ProxySpec) -> ProxySpec:
    """Apply a ``POST/PATCH /proxies/{proxy}`` body over the current fields (absent = unchanged)."""
    data = _expect_object(body)
    _check_keys(data, _PROXY_KEYS)
    return ProxySpec(
        name=current.name,
        listen=_string(data, "listen", current.listen),
        upstream=_string(data, "upstream", current.upstream),
        enabled=_bool(data, "enabled", current.enabled),
    )


def parse_attributes(toxic_type: str, attributes: object) -> ToxicAttributes:
    """Validate ``attributes`` for ``toxic_type``; errors name ``attributes.<field>`` and the rule."""
    model = ATTRIBUTE_MODELS[toxic_type]
    if attributes is None:
        attributes = {}
    data = _expect_object(attributes, "attributes")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        where = f"attributes.{field}" if field else "attributes"
        raise bad_request_body(f"{where}: {first['msg']} (got {first.get('input')!r})") from None


def parse_toxic_spec(body: object) -> ToxicSpec:
    """Validate a toxic-creation object, checking in Toxiproxy's order (stream, then type)."""
    data = _expect_object(body)
    _check_keys(data, {"name", "type", "stream", "toxicity", "attributes"})
    name = _string(data, "name", "")
    toxic_type = _string(data, "type", "")
    stream_text = _string(data, "stream", "downstream")
    toxicity = _toxicity(data.get("toxicity", 1.0))
    try:
        stream = Stream(stream_text.lower())
    except ValueError:
        raise invalid_stream() from None
    if not name:
        name = f"{toxic_type}_{stream.value}"
    _check_name(name, "name")
    if toxic_type not in TOXIC_TYPES:
        raise invalid_toxic_type()
    attributes = parse_attributes(toxic_type, data.get("attributes"))
    return ToxicSpec(name=name, type=toxic_type, stream=stream, toxicity=toxicity, attributes=attributes)


def parse_toxic_update(body: object) -> ToxicUpdate:
    """Validate the body of a toxic update (``attributes`` and/or ``toxicity``)."""
    data = _expect_object(body)
    _check_keys(data, {"name", "type", "stream", "toxicity", "attributes"})
    attributes = data.get("attributes", {})
    attributes = {} if attributes is None else _expect_object(attributes, "attributes")
    toxicity = _toxicity(data["toxicity"]) if "toxicity" in data else None
    return ToxicUpdate(attributes=dict(attributes), toxicity=toxicity)
