"""What the personas read of each native answer, checked before the answer is reported.

A target may answer a request with the status it promised and well-formed JSON that lacks
a field the personas read, or holds it as another type (an HTML page in a 200 is ``{}``; a
staging build may send ``null`` for an id or a number as text). Read as it came, such an
answer was a success in Locust's statistics and then a ``KeyError``/``TypeError`` in the
persona. Each check here names the first thing missing or mistyped — ``"malformed answer:
…"``, the failure Locust records — or returns None; the adapter method that passes it as
its shape (``_GatedAdapter._shaped``) then hands the persona a reply that is not ``ok``
(error code :data:`MALFORMED`).

The checks run on every answer, at thousands a second per core: each reads only the fields
a persona or adapter reads (O(fields read)), never validates an answer whole.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MALFORMED",
    "catalogue_listed",
    "deliveries_listed",
    "document_named",
    "dossier_coded",
    "dossier_readable",
    "receipts_listed",
    "token_issued",
    "worklist_listed",
]

#: The error code of a reply whose answer lacks what is read of it (as the C06 adapter's).
MALFORMED = "malformed_answer"


def _named(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def token_issued(body: dict[str, Any]) -> str | None:
    """``POST /auth/token``: a usable ``access_token`` (a 200 with an HTML page, ``{}`` or a
    null token is a failed sign-in, not a KeyError in the actor)."""
    return None if _named(body.get("access_token")) else "sign-in answer carries no access_token"


def dossier_coded(body: dict[str, Any]) -> str | None:
    """``POST /dossiers``: the code the citizen follows the dossier by."""
    return None if _named(body.get("code")) else "malformed answer: no dossier code"


def _coded(items: Any, not_a_list: str, not_coded: str) -> str | None:
    """``items`` is a list of objects, each with a text ``code``: None, or which it is not."""
    if not isinstance(items, list):
        return not_a_list
    if any(not isinstance(item, dict) or not _named(item.get("code")) for item in items):
        return not_coded
    return None


def catalogue_listed(body: dict[str, Any]) -> str | None:
    """``GET /procedures``: a list of procedures with codes (an unpublished one is ``[]``) —
    the catalogue is kept for the run and a citizen applies for any of its entries."""
    wrong = "malformed answer: procedures is not a list of procedures"
    return _coded(body.get("procedures"), wrong, wrong)


def worklist_listed(body: dict[str, Any]) -> str | None:
    """``GET /dossiers``: items that are dossiers with a code (the officer moves each by it)."""
    return _coded(body.get("items"), "malformed answer: items is not a list",
                  "malformed answer: worklist item is not a dossier with a code")


def dossier_readable(body: dict[str, Any]) -> str | None:
    """``GET /dossiers/{code}``: a status, a numeric fee if any, and an applicant object
    whose identity fields are text (the officer verifies them against the population)."""
    if not isinstance(body.get("status"), int):
        return "malformed answer: dossier has no status"
    fee = body.get("fee_vnd")
    if fee is not None and not isinstance(fee, (int, float)):
        return "malformed answer: fee_vnd is not a number"
    applicant = body.get("applicant")
    if applicant is None:
        return None
    if not isinstance(applicant, dict):
        return "malformed answer: applicant is not an object"
    for key in ("personal_id", "full_name", "date_of_birth"):
        value = applicant.get(key)
        if value is not None and not isinstance(value, str):
            return f"malformed answer: applicant {key} is not text"
    return None


def document_named(body: dict[str, Any]) -> str | None:
    """``POST /documents``: the id the sender follows the document's receipts by."""
    return None if _named(body.get("document_id")) else "malformed answer: no document_id"


def deliveries_listed(body: dict[str, Any]) -> str | None:
    """``GET /inbox``: deliveries with the id they are acknowledged by, and a document
    delivery with the id its receipts are sent for."""
    deliveries = body.get("deliveries")
    if not isinstance(deliveries, list):
        return "malformed answer: deliveries is not a list"
    for delivery in deliveries:
        if not isinstance(delivery, dict):
            return "malformed answer: delivery is not an object"
        if not isinstance(delivery.get("delivery_id"), (int, str)):
            return "malformed answer: delivery without a delivery_id"
        if delivery.get("kind", "document") == "document" and not _named(delivery.get("document_id")):
            return "malformed answer: delivery without a document_id"
    return None


def receipts_listed(body: dict[str, Any]) -> str | None:
    """``GET /documents/{id}/receipts``: receipts whose ``from_code`` is a code (the agency
    gathers them in a set to find the communes that have not answered)."""
    receipts = body.get("receipts")
    if not isinstance(receipts, list):
        return "malformed answer: receipts is not a list"
    for receipt in receipts:
        if not isinstance(receipt, dict):
            return "malformed answer: receipt is not an object"
        code = receipt.get("from_code")
        if code is not None and not isinstance(code, str):
            return "malformed answer: receipt from_code is not a code"
    return None
