"""Settings shared by every mock service."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from kernel.allowlist import is_loopback_host
from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.defaults import OFFICERS_PER_COMMUNE, POPULATION_SIZE, SEED

__all__ = ["ServiceSettings", "KNOWN_WEAKNESSES"]

# Weaknesses a mock can plant for security drills (``--vulnerable``); each is one small,
# explicit branch in the service that owns it.
KNOWN_WEAKNESSES = frozenset(
    {
        "no_lockout",
        "bola_dossier_read",
        "jwt_alg_none",
        "unmasked_population",
        "verify_leak",
        "no_rate_limit",
        "signature_not_verified",
        "xxe_enabled",
        "axis_bola",
        "lossy_axis",
        "lossy_migration",
        "trust_forwarded_for",
        "stack_traces",
        "mass_assignment",
    }
)


class ServiceSettings(BaseModel):
    """Configuration of one mock service process."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Path(".dientap/data")
    seed: int = SEED.default
    population_size: int = Field(default=POPULATION_SIZE.default, ge=1, le=1_000_000)
    dry_run_secret: str = DEFAULT_DRY_RUN_SECRET
    admin_token: str | None = None  # admin API is off unless a token is set
    readiness_file: Path | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    vulnerable: frozenset[str] = frozenset()
    officers_per_commune: int = Field(default=OFFICERS_PER_COMMUNE.default, ge=1, le=999)
    token_ttl_s: int = Field(default=900, ge=1)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=300, ge=1)
    # Credential stuffing: failed sign-ins from one network address across many accounts.
    stuffing_threshold: int = Field(default=20, ge=1)
    stuffing_min_accounts: int = Field(default=10, ge=1)
    stuffing_window_s: float = Field(default=60.0, gt=0)
    stuffing_block_s: float = Field(default=60.0, gt=0)
    stuffing_tarpit_s: float = Field(default=0.25, ge=0, le=5)
    population_url: str | None = None  # portal → population identity checks
    upstream_ca_file: Path | None = None  # the CA the portal trusts for an https population_url (else the system's)
    upstream_client_cert: Path | None = None  # ... and the certificate (with its key) it shows when mTLS is required
    upstream_client_key: Path | None = None
    upstream_timeout_s: float = Field(default=2.0, gt=0)
    payment_callback_delay_s: float = Field(default=0.2, ge=0)
    inbox_visibility_s: float = Field(default=30.0, gt=0)
    # Per client system: generous enough for the national portal under a go-live peak,
    # low enough that one scraper cannot take the whole service (security drills lower it).
    rate_limit_per_s: float = Field(default=5000.0, gt=0)
    rate_limit_burst: int = Field(default=10000, ge=1)
    # The cyclic collector's generation-0 threshold once start-up state is frozen.
    # Python's 700 made it run every ~14 submits under load (≈ 9 % of the portal's CPU).
    # Request garbage is freed by reference counting; the little that is cyclic waits
    # for the next pass, at most this many allocations later.
    gc_gen0_threshold: int = Field(default=20_000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _vulnerable_only_on_loopback(self) -> ServiceSettings:
        unknown = sorted(self.vulnerable - KNOWN_WEAKNESSES)
        if unknown:
            raise ValueError(f"vulnerable: unknown weakness(es) {unknown}; known: {sorted(KNOWN_WEAKNESSES)}")
        if self.vulnerable and not is_loopback_host(self.host):
            raise ValueError("vulnerable: planted weaknesses are refused unless the service binds to loopback")
        return self
