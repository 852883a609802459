"""Dry-run credentials: every account's password is derived from one secret.

A mock provisions millions of accounts (every citizen, every commune officer, every
agency system) without storing a password table, and the embedded load generator —
told the same secret — signs in as any of them. Real staging targets ignore this and
take credentials from the targets file's environment variables.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Protocol

from kernel.allowlist import is_loopback_host

__all__ = [
    "DEFAULT_DRY_RUN_SECRET", "DRY_RUN_SECRET_ENV", "Credentials", "DerivedCredentials", "default_secret_refusal",
    "default_secret_warning", "derive_password", "officer_account",
]

# Public on purpose: it protects mock accounts on loopback, nothing real. Anyone who has read
# the source can derive every dry-run password and mint the mocks' tokens offline, so a mock
# started with it refuses every address but loopback (default_secret_refusal).
DEFAULT_DRY_RUN_SECRET = "dientap-dry-run"  # a documented test secret, not a credential  # nosec B105
#: Where the mocks, `dientap mocks` and the load generator take a secret of the team's own.
DRY_RUN_SECRET_ENV = "DIENTAP_DRY_RUN_SECRET"


def default_secret_refusal(secret: str, host: str) -> str | None:
    """Why a mock must not listen on ``host`` with ``secret``, or ``None`` when it may.

    Only the public default is refused, and only off loopback: on 127.0.0.1 nobody but
    this machine can reach the accounts it protects.
    """
    if secret != DEFAULT_DRY_RUN_SECRET or is_loopback_host(host):
        return None
    return (f"the default dry-run secret is public (it is in dientap's source: anyone could mint tokens and sign in "
            f"as any dry-run account), so the mocks refuse to listen on {host!r} with it; give a secret of your own "
            f"in {DRY_RUN_SECRET_ENV} (e.g. export {DRY_RUN_SECRET_ENV}=$(openssl rand -hex 32), and the same to the "
            "load generator), or bind to 127.0.0.1")


def default_secret_warning(what: str) -> str:
    """The one line a mock prints when it starts on loopback with the public default secret."""
    return (f"WARNING: {what}: the default dry-run secret is in use, and it is public: anyone on this machine can mint "
            f"tokens; loopback only — set {DRY_RUN_SECRET_ENV} to serve anything else")


def derive_password(secret: str, account: str) -> str:
    """The password of ``account`` under ``secret`` (16 base32 characters)."""
    digest = hmac.new(secret.encode(), account.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest)[:16].decode()


def officer_account(commune_code: str, number: int) -> str:
    """Account name of commune officer ``number`` (1-based) of a commune, e.g. ``00004.officer1``."""
    return f"{commune_code}.officer{number}"


class Credentials(Protocol):
    """Where an adapter gets the password (or client secret) of an account it signs in as."""

    def password(self, account: str) -> str:
        """The password of ``account`` (a personal ID, an officer account, a client or agency ID)."""
        ...


@dataclass(frozen=True)
class DerivedCredentials:
    """Every account's password derived from one secret (the mocks' provisioning)."""

    secret: str = field(repr=False)

    def password(self, account: str) -> str:
        """``derive_password(secret, account)``."""
        return derive_password(self.secret, account)
