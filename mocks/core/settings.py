"""Settings shared by every mock service."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from kernel.allowlist import is_loopback_host
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, default_secret_refusal
from kernel.defaults import (
    MAX_OFFICERS_PER_COMMUNE,
    OFFICERS_PER_COMMUNE,
    POPULATION_RATE_LIMIT_BURST,
    POPULATION_RATE_LIMIT_PER_S,
    POPULATION_SIZE,
    SEED,
)
from kernel.synthetic import MAX_POPULATION

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
        "legacy_routes",
    }
) | frozenset(
    {
        # One twin per check that had none (issue 16), each one branch in the service that owns it.
        "user_enumeration",  # portal: an unknown officer account gets its own sign-in error
        "token_claims_unchecked",  # population: exp, nbf and aud are not verified
        "logout_not_revoked",  # portal: logout answers 200 and revokes nothing
        "citizen_accepts_own",  # portal: the owner may make the officer's move (accept) on their dossier
        "officer_any_commune",  # portal: an officer may read and move any commune's dossier
        "audit_skips_verify",  # population: single verifications are not audited
        "lenient_province_filter",  # portal: /procedures takes any province filter with 200
        "any_content_type",  # portal: sign-in parses the body whatever its Content-Type
        "idempotency_ignores_body",  # portal: a reused Idempotency-Key replays, whatever the body
        "replay_accepted",  # axis: a replayed message id is stored again
        "trust_role_header",  # population: X-Role widens the caller's field view
        "ssrf_fetch_any",  # portal: attachments fetched from any URL, redirects followed (API7)
        "trust_population_answers",  # portal: the population service's answers read loosely (API10)
    }
)


class ServiceSettings(BaseModel):
    """Configuration of one mock service process."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Path(".dientap/data")
    seed: int = SEED.default
    population_size: int = Field(default=POPULATION_SIZE.default, ge=1, le=MAX_POPULATION)
    dry_run_secret: str = DEFAULT_DRY_RUN_SECRET
    admin_token: str | None = None  # admin API is off unless a token is set
    readiness_file: Path | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    vulnerable: frozenset[str] = frozenset()
    officers_per_commune: int = Field(default=OFFICERS_PER_COMMUNE.default, ge=1, le=MAX_OFFICERS_PER_COMMUNE)
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
    # The certificate the service serves (``--tls-cert``), None for plain http: the payment
    # intermediary calls the portal back over https then, trusting that certificate alone.
    tls_cert_file: Path | None = None
    inbox_visibility_s: float = Field(default=30.0, gt=0)
    # Per client system: well above the busiest legitimate client of the national load,
    # low enough that a scraper meets a 429 within a second (derivation: kernel/defaults.py).
    rate_limit_per_s: float = Field(default=POPULATION_RATE_LIMIT_PER_S, gt=0)
    rate_limit_burst: int = Field(default=POPULATION_RATE_LIMIT_BURST, ge=1)
    # The cyclic collector's generation-0 threshold once start-up state is frozen.
    # Python's 700 made it run every ~14 submits under load (≈ 9 % of the portal's CPU).
    # Request garbage is freed by reference counting; the little that is cyclic waits
    # for the next pass, at most this many allocations later.
    gc_gen0_threshold: int = Field(default=20_000, ge=100, le=1_000_000)
    # Dossier attachments (API7): the portal fetches them only from URLs under one of these
    # prefixes (scheme, host, port and path prefix must all match; no redirects followed),
    # at most attachment_max_bytes each within attachment_timeout_s. Empty: every URL is refused.
    attachment_allowlist: tuple[str, ...] = ()
    attachment_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    attachment_timeout_s: float = Field(default=2.0, gt=0, le=30)
    # The population service's answers (API10): larger answers are refused as unreadable.
    upstream_max_response_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("attachment_allowlist")
    @classmethod
    def _store_prefixes(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in prefixes:
            parts = urlsplit(prefix)
            if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.endswith("/"):
                raise ValueError(f"{prefix!r} must be http(s)://host[:port]/path/ (a path prefix ending in /)")
        return prefixes

    @model_validator(mode="after")
    def _loopback_only_when_unprotected(self) -> ServiceSettings:
        unknown = sorted(self.vulnerable - KNOWN_WEAKNESSES)
        if unknown:
            raise ValueError(f"vulnerable: unknown weakness(es) {unknown}; known: {sorted(KNOWN_WEAKNESSES)}")
        if self.vulnerable and not is_loopback_host(self.host):
            raise ValueError("vulnerable: planted weaknesses are refused unless the service binds to loopback")
        refusal = default_secret_refusal(self.dry_run_secret, self.host)
        if refusal is not None:
            raise ValueError(f"dry_run_secret: {refusal}")
        return self

    @property
    def default_secret(self) -> bool:
        """Whether the service runs with the public default dry-run secret (loopback only)."""
        return self.dry_run_secret == DEFAULT_DRY_RUN_SECRET
