"""Adapters: the small client interface the personas use for each national system.

Personas never build URLs or bodies themselves; they call these methods. A team whose
staging API differs from the mocks writes one adapter class (same method names and
:class:`~scenarios.adapters.http.Reply` results) and names it in ``targets.yaml``
(``adapter: mypkg.adapters:build``) — the scenarios stay as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kernel.credentials import derive_password
from kernel.edxml import DocumentEnvelope, build_package
from kernel.pki import DryRunCA
from kernel.synthetic import Citizen
from scenarios.adapters.http import Reply, ServiceSession, TokenCache

__all__ = ["PortalAdapter", "PopulationAdapter", "AxisAdapter"]


def _catalogue_published(body: dict[str, Any]) -> str | None:
    """An empty catalogue is the province not being ready, not a success."""
    return None if body.get("procedures") else "catalogue not published"


class PortalAdapter:
    """National Public Service Portal: sign-in, catalogue, dossiers, payments, feedback."""

    def __init__(self, session: ServiceSession, secret: str):
        self.http = session
        self._secret = secret
        self.tokens = TokenCache()

    def sign_in_citizen(self, citizen: Citizen, province: str, commune: str) -> Reply:
        """Sign in as a citizen (personal ID + password) at ``commune``'s portal entry."""
        return self.http.call(
            "POST", "/auth/token", name="POST /auth/token", province=province, commune=commune,
            json={"kind": "citizen", "personal_id": citizen.personal_id,
                  "password": derive_password(self._secret, citizen.personal_id)},
        )

    def officer_token(self, account: str, province: str, commune: str) -> str | None:
        """A cached officer token, signing in when there is none (None if sign-in failed)."""
        token = self.tokens.get(account)
        if token is not None:
            return token
        reply = self.http.call(
            "POST", "/auth/token", name="POST /auth/token", province=province, commune=commune,
            json={"kind": "officer", "account": account, "password": derive_password(self._secret, account)},
        )
        if not reply.ok:
            return None
        self.tokens.put(account, reply.data["access_token"], float(reply.data.get("expires_in", 60)))
        return reply.data["access_token"]

    def sign_out(self, token: str, province: str, commune: str | None = None) -> Reply:
        """Revoke a token."""
        return self.http.call("POST", "/auth/logout", name="POST /auth/logout", province=province, commune=commune, token=token)

    def procedures(self, province: str, *, token: str | None = None, commune: str | None = None) -> Reply:
        """The province's procedure catalogue."""
        return self.http.call(
            "GET", f"/procedures?province={province}", name="GET /procedures", province=province, commune=commune,
            token=token, check=_catalogue_published,
        )

    def submit_dossier(
        self, token: str, citizen: Citizen, procedure_code: str, idempotency_key: str, province: str, commune: str,
        *, fields: dict[str, str] | None = None,
    ) -> Reply:
        """Submit a dossier to ``commune`` online (retries must reuse ``idempotency_key``)."""
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
        return self.http.call(
            "POST", "/dossiers", name="POST /dossiers", province=province, commune=commune,
            json=body, token=token, headers={"Idempotency-Key": idempotency_key}, expect=(200, 201),
        )

    def dossier(self, token: str, code: str, province: str, commune: str | None = None) -> Reply:
        """Read one dossier (owner or officer of its commune)."""
        return self.http.call("GET", f"/dossiers/{code}", name="GET /dossiers/{code}", province=province, commune=commune,
                              token=token)

    def worklist(self, token: str, province: str, commune: str, *, status: int | None = None, limit: int = 20) -> Reply:
        """An officer's worklist of their commune."""
        query = f"?limit={limit}" + (f"&status={status}" if status is not None else "")
        return self.http.call("GET", f"/dossiers{query}", name="GET /dossiers", province=province, commune=commune, token=token)

    def transition(self, token: str, code: str, to: int, province: str, commune: str | None = None, note: str = "") -> Reply:
        """Move a dossier to status ``to`` (status sync from the commune's one-stop desk)."""
        return self.http.call(
            "POST", f"/dossiers/{code}/transitions", name="POST /dossiers/{code}/transitions", province=province,
            commune=commune, token=token, json={"to": to, "note": note},
        )

    def pay(self, token: str, code: str, idempotency_key: str, province: str, commune: str | None = None) -> Reply:
        """Create the fee payment of a dossier in status 6 (idempotent)."""
        return self.http.call(
            "POST", f"/dossiers/{code}/payments", name="POST /dossiers/{code}/payments", province=province, commune=commune,
            token=token, json={"intermediary": "napas"}, headers={"Idempotency-Key": idempotency_key},
        )

    def feedback(self, token: str, province: str, commune: str, subject: str, body: str) -> Reply:
        """Send citizen feedback (phản ánh kiến nghị) about a commune's service."""
        return self.http.call(
            "POST", "/feedback", name="POST /feedback", province=province, commune=commune,
            token=token, json={"commune_code": commune, "subject": subject, "body": body},
        )


