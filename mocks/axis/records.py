"""The records the axis store reads and writes (plain frozen dataclasses)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "AcceptedDocument",
    "AxisLedger",
    "InboxEntry",
    "InboxPage",
    "MessageIdConflict",
    "NewDocument",
    "Receipt",
    "StoredDocument",
    "document_id_for",
]


def document_id_for(sender_code: str, message_id: str) -> str:
    """The document id: a stable hash of (sender, message id).

    Message ids are unique per sender only, so the pair is the identity; hashing keeps
    the id URL-safe and stable across retries (a retried send answers the same id).
    """
    return hashlib.sha256(f"{sender_code}\x00{message_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A verified document ready to be stored."""

    sender_code: str
    message_id: str
    digest: str
    subject: str
    priority: int
    recipients: tuple[str, ...]
    package: bytes


@dataclass(frozen=True, slots=True)
class AcceptedDocument:
    """What ``POST /documents`` answers; ``duplicate`` when it was already stored."""

    document_id: str
    message_id: str
    recipients: tuple[str, ...]
    accepted_at: float
    duplicate: bool


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A stored document with its recipients and their last receipt status."""

    document_id: str
    sender_code: str
    message_id: str
    digest: str
    subject: str
    priority: int
    package: bytes
    accepted_at: float
    recipients: tuple[str, ...]
    recipient_status: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class Receipt:
    """One status receipt sent by a recipient."""

    receipt_id: int
    document_id: str
    from_code: str
    status_code: str
    note: str
    created_at: float
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One delivery handed to an agency: a document, or a receipt for a document it sent."""

    delivery_id: int
    kind: str  # "document" | "receipt"
    document_id: str
    message_id: str
    sender_code: str
    subject: str
    priority: int
    package: bytes | None
    receipt: Receipt | None
    delivered_at: float
    attempt: int


@dataclass(frozen=True, slots=True)
class InboxPage:
    """One pull's result."""

    entries: tuple[InboxEntry, ...]
    next_cursor: int


@dataclass(frozen=True, slots=True)
class AxisLedger:
    """Everything the axis acknowledged, for drill reconciliation."""

    documents: tuple[str, ...]
    receipts: tuple[int, ...]
    deliveries_acked: tuple[int, ...]
    deliveries_pending: tuple[int, ...]


class MessageIdConflict(Exception):
    """The sender reused a message id for a different package."""

    def __init__(self, document_id: str):
        super().__init__(document_id)
        self.document_id = document_id
