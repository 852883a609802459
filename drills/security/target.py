"""Where the checks go: the three base URLs, the secrets to sign in, and the bounds.

A :class:`SecurityTarget` is built from the embedded mocks or a ``targets.yaml``
(:func:`target_from_file`); every base URL is checked against the allowlist before a
single request is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernel.allowlist import Allowlist
from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.defaults import POPULATION_SIZE, SEED

__all__ = ["SecurityTarget", "SecurityLimits", "target_from_file", "SERVICES"]

SERVICES = ("portal", "population", "axis")


@dataclass(frozen=True)
class SecurityLimits:
    """Bounds on every loop a check runs (count and time), and the budgets it judges by."""

    check_timeout_s: float = 60.0  # a check that runs longer is stopped and reported ERROR
    lockout_attempts: int = 12  # wrong passwords sent at one account before giving up
    stuffing_accounts: int = 60  # accounts tried in the credential-stuffing simulation
    stuffing_tries_per_account: int = 2
    enumeration_codes: int = 20  # neighbouring dossier codes tried by the BOLA enumeration
    scrape_max_requests: int = 3000  # bulk-scraping simulation: stop after this many look-ups
    scrape_max_s: float = 20.0  # ... or after this long
    legit_p95_budget_ms: float = 1000.0  # a legitimate caller's p95 while the scraper runs
    request_timeout_s: float = 10.0


@dataclass
class SecurityTarget:
    """The systems under test and how to sign in to them (secrets never reach the report)."""

    name: str
    kind: str  # "embedded" | "file"
    urls: dict[str, str]
    dry_run_secret: str = field(default=DEFAULT_DRY_RUN_SECRET, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    pki_dir: Path | None = None
    seed: int = SEED.default
    population_size: int = POPULATION_SIZE.default
    allow_hosts: tuple[str, ...] = ()
    # Embedded mocks only: the checks may mint tokens with the mocks' own signing keys,
    # to test expired / not-yet-valid / wrong-audience tokens whose signature is valid.
    knows_signing_keys: bool = False
    # Clients the scraping simulation uses (one scraper, one legitimate caller).
    scraper_client: str = "province-04"
    legitimate_client: str = "police"  # not used by the dry-run load, so its budget is its own

    def check_allowed(self) -> None:
        """Raise :class:`~kernel.errors.TargetNotAllowed` unless every URL is allowlisted."""
        allow = Allowlist(self.allow_hosts)
        for name in SERVICES:
            allow.check_url(self.urls[name], what=f"security target {name}")


def target_from_file(path: str | Path, *, extra_allow_hosts: tuple[str, ...] = (), seed: int = SEED.default,
                     population_size: int = POPULATION_SIZE.default) -> SecurityTarget:
    """A target from a ``targets.yaml`` (same format as ``dientap run --target``)."""
    from kernel.targets import load_targets

    t = load_targets(path, extra_allow_hosts=extra_allow_hosts)
    return SecurityTarget(
        name=t.name, kind="file", urls=dict(t.urls), dry_run_secret=t.dry_run_secret, admin_token=t.admin_token,
        pki_dir=t.pki_dir, seed=seed, population_size=population_size,
        allow_hosts=(*t.allow_hosts, *extra_allow_hosts),
    )