class PopulationAdapter:
    """National Population Database: client-credential tokens, look-ups, verifications."""

    def __init__(self, session: ServiceSession, secret: str):
        self.http = session
        self._secret = secret
        self.tokens = TokenCache()

    def token(self, client_id: str, province: str) -> str | None:
        """A cached client-credentials token of an agency system (``province-NN``, ``portal``...)."""
        token = self.tokens.get(client_id)
        if token is not None:
            return token
        reply = self.http.call(
            "POST", "/auth/token", name="POST /auth/token", province=province,
            json={"client_id": client_id, "client_secret": derive_password(self._secret, client_id)},
        )
        if not reply.ok:
            return None
        self.tokens.put(client_id, reply.data["access_token"], float(reply.data.get("expires_in", 60)))
        return reply.data["access_token"]

    def verify(self, token: str, personal_id: str, full_name: str, date_of_birth: dt.date, purpose: str,
               province: str, commune: str | None = None) -> Reply:
        """Verify an applicant (match / no match only)."""
        return self.http.call(
            "POST", "/citizens/verify", name="POST /citizens/verify", province=province, commune=commune, token=token,
            json={"personal_id": personal_id, "full_name": full_name, "date_of_birth": date_of_birth.isoformat(),
                  "purpose": purpose},
        )

    def lookup(self, token: str, personal_id: str, purpose: str, province: str, commune: str | None = None) -> Reply:
        """Look a citizen up (fields depend on the caller's role)."""
        return self.http.call(
            "GET", f"/citizens/{personal_id}?purpose={purpose}", name="GET /citizens/{personal_id}", province=province,
            commune=commune, token=token,
        )


class AxisAdapter:
    """National Document Axis: agency tokens, signed sends, inbox pulls, acks, receipts."""

    def __init__(self, session: ServiceSession, secret: str, ca: DryRunCA | None):
        self.http = session
        self._secret = secret
        self._ca = ca
        self.tokens = TokenCache()

    def token(self, agency_code: str, province: str, commune: str | None = None) -> str | None:
        """A cached token of an agency system."""
        token = self.tokens.get(agency_code)
        if token is not None:
            return token
        reply = self.http.call(
            "POST", "/auth/token", name="POST /auth/token", province=province, commune=commune,
            json={"agency_code": agency_code, "client_secret": derive_password(self._secret, agency_code)},
        )
        if not reply.ok:
            return None
        self.tokens.put(agency_code, reply.data["access_token"], float(reply.data.get("expires_in", 60)))
        return reply.data["access_token"]

    def sign(self, envelope: DocumentEnvelope) -> bytes:
        """The signed edXML package of ``envelope`` (signed as its sender)."""
        if self._ca is None:
            raise RuntimeError("no PKI directory configured for the axis target (targets.yaml pki_dir)")
        return build_package(envelope, self._ca.issue(envelope.sender_code))

    def send(self, token: str, package: bytes, province: str, commune: str | None = None) -> Reply:
        """Send a signed package."""
        return self.http.call(
            "POST", "/documents", name="POST /documents", province=province, commune=commune, token=token,
            data=package, headers={"Content-Type": "application/xml"}, expect=(200, 201),
        )

    def inbox(self, token: str, province: str, commune: str | None = None, *, cursor: int = 0, limit: int = 20) -> Reply:
        """Pull (and lease) the next deliveries."""
        return self.http.call(
            "GET", f"/inbox?cursor={cursor}&limit={limit}", name="GET /inbox", province=province, commune=commune, token=token
        )

    def ack(self, token: str, delivery_id: Any, province: str, commune: str | None = None) -> Reply:
        """Acknowledge a delivery."""
        return self.http.call(
            "POST", f"/inbox/{delivery_id}/ack", name="POST /inbox/{id}/ack", province=province, commune=commune, token=token
        )

    def receipt(self, token: str, document_id: str, status_code: str, province: str, commune: str | None = None,
                note: str = "") -> Reply:
        """Send a status receipt for a received document."""
        from urllib.parse import quote

        return self.http.call(
            "POST", f"/documents/{quote(document_id, safe='')}/receipts", name="POST /documents/{id}/receipts",
            province=province, commune=commune, token=token, json={"status_code": status_code, "note": note},
        )

    def receipts_of(self, token: str, document_id: str, province: str) -> Reply:
        """Receipts that came back for a document the caller sent."""
        from urllib.parse import quote

        return self.http.call(
            "GET", f"/documents/{quote(document_id, safe='')}/receipts", name="GET /documents/{id}/receipts",
            province=province, token=token,
        )
