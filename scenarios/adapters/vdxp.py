"""The document axis through the agencies' SDK calls (``vdxp``): the personas' axis adapter
for a target that speaks ``sendEdoc``, ``getReceivedEdocList``, ``updateStatus``...

Same methods and :class:`~scenarios.adapters.http.Reply` data as
:class:`~scenarios.adapters.systems.AxisAdapter`; each call is one signed request
(:mod:`kernel.national.vdxp`: systemid, timestamp, HMAC-SHA256 of systemid + timestamp +
Content-Type + body, keyed by the agency's secret — ``credentials.password(agency)``).
The operations are posted to ``<base_url>/vdxp/<operation>`` (the mocks' mount point;
:attr:`VdxpAxisAdapter.prefix`).

How the native calls map:

* ``token`` — no sign-in in a signed-request scheme: the handle is the system id (the
  agency code), or ``None`` while the target's Retry-After for it is pending;
* ``send`` — ``sendEdoc``; ``data["document_id"]`` is the SDK's ``DocId``;
* ``inbox`` — ``getReceivedEdocList``; each knobstick becomes a native delivery
  (``kind``, ``document_id``, ``delivery_id``...). Its ``delivery_id`` is the handle
  ``"<deliveryId>@<docId>"``, since the SDK acknowledges by document;
* ``ack`` — ``updateStatus`` ``done`` of that delivery;
* ``receipt`` — ``updateStatus`` with the QCVN 102 code;
* ``receipts_of`` — ``getSentEdocList``; ``data["receipts"]`` lists every recipient's receipts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from kernel.credentials import Credentials
from kernel.national.vdxp import HASH_HEADER, SYSTEM_ID_HEADER, TIMESTAMP_HEADER, format_timestamp, signature
from kernel.pki import DryRunCA
from scenarios.adapters.http import Reply, ServiceSession
from scenarios.adapters.systems import AxisAdapter

__all__ = ["VdxpAxisAdapter"]

_JSON = "application/json"
_XML = "application/xml"
#: The handle's lifetime in the token cache: it never expires (nothing was issued).
_FOREVER_S = 10.0 * 365 * 86400


def _sdk_ok(body: dict[str, Any]) -> str | None:
    """A 2xx whose ``status`` is not OK is still a failure (the SDK's own test)."""
    return None if body.get("status") == "OK" else f"SDK status {body.get('status')!r} {body.get('ErrorCode') or ''}"


def _objects(rows: Any) -> bool:
    return isinstance(rows, list) and all(isinstance(row, dict) for row in rows)


def _listed(body: dict[str, Any]) -> str | None:
    """An ``OK`` list answer whose ``data`` is a list of objects (what the mapping reads)."""
    return None if _objects(body.get("data", [])) else "malformed answer: data is not a list"


def _receipts_listed(body: dict[str, Any]) -> str | None:
    problem = _listed(body)
    if problem is None and not all(_objects(sent.get("receipts", [])) for sent in body.get("data", [])):
        return "malformed answer: receipts is not a list"
    return problem


def _document_named(body: dict[str, Any]) -> str | None:
    """A ``sendEdoc`` ``OK`` names the document it stored: without it nothing can be followed up."""
    doc_id = body.get("DocId")
    return None if isinstance(doc_id, str) and doc_id else "malformed answer: no DocId"


class VdxpAxisAdapter(AxisAdapter):
    """National Document Axis through the SDK's signed calls (see the module docstring)."""

    prefix = "/vdxp"

    def __init__(self, session: ServiceSession, credentials: Credentials, ca: DryRunCA | None):
        super().__init__(session, credentials, ca)
        self._last_stamp: dict[str, str] = {}

    # -- signing ---------------------------------------------------------------------

    def _stamp(self, system_id: str) -> str:
        """A timestamp for ``system_id``, never the same twice in this process (the target
        refuses a replayed signature; two identical requests in one millisecond would be one)."""
        now = time.time()
        stamp = format_timestamp(now)
        while stamp <= self._last_stamp.get(system_id, "") and stamp[:15] == self._last_stamp[system_id][:15]:
            now += 0.001
            stamp = format_timestamp(now)
        self._last_stamp[system_id] = stamp
        return stamp

    def _signed(self, operation: str, system_id: str, body: bytes, content_type: str, province: str,
                commune: str | None, extra: dict[str, str] | None = None,
                shape: Callable[[dict[str, Any]], str | None] | None = None) -> Reply:
        """One signed call; an ``OK`` answer must also have the ``shape`` the mapping reads."""

        def check(answer: dict[str, Any]) -> str | None:
            return _sdk_ok(answer) or (shape(answer) if shape is not None else None)

        stamp = self._stamp(system_id)
        headers = {
            "Content-Type": content_type,
            SYSTEM_ID_HEADER: system_id,
            TIMESTAMP_HEADER: stamp,
            HASH_HEADER: signature(self._credentials.password(system_id), system_id, stamp, content_type, body),
            **(extra or {}),
        }
        reply = self.http.call("POST", f"{self.prefix}/{operation}", name=f"POST /vdxp/{operation}", province=province,
                               commune=commune, data=body, headers=headers, expect=(200,), check=check)
        if reply.retry_after is not None:
            self.tokens.observe(system_id, reply)
        if reply.error_code is None and reply.data.get("status") == "FAIL":
            reply.error_code = str(reply.data.get("ErrorCode"))
        if reply.ok and check(reply.data) is not None:
            reply.ok = False
        return reply

    def _json(self, operation: str, system_id: str, payload: dict[str, Any], province: str,
              commune: str | None, shape: Callable[[dict[str, Any]], str | None] | None = None) -> Reply:
        # requestId: officers of one commune on different workers may send the same body in
        # the same millisecond; without it the target would take the second for a replay.
        body = orjson.dumps({**payload, "requestId": secrets.token_hex(8)})
        return self._signed(operation, system_id, body, _JSON, province, commune, shape=shape)

    # -- the native adapter's methods ---------------------------------------------------

    def token(self, agency_code: str, province: str, commune: str | None = None) -> str | None:
        """The system id of the agency (a handle: nothing is signed in), or None while the
        target's Retry-After for it is pending."""
        if self.tokens.held(agency_code):
            return None
        if self.tokens.get(agency_code) is None:
            self.tokens.put(agency_code, agency_code, _FOREVER_S)
        return agency_code

    def send(self, token: str, package: bytes, province: str, commune: str | None = None) -> Reply:
        """``sendEdoc``: the signed package, from the handle's agency, as a new document."""
        reply = self._signed("sendEdoc", token, package, _XML, province, commune, {
            "XroadVnpt-from": token, "XroadVnpt-servicetype": "eDoc", "XroadVnpt-messagetype": "edoc"},
            shape=_document_named)
        if reply.ok:
            reply.data = {**reply.data, "document_id": reply.data.get("DocId"),
                          "message_id": reply.data.get("messageId")}
        return reply

    def inbox(self, token: str, province: str, commune: str | None = None, *, cursor: int = 0,
              limit: int = 20) -> Reply:
        """``getReceivedEdocList`` of both kinds in one list (no ``messagetype``, as the native
        inbox): knobsticks as native deliveries (``cursor`` has no SDK counterpart: every
        pull starts from the oldest deliverable row)."""
        reply = self._json("getReceivedEdocList", token, {"limit": limit}, province, commune, _listed)
        if reply.ok:
            deliveries = [{
                "delivery_id": f"{k.get('deliveryId')}@{k.get('docId')}",
                "kind": "receipt" if k.get("serviceType") == "status" else "document",
                "document_id": k.get("docId"),
                "message_id": k.get("messageId"),
                "sender_code": k.get("from"),
                "subject": k.get("subject"),
                "priority": k.get("priority"),
                "attempt": k.get("attempt"),
                "status_code": k.get("status") if k.get("serviceType") == "status" else None,
            } for k in reply.data.get("data", [])]
            reply.data = {**reply.data, "deliveries": deliveries}
        return reply

    def ack(self, token: str, delivery_id: Any, province: str, commune: str | None = None) -> Reply:
        """``updateStatus`` ``done`` of one delivery (a handle :meth:`inbox` returned)."""
        number, _, doc_id = str(delivery_id).partition("@")
        payload: dict[str, Any] = {"docId": doc_id, "status": "done"}
        if number.isdigit():
            payload["deliveryId"] = int(number)
        return self._json("updateStatus", token, payload, province, commune)

    def receipt(self, token: str, document_id: str, status_code: str, province: str, commune: str | None = None,
                note: str = "") -> Reply:
        """``updateStatus`` with a QCVN 102 receipt code."""
        return self._json("updateStatus", token, {"docId": document_id, "status": status_code,
                                                  "description": note}, province, commune)

    def receipts_of(self, token: str, document_id: str, province: str) -> Reply:
        """``getSentEdocList`` of one document: every recipient's receipts, as native receipts."""
        reply = self._json("getSentEdocList", token, {"docId": document_id, "servicetype": "eDoc",
                                                      "messagetype": "edoc"}, province, None, _receipts_listed)
        if reply.ok:
            receipts = [{"receipt_id": r.get("receiptId"), "document_id": document_id, "from_code": s.get("toCode"),
                         "status_code": r.get("status"), "note": r.get("description"), "created_at": r.get("time")}
                        for s in reply.data.get("data", []) for r in s.get("receipts", [])]
            reply.data = {**reply.data, "document_id": document_id, "receipts": receipts}
        return reply
