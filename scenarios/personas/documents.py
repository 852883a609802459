"""Documents the personas exchange over the axis: building envelopes, working an inbox."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from kernel.edxml import Attachment, DocumentEnvelope, make_document_id
from scenarios.adapters import AxisAdapter
from scenarios.world import World

__all__ = ["new_envelope", "work_inbox", "worker_index"]

_counter = itertools.count(1)


def worker_index(environment: Any) -> int:
    """This process's worker index (0 on a local runner)."""
    return int(getattr(environment.runner, "worker_index", 0) or 0)


def new_envelope(world: World, sender_code: str, sender_name: str, recipients: list[str], subject: str,
                 *, document_type: str = "Công văn", priority: int = 0) -> DocumentEnvelope:
    """A new document from ``sender_code``, numbered uniquely within the run and process."""
    today = dt.date.today()
    number = next(_counter)
    notation = f"UBND-DT{world.config.run_id[-4:]}W{worker_index(world.environment)}"
    return DocumentEnvelope(
        message_id=make_document_id(sender_code, today, number, notation),
        sender_code=sender_code,
        sender_name=sender_name,
        recipients=recipients,
        code_number=str(number),
        code_notation=notation,
        promulgation_place=sender_name[:60],
        promulgation_date=today,
        document_type=document_type,
        subject=subject,
        priority=priority,
        attachments=[Attachment("noi-dung.txt", "text/plain", subject.encode("utf-8"))],
    )


def work_inbox(world: World, axis: AxisAdapter, token: str, province: str, commune: str | None, limit: int = 10) -> int:
    """Pull the inbox, acknowledge each delivery and send receipts 01 (arrived) and 03 (accepted)."""
    reply = axis.inbox(token, province, commune, limit=limit)
    if not reply.ok:
        return 0
    handled = 0
    for delivery in reply.data.get("deliveries", []):
        if delivery.get("kind", "document") != "document":
            axis.ack(token, delivery["delivery_id"], province, commune)
            continue
        document_id = delivery["document_id"]
        for code in ("01", "03"):
            receipt = axis.receipt(token, document_id, code, province, commune)
            if receipt.ok:
                world.ledger.record("receipts", f"{document_id}#{code}#{commune or province}")
            elif receipt.retry_after is not None:
                return handled  # told to come back later (the token's agency is held): stop here
        ack = axis.ack(token, delivery["delivery_id"], province, commune)
        if ack.ok:
            handled += 1
        elif ack.retry_after is not None:
            return handled
    return handled
