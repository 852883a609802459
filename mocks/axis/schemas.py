"""Request models and OpenAPI response schemas of the document axis."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mocks.axis.receipts import ReceiptCode
from mocks.core.http import RequestModel

__all__ = [
    "ACK_SCHEMA",
    "AGENCY_PAGE_SCHEMA",
    "DOCUMENT_ACCEPTED_SCHEMA",
    "DOCUMENT_SCHEMA",
    "INBOX_SCHEMA",
    "RECEIPT_LIST_SCHEMA",
    "RECEIPT_SCHEMA",
    "ReceiptRequest",
    "TOKEN_SCHEMA",
    "TokenRequest",
]


class TokenRequest(RequestModel):
    """Client-credentials sign-in of an agency system."""

    agency_code: str = Field(min_length=1, max_length=64)
    client_secret: str = Field(min_length=1, max_length=128)


class ReceiptRequest(RequestModel):
    """A status receipt sent by a recipient: official code and an optional note."""

    status_code: ReceiptCode
    note: str = Field(default="", max_length=2000)


def _obj(required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_STR = {"type": ["string", "null"]}

TOKEN_SCHEMA = _obj(
    ["access_token", "token_type", "expires_in"],
    {"access_token": _STR, "token_type": {"const": "Bearer"}, "expires_in": _INT},
)

AGENCY_SCHEMA = _obj(
    ["code", "name", "level", "province_code", "status", "closed_reason"],
    {
        "code": _STR,
        "name": _STR,
        "level": {"enum": ["central", "province", "district", "commune"]},
        "province_code": _NULLABLE_STR,
        "status": {"enum": ["open", "closed"]},
        "closed_reason": _NULLABLE_STR,
    },
)
AGENCY_PAGE_SCHEMA = _obj(
    ["agencies", "next_cursor"],
    {"agencies": {"type": "array", "items": AGENCY_SCHEMA}, "next_cursor": {"type": ["integer", "null"]}},
)

DOCUMENT_ACCEPTED_SCHEMA = _obj(
    ["document_id", "message_id", "recipients", "accepted_at", "duplicate"],
    {
        "document_id": _STR,
        "message_id": _STR,
        "recipients": {"type": "array", "items": _STR},
        "accepted_at": _TIME,
        "duplicate": {"type": "boolean"},
    },
)

RECEIPT_SCHEMA = _obj(
    ["receipt_id", "document_id", "from_code", "status_code", "note", "created_at"],
    {
        "receipt_id": _INT,
        "document_id": _STR,
        "from_code": _STR,
        "status_code": {"enum": [c.value for c in ReceiptCode]},
        "note": _STR,
        "created_at": _TIME,
        "duplicate": {"type": "boolean"},
    },
)
RECEIPT_LIST_SCHEMA = _obj(
    ["document_id", "receipts"], {"document_id": _STR, "receipts": {"type": "array", "items": RECEIPT_SCHEMA}}
)

DOCUMENT_SCHEMA = _obj(
    ["document_id", "message_id", "sender_code", "subject", "priority", "recipients", "accepted_at", "digest", "package_b64"],
    {
        "document_id": _STR,
        "message_id": _STR,
        "sender_code": _STR,
        "subject": _STR,
        "priority": {"type": "integer", "minimum": 0, "maximum": 4},
        "recipients": {
            "type": "array",
            "items": _obj(["code", "last_status"], {"code": _STR, "last_status": _NULLABLE_STR}),
        },
        "accepted_at": _TIME,
        "digest": _STR,
        "package_b64": {"type": "string", "contentEncoding": "base64"},
    },
)

INBOX_ENTRY_SCHEMA = _obj(
    ["delivery_id", "kind", "document_id", "message_id", "sender_code", "subject", "priority",
     "package_b64", "receipt", "delivered_at", "attempt"],
    {
        "delivery_id": _INT,
        "kind": {"enum": ["document", "receipt"]},
        "document_id": _STR,
        "message_id": _STR,
        "sender_code": _STR,
        "subject": _STR,
        "priority": _INT,
        "package_b64": {"type": ["string", "null"], "contentEncoding": "base64"},
        "receipt": {"oneOf": [RECEIPT_SCHEMA, {"type": "null"}]},
        "delivered_at": _TIME,
        "attempt": {"type": "integer", "minimum": 1},
    },
)
INBOX_SCHEMA = _obj(
    ["deliveries", "next_cursor", "visibility_timeout_s"],
    {
        "deliveries": {"type": "array", "items": INBOX_ENTRY_SCHEMA},
        "next_cursor": _INT,
        "visibility_timeout_s": {"type": "number"},
    },
)

ACK_SCHEMA = _obj(
    ["delivery_id", "acked", "acked_at", "already_acked"],
    {"delivery_id": _INT, "acked": {"const": True}, "acked_at": _TIME, "already_acked": {"type": "boolean"}},
)
