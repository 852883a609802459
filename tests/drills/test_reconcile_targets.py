"""Reconciliation against what the real embedded mocks hold: the admin ledgers, receipts
read back as each recipient sees its own, unreadable sources, and dossiers accepted
without an identity check (loopback)."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dientap.orchestration import MockCluster, ServiceProcess
from dientap.orchestration.process import python_module_argv
from drills.backends import TrafficBackend
from drills.backends.traffic import TrafficContext
from drills.model import Fault
from drills.reconcile import MAX_RECEIPT_DOCUMENTS, AckLedger, fetch_holdings, reconcile, unverified_dossiers
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.defaults import SEED
from kernel.roster import load_roster

pytestmark = pytest.mark.e2e


def _traffic(backend: TrafficBackend, action: str, count: int, window_s: float = 30.0) -> dict[str, dict[str, str]]:
    fault = Fault.model_validate({"name": action, "backend": "traffic", "target": "portal", "at_s": 0,
                                  "duration_s": 30, "traffic": {"action": action, "count": count}})
    outcome = backend.run(fault, time.monotonic() + window_s)
    assert outcome.ok, outcome.summary()
    return outcome.acknowledged


@pytest.fixture
def traffic(traffic_context: TrafficContext) -> Iterator[TrafficBackend]:
    backend = TrafficBackend(traffic_context)
    yield backend
    backend.close()


def _closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


class Axis:
    """The axis as its agencies see it (each signs in with its dry-run client secret)."""

    def __init__(self, url: str):
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def auth(self, agency: str) -> dict[str, str]:
        reply = self.http.post("/auth/token", json={"agency_code": agency,
                                                    "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, agency)})
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    def recipient(self, document_id: str, sender: str) -> str:
        reply = self.http.get(f"/documents/{document_id}", headers=self.auth(sender))
        (recipient,) = reply.json()["recipients"]
        return recipient["code"]

    def receipt(self, document_id: str, agency: str, status: str) -> None:
        self.http.post(f"/documents/{document_id}/receipts", headers=self.auth(agency),
                       json={"status_code": status}).raise_for_status()


def test_documents_and_receipts_are_compared_with_what_the_axis_holds(
    drill_cluster: MockCluster, traffic: TrafficBackend
) -> None:
    documents = _traffic(traffic, "document_burst", 3)["documents"]
    axis = Axis(drill_cluster.urls["axis"])
    commune_of = {c.agency_code: c.code for c in load_roster().communes}
    ledger = AckLedger({"documents": dict(documents)})
    receipted = []
    for i, (document_id, message_id) in enumerate(documents.items()):
        recipient = axis.recipient(document_id, sender=message_id.split(",")[0])
        receipt_id = f"{document_id}#01#{commune_of[recipient]}"
        ledger.record("receipts", receipt_id)
        if i < 2:  # the third recipient never sends its receipt
            axis.receipt(document_id, recipient, "01")
            receipted.append(receipt_id)
    ledger.record("receipts", f"{next(iter(documents))}#01#99999")  # names no commune: cannot be read back

    holdings = fetch_holdings(drill_cluster.urls, drill_cluster.config.admin_token, DEFAULT_DRY_RUN_SECRET, ledger)
    assert sorted(holdings.ids["receipts"]) == sorted(receipted)
    assert set(documents) <= set(holdings.ids["documents"])
    assert {"dossiers", "payments"} <= set(holdings.ids) and holdings.notes == []

    looks = []

    def fetch():  # noqa: ANN202 - TargetHoldings
        looks.append(1)
        return fetch_holdings(drill_cluster.urls, drill_cluster.config.admin_token, DEFAULT_DRY_RUN_SECRET, ledger)

    rows, _notes = reconcile(ledger, fetch, settle_s=0.01)
    by_kind = {r.item_kind: r for r in rows}
    assert (by_kind["documents"].ok, by_kind["documents"].lost) == (3, 0)
    unsent = sorted(set(ledger.entries["receipts"]) - set(receipted))
    assert (by_kind["receipts"].ok, by_kind["receipts"].lost, by_kind["receipts"].lost_ids) == (2, 2, unsent)
    assert len(looks) == 2  # something was missing: looked again after the settle time
    axis.http.close()


def test_receipts_are_read_back_within_a_bound(drill_cluster: MockCluster) -> None:
    ledger = AckLedger({"receipts": {f"doc{i:04d}#01#99999": "" for i in range(MAX_RECEIPT_DOCUMENTS + 1)}})
    holdings = fetch_holdings(drill_cluster.urls, drill_cluster.config.admin_token, DEFAULT_DRY_RUN_SECRET, ledger)
    assert holdings.ids["receipts"] == []
    assert holdings.notes == [f"receipts: read back {MAX_RECEIPT_DOCUMENTS} of {MAX_RECEIPT_DOCUMENTS + 1} "
                              "(document, recipient) pairs"]


def test_unreadable_ledgers_are_notes_and_their_kinds_are_not_compared(drill_cluster: MockCluster) -> None:
    token = drill_cluster.config.admin_token
    urls = {**drill_cluster.urls, "portal": _closed_url()}
    holdings = fetch_holdings(urls, token, DEFAULT_DRY_RUN_SECRET, AckLedger({"dossiers": {"D1": "k"}}), timeout_s=5)
    assert holdings.notes == ["portal ledger unreadable: ConnectError"]
    assert "documents" in holdings.ids and "dossiers" not in holdings.ids
    rows, notes = reconcile(AckLedger({"dossiers": {"D1": "k"}}), lambda: holdings, settle_s=0)
    assert [r.item_kind for r in rows] == ["documents"] and notes == ["portal ledger unreadable: ConnectError"]
    wrong = fetch_holdings(drill_cluster.urls, "not-the-token", DEFAULT_DRY_RUN_SECRET, AckLedger())
    assert wrong.ids == {} and wrong.notes == ["axis ledger unreadable: HTTPStatusError",
                                               "portal ledger unreadable: HTTPStatusError"]
    none = fetch_holdings(drill_cluster.urls, None, DEFAULT_DRY_RUN_SECRET, AckLedger())
    assert none.ids == {} and none.notes == ["no admin token for the target: nothing to reconcile against"]


@pytest.fixture
def stranger_population(drill_cluster: MockCluster, tmp_path: Path) -> Iterator[str]:
    """A second population service (same citizens) that the portal never calls: its audit
    log holds no verification of anything the portal accepted."""
    proc = ServiceProcess("population", python_module_argv(
        "mocks", "serve", "population", "--host", "127.0.0.1", "--data-dir", str(tmp_path / "population"),
        "--seed", str(SEED.default), "--population-size", "3000"),
        env={"DIENTAP_ADMIN_TOKEN": drill_cluster.config.admin_token}, log_path=tmp_path / "population.log")
    proc.start()
    try:
        proc.wait_healthy(60)
        yield proc.url
    finally:
        proc.close()


def test_a_dossier_counts_as_unverified_unless_its_applicant_was_verified_before_it_was_accepted(
    drill_cluster: MockCluster, traffic: TrafficBackend, stranger_population: str
) -> None:
    token, urls = drill_cluster.config.admin_token, drill_cluster.urls
    started = dt.datetime.now(dt.UTC)
    dossiers = _traffic(traffic, "submission_probe", 2, window_s=0.6)["dossiers"]
    ended = dt.datetime.now(dt.UTC)
    window = [(started, ended)]
    assert len(dossiers) >= 1
    assert unverified_dossiers(urls, token, DEFAULT_DRY_RUN_SECRET, window) == 0  # the portal verified each one
    elsewhere = {**urls, "population": stranger_population}
    assert unverified_dossiers(elsewhere, token, DEFAULT_DRY_RUN_SECRET, window) == len(dossiers)
    assert unverified_dossiers(elsewhere, token, DEFAULT_DRY_RUN_SECRET, window, limit=1) == 1
    long_ago = [(started - dt.timedelta(hours=2), started - dt.timedelta(hours=1))]
    assert unverified_dossiers(elsewhere, token, DEFAULT_DRY_RUN_SECRET, long_ago) == 0  # outside every fault window
    assert unverified_dossiers(elsewhere, None, DEFAULT_DRY_RUN_SECRET, window) == 0  # nothing can be read


def test_lost_duplicated_and_unexpected_items_are_named_by_their_keys(
    drill_cluster: MockCluster, traffic: TrafficBackend
) -> None:
    documents = _traffic(traffic, "document_burst", 4)["documents"]  # stored by the real axis, acknowledged
    first, second, third, fourth = sorted(documents)
    # What the load heard, told differently: the answers for the third and fourth never reached it
    # (stored, never acknowledged: unexpected), the second was acknowledged under the first's message id (one
    # key, two ids: duplicated), and one acknowledged document the axis never stored (lost).
    ledger = AckLedger({"documents": {first: documents[first], second: documents[first], "doc-never-stored": "m-gone"}})
    rows, _notes = reconcile(ledger, lambda: fetch_holdings(drill_cluster.urls, drill_cluster.config.admin_token,
                                                            DEFAULT_DRY_RUN_SECRET, ledger), settle_s=0.01)
    row = {r.item_kind: r for r in rows}["documents"]
    held = set(fetch_holdings(drill_cluster.urls, drill_cluster.config.admin_token, DEFAULT_DRY_RUN_SECRET,
                              ledger).ids["documents"])
    assert (row.lost, row.lost_ids) == (1, ["doc-never-stored"])
    assert (row.duplicated, row.duplicated_ids) == (1, [f"{second} (key {documents[first]}, also {first})"])
    # Every document of the module's axis that this ledger does not acknowledge (other tests' too).
    assert {third, fourth} <= set(row.unexpected_ids)
    assert row.unexpected_ids == sorted(held - set(ledger.entries["documents"])) and row.unexpected == len(row.unexpected_ids)
    lines = row.named(1)
    assert lines[0] == "lost 1: doc-never-stored"
    assert lines[1] == f"duplicated 1: {second} (key {documents[first]}, also {first})"
    assert lines[2] == f"unexpected {row.unexpected} (first 1 of {row.unexpected}): {row.unexpected_ids[0]} …"
