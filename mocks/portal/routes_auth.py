"""``POST /auth/token`` and ``POST /auth/logout``: sign-in for citizens and officers.

Sign-in failures all look alike (401 ``invalid_credentials``, same message) whether the
account does not exist or the password is wrong. A locked account answers 423 with
``Retry-After`` — for the right password too, until the lock has been served.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import json_response, read_body, validation_error
from mocks.portal.accounts import officer_of, password_matches
from mocks.portal.models import CitizenLogin, OfficerLogin, remap_personal_id_error
from mocks.portal.service import portal_of

__all__ = ["issue_token", "logout", "sign_in", "SignedIn", "TOKEN_RESPONSE_SCHEMA"]

_LOGIN = TypeAdapter(CitizenLogin | OfficerLogin)
_BAD_CREDENTIALS = "account or password is incorrect"

TOKEN_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "role"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "role": {"enum": ["citizen", "officer"]},
        "commune_code": {"type": ["string", "null"]},
    },
}


def _parse_login(body: bytes) -> CitizenLogin | OfficerLogin:
    try:
        return _LOGIN.validate_json(body)
    except ValidationError as exc:
        err = validation_error(exc)
        # The union puts the branch name first in the location ("CitizenLogin.password"):
        # report the field as the client wrote it.
        if err.field and "." in err.field and err.field.split(".", 1)[0].endswith("Login"):
            field = err.field.split(".", 1)[1]
            err = ApiError(err.status, err.code, err.message.replace(err.field, field), field)
        elif err.field in ("CitizenLogin", "OfficerLogin"):
            err = ApiError(err.status, err.code, err.message, None)
        raise remap_personal_id_error(err) from None


class SignedIn(NamedTuple):
    """A successful sign-in: the bearer token, its lifetime, the role and the officer's commune."""

    token: str
    expires_in: int
    role: str
    commune_code: str | None


async def issue_token(request: Request) -> Response:
    """Sign a citizen or officer in; answer with a short-lived bearer token."""
    portal = portal_of(request)
    json_typed = request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
    if not json_typed and "any_content_type" not in portal.vulnerable:  # planted weakness: any body type parsed
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json", "Content-Type")
    login = _parse_login(await read_body(request))
    signed = await sign_in(request, login)
    return json_response(
        {"access_token": signed.token, "token_type": "Bearer", "expires_in": signed.expires_in, "role": signed.role,
         "commune_code": signed.commune_code}
    )


async def sign_in(request: Request, login: CitizenLogin | OfficerLogin) -> SignedIn:
    """Check a sign-in with every rule (lockout, stuffing, readiness) and issue its token.

    Shared by ``POST /auth/token`` and the integration-adapter face's login.
    """
    portal = portal_of(request)
    account = login.personal_id if isinstance(login, CitizenLogin) else login.account
    officer = officer_of(account, portal.settings.officers_per_commune) if isinstance(login, OfficerLogin) else None
    if officer is not None:
        await enter_scope(request, province=officer.commune.province_code)

    lockout = "no_lockout" not in portal.vulnerable  # planted weakness: unlimited guessing
    throttle = portal.throttle
    lock_key = account
    if "trust_forwarded_for" in portal.vulnerable:  # planted weakness: lockout keyed by client-claimed address
        lock_key = f"{account}|{request.headers.get('x-forwarded-for', '')}"
    if lockout:
        wait = throttle.retry_after(lock_key)
        if wait is not None:
            raise _locked(wait)
    known = isinstance(login, CitizenLogin) or officer is not None
    # Unknown accounts still pay for one password derivation, so timing does not tell them apart.
    ok = password_matches(portal.settings.dry_run_secret, account, login.password) and known
    if not ok:
        if lockout:
            wait = throttle.record_failure(lock_key)
            if wait is not None:
                raise _locked(wait)
            # Keyed by the socket peer: X-Forwarded-For is the attacker's to choose.
            peer = request.client.host if request.client else "unknown"
            wait = portal.stuffing.record_failure(peer, account)
            if wait is not None:
                await asyncio.sleep(portal.settings.stuffing_tarpit_s)
                raise ApiError(
                    429, "sign_in_throttled",
                    f"too many failed sign-ins across accounts from this address; try again in {wait} s",
                    None, {"Retry-After": str(wait)},
                )
        if not known and "user_enumeration" in portal.vulnerable:  # planted weakness: tells unknown accounts apart
            raise ApiError(401, "unknown_account", "no such officer account", "account")
        raise ApiError(401, "invalid_credentials", _BAD_CREDENTIALS, "password")
    throttle.record_success(lock_key)

    if officer is None:
        token, ttl = portal.tokens.issue(account, "citizen")
        return SignedIn(token, ttl, "citizen", None)
    province = officer.commune.province_code
    if not request.app.state.readiness.province(province).accounts_issued:
        raise ApiError(
            403,
            "accounts_not_issued",
            f"province {province} has not issued officer accounts on the national portal yet",
            "account",
        )
    portal.record_peer(request, officer.commune.code)
    token, ttl = portal.tokens.issue(account, "officer", commune=officer.commune.code, province=province)
    return SignedIn(token, ttl, "officer", officer.commune.code)


def _locked(wait: int) -> ApiError:
    return ApiError(
        423,
        "account_locked",
        f"too many failed sign-ins for this account; try again in {wait} s",
        None,
        {"Retry-After": str(wait)},
    )


async def logout(request: Request) -> Response:
    """Revoke the caller's token (the revocation survives a restart)."""
    portal = portal_of(request)
    caller = portal.caller(request)
    if "logout_not_revoked" not in portal.vulnerable:  # planted weakness: logout that revokes nothing
        portal.tokens.revoke(caller.jti, caller.exp)
    return json_response({"revoked": True})
