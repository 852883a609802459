"""The agency systems that may call the population database, and their roles.

Client ids follow ``docs/CONTRACTS.md``: ``portal`` (the national portal), ``police``
(the register's owner) and ``province-NN`` — one per 2025 province, the provincial
one-stop system commune officers work in. Each client's secret is
``derive_password(dry_run_secret, client_id)``.

Failed sign-ins carry, besides the JSON error, an ``X-Legacy-Code`` header with the
error number agencies know from the integration guides (100 authentication error,
106 agency id incorrect, 108 province id incorrect, 201 record not found, 302 data type
invalid), so an adapter written against the real service can be exercised here.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from enum import IntEnum

from kernel.credentials import derive_password
from kernel.roster import load_roster
from mocks.core.errors import ApiError
from mocks.population.roles import Role

__all__ = ["LegacyCode", "ClientSystem", "ClientRegistry", "legacy_headers"]

_PROVINCE_CLIENT = re.compile(r"province-(.*)", re.DOTALL)


class LegacyCode(IntEnum):
    """Error numbers of the population database's integration guides."""

    AUTHENTICATION = 100
    AGENCY_ID_INCORRECT = 106
    PROVINCE_ID_INCORRECT = 108
    NOT_FOUND = 201
    DATA_TYPE_INVALID = 302


def legacy_headers(code: LegacyCode, **extra: str) -> dict[str, str]:
    """Response headers carrying a legacy error number (plus any ``extra`` headers)."""
    return {"X-Legacy-Code": str(int(code)), **extra}


@dataclass(frozen=True, slots=True)
class ClientSystem:
    """A registered agency system: its id, role, province (for ``province-NN``) and secret."""

    client_id: str
    role: Role
    province_code: str | None
    secret: str


_WWW_AUTH = {"WWW-Authenticate": 'Bearer error="invalid_client"'}
_KNOWN_FORMS = "portal, police or province-NN (NN one of the 34 two-digit 2025 province codes)"


class ClientRegistry:
    """All client systems of one service instance (36: portal, police, 34 provinces)."""

    def __init__(self, dry_run_secret: str):
        systems = [
            ClientSystem("portal", Role.PORTAL, None, derive_password(dry_run_secret, "portal")),
            ClientSystem("police", Role.POLICE, None, derive_password(dry_run_secret, "police")),
        ]
        for province in load_roster().provinces:
            client_id = f"province-{province.code}"
            systems.append(
                ClientSystem(
                    client_id,
                    Role.COMMUNE_OFFICER,
                    province.code,
                    derive_password(dry_run_secret, client_id),
                )
            )
        self._systems = {s.client_id: s for s in systems}

    def __len__(self) -> int:
        return len(self._systems)

    def authenticate(self, client_id: str, client_secret: str) -> ClientSystem:
        """The client system if the secret is right; 401 :class:`ApiError` otherwise."""
        system = self.system(client_id)
        if not hmac.compare_digest(client_secret.encode(), system.secret.encode()):
            raise ApiError(
                401,
                "invalid_client_secret",
                f"client_secret is wrong for client {client_id!r}",
                "client_secret",
                legacy_headers(LegacyCode.AUTHENTICATION, **_WWW_AUTH),
            )
        return system

    def system(self, client_id: str) -> ClientSystem:
        """The registered client system ``client_id`` (its secret unchecked); 401 naming the
        forms there are when there is none (faces that check a secret their own way)."""
        system = self._systems.get(client_id)
        if system is None:
            province = _PROVINCE_CLIENT.fullmatch(client_id)
            if province is not None:
                raise ApiError(
                    401,
                    "unknown_province",
                    f"no province system {client_id!r}: {province.group(1)!r} is not a 2025 province code; "
                    f"client_id must be {_KNOWN_FORMS}",
                    "client_id",
                    legacy_headers(LegacyCode.PROVINCE_ID_INCORRECT, **_WWW_AUTH),
                )
            raise ApiError(
                401,
                "unknown_client",
                f"unknown client system; client_id must be {_KNOWN_FORMS}",
                "client_id",
                legacy_headers(LegacyCode.AGENCY_ID_INCORRECT, **_WWW_AUTH),
            )
        return system
