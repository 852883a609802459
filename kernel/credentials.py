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

__all__ = ["DEFAULT_DRY_RUN_SECRET", "Credentials", "DerivedCredentials", "derive_password", "officer_account"]

# Public on purpose: it protects mock accounts on loopback, nothing real.
DEFAULT_DRY_RUN_SECRET = "dientap-dry-run"  # a documented test secret, not a credential  # nosec B105


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
