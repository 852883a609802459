"""Property: any interleaving of sends, receipts flowing back, pulls (with any cursor, or
of one kind only as the SDK face's lists pull), acks and clock moves never loses an
unacknowledged delivery and never re-delivers an acknowledged one.

Runs against the real SQLite store (in memory) with a manual clock.
"""

from __future__ import annotations

import sqlite3

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mocks.axis.receipts import ReceiptCode
from mocks.axis.records import NewDocument
from mocks.axis.store import AxisStore

AGENCY = "H26.00004"
OTHER = "H26.00008"
VISIBILITY = 30.0


class InboxMachine(RuleBasedStateMachine):
    """The store against a model of leases and acknowledgements."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.store = AxisStore(sqlite3.connect(":memory:", isolation_level=None), clock=lambda: self.now)
        self.sent = 0
        self.created: set[int] = set()  # delivery ids of AGENCY
        self.acked: set[int] = set()
        self.lease_until: dict[int, float] = {}
        self.attempts: dict[int, int] = {}
        self.cursor = 0  # the consumer's chained cursor

    @rule(to_other=st.booleans())
    def send(self, to_other: bool) -> None:
        self.sent += 1
        recipients = (AGENCY, OTHER) if to_other else (AGENCY,)
        self.store.accept_document(
            NewDocument("000.00.00.H26", f"m{self.sent}", f"d{self.sent}", "s", 0, recipients, b"<x/>")
        )
        # Test-only peek at the table: which delivery ids belong to AGENCY.
        rows = self.store._conn.execute(
            "SELECT delivery_id FROM deliveries WHERE recipient_code = ?", (AGENCY,)
        ).fetchall()
        self.created = {r[0] for r in rows}

    @rule()
    def receipt_back(self) -> None:
        """AGENCY sends a document and its recipient answers: a receipt delivery to AGENCY."""
        self.sent += 1
        accepted = self.store.accept_document(
            NewDocument(AGENCY, f"r{self.sent}", f"d{self.sent}", "s", 0, (OTHER,), b"<x/>"))
        self.store.add_receipt(accepted.document_id, OTHER, ReceiptCode.ARRIVED, "")
        rows = self.store._conn.execute(
            "SELECT delivery_id FROM deliveries WHERE recipient_code = ?", (AGENCY,)
        ).fetchall()
        self.created = {r[0] for r in rows}

    @rule(kind=st.sampled_from(["document", "receipt"]), limit=st.integers(min_value=1, max_value=4))
    def pull_kind(self, kind: str, limit: int) -> None:
        """The SDK face's list of one kind (cursor 0, the consumer's cursor untouched)."""
        self._handed(self.store.pull(AGENCY, 0, limit, VISIBILITY, kind).entries, kind)

    def _handed(self, entries, kind: str | None = None) -> None:
        for entry in entries:
            d = entry.delivery_id
            assert kind is None or entry.kind == kind
            assert d in self.created, "delivered an id that is not the agency's"
            assert d not in self.acked, f"re-delivered acknowledged delivery {d}"
            assert self.lease_until.get(d, 0.0) <= self.now, f"delivered {d} while its lease was active"
            self.attempts[d] = self.attempts.get(d, 0) + 1
            assert entry.attempt == self.attempts[d]
            self.lease_until[d] = self.now + VISIBILITY

    @rule(
        cursor_kind=st.sampled_from(["chain", "zero", "forged", "stale"]),
        forged=st.integers(min_value=-5, max_value=10_000),
        limit=st.integers(min_value=1, max_value=4),
    )
    def pull(self, cursor_kind: str, forged: int, limit: int) -> None:
        cursor = {"chain": self.cursor, "zero": 0, "forged": forged, "stale": max(0, self.cursor - 2)}[cursor_kind]
        page = self.store.pull(AGENCY, cursor, limit, VISIBILITY)
        self._handed(page.entries)
        # The consumer carries on from whatever cursor the server handed back.
        self.cursor = page.next_cursor

    @precondition(lambda self: bool(self.lease_until))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        d = data.draw(st.sampled_from(sorted(self.lease_until)))
        assert self.store.ack(AGENCY, d) is not None
        self.acked.add(d)

    @rule(seconds=st.sampled_from([0.0, 1.0, 29.0, 30.0, 31.0, 100.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def ledger_agrees(self) -> None:
        ledger = self.store.ledger()
        assert self.acked == set(ledger.deliveries_acked)

    def teardown(self) -> None:
        # Liveness: once every lease has run out, a consumer following its cursor chain
        # (whatever it did before) receives every unacknowledged delivery.
        self.now += VISIBILITY + 1
        seen: set[int] = set()
        cursor = self.cursor
        for _ in range(len(self.created) + 2):
            page = self.store.pull(AGENCY, cursor, 3, VISIBILITY)
            if not page.entries:
                break
            seen |= {e.delivery_id for e in page.entries}
            cursor = page.next_cursor
        assert seen == self.created - self.acked, (
            f"lost unacknowledged deliveries {sorted(self.created - self.acked - seen)}"
        )


InboxMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestInboxNeverLosesNorRedeliversAcked = InboxMachine.TestCase
