"""Unit tests of the document-axis rules: directory, receipt order, inbox store."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.roster import GOVERNMENT_OFFICE_CODE, load_roster
from mocks.axis.directory import DISTRICT_CLOSED_REASON, AgencyLevel, AgencyStatus, build_directory
from mocks.axis.inbox import LeaseState, effective_cursor, is_deliverable, next_cursor
from mocks.axis.receipts import TERMINAL_CODES, ReceiptCode, ReceiptRuleError, check_transition
from mocks.axis.records import MessageIdConflict, NewDocument, document_id_for
from mocks.axis.store import AxisStore

HANOI = "000.00.00.H26"


class Clock:
    """A manual clock for the store."""

    def __init__(self, t: float = 1_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_store(clock: Clock | None = None) -> AxisStore:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    return AxisStore(conn, clock or Clock())


def doc(message_id: str = "m1", sender: str = HANOI, recipients: tuple[str, ...] = ("H26.00004",),
        digest: str = "d1") -> NewDocument:
    return NewDocument(sender, message_id, digest, "Công văn", 0, recipients, b"<edXML/>")


# -- directory ---------------------------------------------------------------------


def test_directory_holds_office_provinces_communes_and_closed_districts():
    roster = load_roster()
    directory = build_directory()
    closed = sum(len(p.closed_district_agency_codes) for p in roster.provinces)
    assert len(directory) == 1 + 34 + 3321 + closed
    office = directory.get(GOVERNMENT_OFFICE_CODE)
    assert office is not None and office.level is AgencyLevel.CENTRAL and office.is_open
    hanoi = directory.get(HANOI)
    assert hanoi is not None and hanoi.province_code == "01" and hanoi.level is AgencyLevel.PROVINCE
    commune = directory.get("H26.00004")
    assert commune is not None and commune.name == "Ủy ban nhân dân Phường Ba Đình" and commune.is_open


def test_closed_district_agencies_carry_the_abolition_reason():
    directory = build_directory()
    district = directory.get("000.00.01.H26")
    assert district is not None
    assert district.status is AgencyStatus.CLOSED and not district.is_open
    assert district.closed_reason == DISTRICT_CLOSED_REASON == "abolished 2025-07-01 (district tier removed)"
    assert directory.get("000.00.00.H99") is None


def test_directory_pagination_walks_every_filtered_agency_once():
    directory = build_directory()
    seen: list[str] = []
    cursor = 0
    while True:
        page = directory.list(province="01", limit=50, cursor=cursor)
        seen.extend(a.code for a in page.agencies)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    province = load_roster().province("01")
    expected = 1 + len(province.commune_codes) + len(province.closed_district_agency_codes)
    assert len(seen) == len(set(seen)) == expected
    closed = directory.list(province="01", status=AgencyStatus.CLOSED, limit=1000)
    assert {a.code for a in closed.agencies} == set(province.closed_district_agency_codes)
    assert closed.next_cursor is None


# -- receipts ----------------------------------------------------------------------


def test_receipt_happy_path_and_idempotent_repeat():
    state = None
    for code in ("01", "03", "05", "06"):
        assert check_transition(state, ReceiptCode(code)) is True
        state = ReceiptCode(code)
    assert check_transition(state, ReceiptCode.DONE) is False  # repeat, not an error


@pytest.mark.parametrize(
    ("current", "requested"),
    [(None, "06"), ("01", "06"), ("04", "06"), ("02", "03"), ("03", "02"), ("01", "15"), ("15", "13")],
)
def test_receipt_out_of_order_is_refused_with_the_allowed_codes(current, requested):
    with pytest.raises(ReceiptRuleError) as err:
        check_transition(ReceiptCode(current) if current else None, ReceiptCode(requested))
    assert f"receipt {requested} is not allowed" in str(err.value)
    assert "allowed:" in str(err.value)


@given(st.lists(st.sampled_from(list(ReceiptCode)), max_size=25))
def test_no_receipt_sequence_reaches_an_illegal_state(codes: list[ReceiptCode]):
    state: ReceiptCode | None = None
    history: list[ReceiptCode] = []
    for code in codes:
        try:
            changed = check_transition(state, code)
        except ReceiptRuleError:
            continue
        if changed:
            assert state not in TERMINAL_CODES, f"{code} accepted after terminal {state}"
            if code is ReceiptCode.DONE:
                assert state in (ReceiptCode.ACCEPTED, ReceiptCode.IN_PROGRESS)
            if code in (ReceiptCode.RECALL_AGREED, ReceiptCode.RECALL_REFUSED):
                assert state is ReceiptCode.RECALL
            if code is ReceiptCode.REFUSED:
                assert ReceiptCode.ACCEPTED not in history
            history.append(code)
            state = code


def test_refused_and_recall_agreed_are_terminal():
    assert {ReceiptCode.REFUSED, ReceiptCode.RECALL_AGREED} == TERMINAL_CODES
    for code in ReceiptCode:
        if code is not ReceiptCode.REFUSED:
            with pytest.raises(ReceiptRuleError, match="none \\(terminal\\)"):
                check_transition(ReceiptCode.REFUSED, code)


# -- inbox rules (pure) ------------------------------------------------------------


def test_cursor_is_clamped_to_the_high_water_mark():
    assert effective_cursor(10**9, 7) == 7
    assert effective_cursor(-5, 7) == 0
    assert effective_cursor(3, 7) == 3
    assert next_cursor(3, []) == 3
    assert next_cursor(3, [5, 9]) == 9


def test_deliverable_predicate():
    fresh = LeaseState(5, 0, False, 0.0)
    assert is_deliverable(fresh, cursor=4, now=1.0)
    assert not is_deliverable(fresh, cursor=5, now=1.0)  # behind the cursor, never handed out
    leased = LeaseState(5, 1, False, 31.0)
    assert not is_deliverable(leased, cursor=0, now=30.0)
    assert is_deliverable(leased, cursor=99, now=31.0)  # lease expired: back even behind the cursor
    assert not is_deliverable(LeaseState(5, 1, True, 0.0), cursor=0, now=99.0)


# -- store -------------------------------------------------------------------------


def test_duplicate_message_id_returns_the_original_and_writes_nothing():
    store = make_store()
    first = store.accept_document(doc(recipients=("H26.00004", "H26.00008")))
    again = store.accept_document(doc(recipients=("H26.00004", "H26.00008")))
    assert not first.duplicate and again.duplicate
    assert again.document_id == first.document_id == document_id_for(HANOI, "m1")
    assert again.accepted_at == first.accepted_at
    assert again.recipients == ("H26.00004", "H26.00008")
    assert store.counts() == {"documents": 1, "receipts": 0, "deliveries_acked": 0, "deliveries_pending": 2}
    with pytest.raises(MessageIdConflict):
        store.accept_document(doc(digest="other"))
    # The same message id from another sender is another document.
    other = store.accept_document(doc(sender="000.00.00.G22"))
    assert other.document_id != first.document_id and not other.duplicate


def test_unacked_delivery_comes_back_after_the_visibility_timeout_even_past_the_cursor():
    clock = Clock()
    store = make_store(clock)
    store.accept_document(doc("m1"))
    store.accept_document(doc("m2"))
    page = store.pull("H26.00004", 0, 10, visibility_s=30)
    assert [e.message_id for e in page.entries] == ["m1", "m2"] and page.next_cursor == 2
    assert [e.attempt for e in page.entries] == [1, 1]
    assert store.ack("H26.00004", page.entries[0].delivery_id) is not None
    clock.t += 29.9
    assert store.pull("H26.00004", 0, 10, visibility_s=30).entries == ()  # leased
    clock.t += 0.2
    again = store.pull("H26.00004", page.next_cursor, 10, visibility_s=30)
    assert [(e.message_id, e.attempt) for e in again.entries] == [("m2", 2)]


def test_ack_is_idempotent_and_scoped_to_the_recipient():
    store = make_store()
    store.accept_document(doc())
    delivery = store.pull("H26.00004", 0, 10, 30).entries[0]
    assert store.ack("000.00.00.G22", delivery.delivery_id) is None
    first = store.ack("H26.00004", delivery.delivery_id)
    second = store.ack("H26.00004", delivery.delivery_id)
    assert first is not None and first[0] is True
    assert second == (False, first[1])
    assert store.ack("H26.00004", 999) is None


def test_receipts_flow_back_to_the_sender_inbox_in_order():
    store = make_store()
    accepted = store.accept_document(doc())
    store.add_receipt(accepted.document_id, "H26.00004", ReceiptCode.ARRIVED, "")
    repeat = store.add_receipt(accepted.document_id, "H26.00004", ReceiptCode.ARRIVED, "again")
    assert repeat.duplicate and repeat.note == ""
    with pytest.raises(ReceiptRuleError):
        store.add_receipt(accepted.document_id, "H26.00004", ReceiptCode.DONE, "")
    with pytest.raises(KeyError):
        store.add_receipt(accepted.document_id, "H26.00008", ReceiptCode.ARRIVED, "")
    inbox = store.pull(HANOI, 0, 10, 30)
    assert [(e.kind, e.receipt.status_code if e.receipt else None) for e in inbox.entries] == [("receipt", "01")]
    assert inbox.entries[0].package is None
    assert inbox.entries[0].sender_code == "H26.00004"  # who sent the receipt
    stored = store.get_document(accepted.document_id)
    assert stored is not None and stored.recipient_status == {"H26.00004": "01"}
    assert [r.status_code for r in store.receipts(accepted.document_id)] == ["01"]


def test_ledger_lists_acknowledged_documents_receipts_and_deliveries():
    store = make_store()
    a = store.accept_document(doc("m1"))
    store.accept_document(doc("m2"))
    entries = store.pull("H26.00004", 0, 10, 30).entries
    store.ack("H26.00004", entries[0].delivery_id)
    receipt = store.add_receipt(a.document_id, "H26.00004", ReceiptCode.ACCEPTED, "ok")
    ledger = store.ledger()
    assert sorted(ledger.documents) == sorted([a.document_id, document_id_for(HANOI, "m2")])
    assert ledger.receipts == (receipt.receipt_id,)
    assert ledger.deliveries_acked == (entries[0].delivery_id,)
    assert len(ledger.deliveries_pending) == 2  # m2 to the commune + the receipt to the sender


def test_a_page_stops_at_the_package_byte_budget(monkeypatch: pytest.MonkeyPatch):
    import mocks.axis.store as store_module

    monkeypatch.setattr(store_module, "MAX_PAGE_PACKAGE_BYTES", 20)
    store = make_store()
    for n in range(3):
        store.accept_document(doc(f"m{n}"))  # 8-byte packages
    first = store.pull("H26.00004", 0, 10, 30)
    assert [e.message_id for e in first.entries] == ["m0", "m1"]
    rest = store.pull("H26.00004", first.next_cursor, 10, 30)
    assert [e.message_id for e in rest.entries] == ["m2"]


def test_concurrent_duplicates_in_one_group_commit_store_once(tmp_path):
    import asyncio

    from mocks.core.store import GroupCommit, open_database

    conn = open_database(tmp_path / "axis.db")
    store = AxisStore(conn, Clock(), group=GroupCommit(conn))

    async def send_twice():
        return await asyncio.gather(store.accept_document_async(doc()), store.accept_document_async(doc()),
                                    store.accept_document_async(doc(digest="other")), return_exceptions=True)

    first, second, conflict = asyncio.run(send_twice())
    assert (first.duplicate, second.duplicate) == (False, True)
    assert isinstance(conflict, MessageIdConflict)
    assert store.counts()["documents"] == 1 and store.counts()["deliveries_pending"] == 1
    assert store._group is not None and store._group.batches == 1  # all three in one transaction
