"""Adapters: the small client interface the personas use for each national system.

Personas never build URLs or bodies themselves; they call these methods. A team whose
staging API differs from the mocks writes one adapter class (same method names and
:class:`~scenarios.adapters.http.Reply` results) and names it in ``targets.yaml``
(``adapter: mypkg.adapters:build``) — the scenarios stay as they are.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from kernel.credentials import Credentials
from kernel.edxml import DocumentEnvelope, build_package
from kernel.pki import DryRunCA
from kernel.synthetic import Citizen
from scenarios.adapters.http import Reply, ServiceSession
from scenarios.adapters.shapes import (
    MALFORMED,
    catalogue_listed,
    deliveries_listed,
    document_named,
    dossier_coded,
    dossier_readable,
    receipts_listed,
    token_issued,
    worklist_listed,
)
from scenarios.adapters.throttle import GatedTokenCache

__all__ = ["PortalAdapter", "PopulationAdapter", "AxisAdapter"]


class _GatedAdapter:
    """What the three adapters share: a session, and tokens the target can hold off
    (``scenarios.adapters.throttle``): a reply with Retry-After to a request made with a
    cached token holds that token's account, so no actor uses it before the gate opens."""

    http: ServiceSession
    tokens: GatedTokenCache

    def _call(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = self.http.call(method, path, **kwargs)
        if reply.retry_after is not None:
            self.tokens.observe(kwargs.get("token"), reply)
        return reply

    def _shaped(self, shape: Callable[[dict[str, Any]], str | None], method: str, path: str, *,
                check: Callable[[dict[str, Any]], str | None] | None = None, **kwargs: Any) -> Reply:
        """:meth:`_call`, whose successful answer must have ``shape`` (``scenarios.adapters.shapes``:
        what the persona reads of it). One without is a failure in Locust's statistics under the
        shape's reason and a reply that is not ``ok`` (error code ``malformed_answer``), so the
        persona never reads it; ``check`` names other problems (reported, ``ok`` left as it was)."""
        malformed = False

        def checked(body: dict[str, Any]) -> str | None:
            # Called once, by the session, before the answer is reported: no second pass over it.
            nonlocal malformed
            problem = shape(body)
            if problem is not None:
                malformed = True
                return problem
            return check(body) if check is not None else None

        reply = self._call(method, path, check=checked, **kwargs)
        if malformed:
            reply.ok, reply.error_code = False, MALFORMED
        return reply

    def _signed_in(self, account: str, reply: Reply) -> str | None:
        """The token of a sign-in ``reply`` (cached), or None — holding ``account`` when the
        target said when to come back."""
        if not reply.ok:  # refused, or no usable token (the sign-ins' shape, token_issued)
            self.tokens.note(account, reply)
            return None
        token: str = reply.data["access_token"]
        self.tokens.put(account, token, _lifetime(reply.data))
        return token


#: A token's lifetime when the answer names none we can read: the mocks' own default.
_DEFAULT_LIFETIME_S = 60.0


def _lifetime(body: dict[str, Any]) -> float:
    """``expires_in`` in seconds; a missing, garbled or non-finite one is the default (the
    token itself is good, and a NaN expiry would never expire)."""
    try:
        seconds = float(body.get("expires_in", _DEFAULT_LIFETIME_S))
    except (TypeError, ValueError):
        return _DEFAULT_LIFETIME_S
    return seconds if math.isfinite(seconds) else _DEFAULT_LIFETIME_S


def _catalogue_published(body: dict[str, Any]) -> str | None:
    """An empty catalogue is the province not being ready, not a success."""
    return None if body.get("procedures") else "catalogue not published"


class PortalAdapter(_GatedAdapter):
    """National Public Service Portal: sign-in, catalogue, dossiers, payments, feedback."""

    def __init__(self, session: ServiceSession, credentials: Credentials):
        self.http = session
        self._credentials = credentials
        self.tokens = GatedTokenCache()

    def sign_in_citizen(self, citizen: Citizen, province: str, commune: str) -> Reply:
        """Sign in as a citizen (personal ID + password) at ``commune``'s portal entry; ``ok``
        only with a usable ``access_token``."""
        return self._shaped(
            token_issued, "POST", "/auth/token", name="POST /auth/token", province=province, commune=commune,
            json={"kind": "citizen", "personal_id": citizen.personal_id,
                  "password": self._credentials.password(citizen.personal_id)},
        )

    def officer_token(self, account: str, province: str, commune: str) -> str | None:
        """A cached officer token, signing in when there is none (None if sign-in failed, or
        while the target's Retry-After for the account is pending: no sign-in before it)."""
        if self.tokens.held(account):
            return None
        token = self.tokens.get(account)
        if token is not None:
            return token
        reply = self._shaped(
            token_issued, "POST", "/auth/token", name="POST /auth/token", province=province, commune=commune,
            json={"kind": "officer", "account": account, "password": self._credentials.password(account)},
        )
        return self._signed_in(account, reply)

    def sign_out(self, token: str, province: str, commune: str | None = None) -> Reply:
        """Revoke a token."""
        return self._call("POST", "/auth/logout", name="POST /auth/logout", province=province, commune=commune, token=token)

    def procedures(self, province: str, *, token: str | None = None, commune: str | None = None) -> Reply:
        """The province's procedure catalogue (not ``ok`` unless ``procedures`` lists procedures
        with codes; an unpublished one is an ``ok`` empty list, reported as a failure)."""
        return self._shaped(
            catalogue_listed, "GET", f"/procedures?province={province}", name="GET /procedures", province=province,
            commune=commune, token=token, check=_catalogue_published,
        )

    def submit_dossier(
        self, token: str, citizen: Citizen, procedure_code: str, idempotency_key: str, province: str, commune: str,
        *, fields: dict[str, str] | None = None,
    ) -> Reply:
        """Submit a dossier to ``commune`` online (retries must reuse ``idempotency_key``); ``ok``
        only with the dossier's ``code``."""
        body = {
            "procedure_code": procedure_code,
            "commune_code": commune,
            "channel": 2,
            "applicant": {
                "personal_id": citizen.personal_id,
                "full_name": citizen.full_name,
                "date_of_birth": citizen.date_of_birth.isoformat(),
            },
            "fields": fields or {},
        }
        return self._shaped(
            dossier_coded, "POST", "/dossiers", name="POST /dossiers", province=province, commune=commune,
            json=body, token=token, headers={"Idempotency-Key": idempotency_key}, expect=(200, 201),
        )

    def dossier(self, token: str, code: str, province: str, commune: str | None = None) -> Reply:
        """Read one dossier (owner or officer of its commune); ``ok`` only with a status, a
        numeric ``fee_vnd`` if any and an ``applicant`` object if any."""
        return self._shaped(dossier_readable, "GET", f"/dossiers/{code}", name="GET /dossiers/{code}",
                            province=province, commune=commune, token=token)

    def worklist(self, token: str, province: str, commune: str, *, status: int | None = None, limit: int = 20) -> Reply:
        """An officer's worklist of their commune; ``ok`` only when every item is a dossier with a code."""
        query = f"?limit={limit}" + (f"&status={status}" if status is not None else "")
        return self._shaped(worklist_listed, "GET", f"/dossiers{query}", name="GET /dossiers", province=province,
                            commune=commune, token=token)

    def transition(self, token: str, code: str, to: int, province: str, commune: str | None = None, note: str = "") -> Reply:
        """Move a dossier to status ``to`` (status sync from the commune's one-stop desk)."""
        return self._call(
            "POST", f"/dossiers/{code}/transitions", name="POST /dossiers/{code}/transitions", province=province,
            commune=commune, token=token, json={"to": to, "note": note},
        )

    def pay(self, token: str, code: str, idempotency_key: str, province: str, commune: str | None = None) -> Reply:
        """Create the fee payment of a dossier in status 6 (idempotent)."""
        return self._call(
            "POST", f"/dossiers/{code}/payments", name="POST /dossiers/{code}/payments", province=province, commune=commune,
            token=token, json={"intermediary": "napas"}, headers={"Idempotency-Key": idempotency_key},
        )

    def feedback(self, token: str, province: str, commune: str, subject: str, body: str) -> Reply:
        """Send citizen feedback (phản ánh kiến nghị) about a commune's service."""
        return self._call(
            "POST", "/feedback", name="POST /feedback", province=province, commune=commune,
            token=token, json={"commune_code": commune, "subject": subject, "body": body},
        )


class PopulationAdapter(_GatedAdapter):
    """National Population Database: client-credential tokens, look-ups, verifications."""

    def __init__(self, session: ServiceSession, credentials: Credentials):
        self.http = session
        self._credentials = credentials
        self.tokens = GatedTokenCache()

    def token(self, client_id: str, province: str) -> str | None:
        """A cached client-credentials token of an agency system (``province-NN``, ``portal``...);
        None if sign-in failed or while the target's Retry-After for the client is pending."""
        if self.tokens.held(client_id):
            return None
        token = self.tokens.get(client_id)
        if token is not None:
            return token
        reply = self._shaped(
            token_issued, "POST", "/auth/token", name="POST /auth/token", province=province,
            json={"client_id": client_id, "client_secret": self._credentials.password(client_id)},
        )
        return self._signed_in(client_id, reply)

    def verify(self, token: str, personal_id: str, full_name: str, date_of_birth: dt.date, purpose: str,
               province: str, commune: str | None = None) -> Reply:
        """Verify an applicant (match / no match only)."""
        return self._call(
            "POST", "/citizens/verify", name="POST /citizens/verify", province=province, commune=commune, token=token,
            json={"personal_id": personal_id, "full_name": full_name, "date_of_birth": date_of_birth.isoformat(),
                  "purpose": purpose},
        )

    def lookup(self, token: str, personal_id: str, purpose: str, province: str, commune: str | None = None) -> Reply:
        """Look a citizen up (fields depend on the caller's role)."""
        return self._call(
            "GET", f"/citizens/{personal_id}?purpose={purpose}", name="GET /citizens/{personal_id}", province=province,
            commune=commune, token=token,
        )


class AxisAdapter(_GatedAdapter):
    """National Document Axis: agency tokens, signed sends, inbox pulls, acks, receipts."""

    def __init__(self, session: ServiceSession, credentials: Credentials, ca: DryRunCA | None):
        self.http = session
        self._credentials = credentials
        self._ca = ca
        self.tokens = GatedTokenCache()

    def token(self, agency_code: str, province: str, commune: str | None = None) -> str | None:
        """A cached token of an agency system; None if sign-in failed or while the target's
        Retry-After for the agency is pending."""
        if self.tokens.held(agency_code):
            return None
        token = self.tokens.get(agency_code)
        if token is not None:
            return token
        reply = self._shaped(
            token_issued, "POST", "/auth/token", name="POST /auth/token", province=province, commune=commune,
            json={"agency_code": agency_code, "client_secret": self._credentials.password(agency_code)},
        )
        return self._signed_in(agency_code, reply)

    def sign(self, envelope: DocumentEnvelope) -> bytes:
        """The signed edXML package of ``envelope`` (signed as its sender)."""
        if self._ca is None:
            raise RuntimeError("no PKI directory configured for the axis target (targets.yaml pki_dir)")
        return build_package(envelope, self._ca.issue(envelope.sender_code))

    def send(self, token: str, package: bytes, province: str, commune: str | None = None) -> Reply:
        """Send a signed package; ``ok`` only with the stored document's ``document_id``."""
        return self._shaped(
            document_named, "POST", "/documents", name="POST /documents", province=province, commune=commune, token=token,
            data=package, headers={"Content-Type": "application/xml"}, expect=(200, 201),
        )

    def inbox(self, token: str, province: str, commune: str | None = None, *, cursor: int = 0, limit: int = 20) -> Reply:
        """Pull (and lease) the next deliveries; ``ok`` only when each has its ``delivery_id``
        (and a document delivery its ``document_id``)."""
        return self._shaped(
            deliveries_listed, "GET", f"/inbox?cursor={cursor}&limit={limit}", name="GET /inbox", province=province,
            commune=commune, token=token,
        )

    def ack(self, token: str, delivery_id: Any, province: str, commune: str | None = None) -> Reply:
        """Acknowledge a delivery."""
        return self._call(
            "POST", f"/inbox/{delivery_id}/ack", name="POST /inbox/{id}/ack", province=province, commune=commune, token=token
        )

    def receipt(self, token: str, document_id: str, status_code: str, province: str, commune: str | None = None,
                note: str = "") -> Reply:
        """Send a status receipt for a received document."""
        from urllib.parse import quote

        return self._call(
            "POST", f"/documents/{quote(document_id, safe='')}/receipts", name="POST /documents/{id}/receipts",
            province=province, commune=commune, token=token, json={"status_code": status_code, "note": note},
        )

    def receipts_of(self, token: str, document_id: str, province: str) -> Reply:
        """Receipts that came back for a document the caller sent; ``ok`` only with a list of
        receipts whose ``from_code`` is text."""
        from urllib.parse import quote

        return self._shaped(
            receipts_listed, "GET", f"/documents/{quote(document_id, safe='')}/receipts", name="GET /documents/{id}/receipts",
            province=province, token=token,
        )
