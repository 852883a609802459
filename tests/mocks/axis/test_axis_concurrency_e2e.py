"""The axis under concurrency and crash, over real HTTP against a real process: one package
sent many times at once through both faces is one document with one delivery per
recipient; racing receipts keep each recipient's state machine legal; and what the SDK face
acknowledged (a document, a receipt, an acknowledged delivery) and the district tier's
closing survive a SIGKILL."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
import vdxp_client as sdk
from axis_harness import ADMIN_TOKEN, XML, AxisServer, envelope, package, start_axis, stop_axis

from tests.support import all_at_once

pytestmark = pytest.mark.e2e

HANOI = "000.00.00.H26"
COMMUNE = "H26.00004"
CLOSED = "000.00.01.H26"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OLD_TIER = Path(__file__).resolve().parents[3] / "drills" / "catalog" / "readiness" / "old-tier.yaml"


def test_one_package_sent_at_once_through_both_faces_is_one_document(axis: AxisServer):
    with axis.client() as c:
        native = {**axis.token(c, HANOI), **XML}
        recipient = axis.token(c, COMMUNE)
        before = c.get("/admin/ledger", headers=ADMIN).json()["counts"]
        for _ in range(3):
            pkg = package(axis.ca, envelope(HANOI, [COMMUNE]))
            sends = all_at_once([(lambda pkg=pkg: c.post("/documents", content=pkg, headers=native)) if n % 2 else
                                  (lambda pkg=pkg: sdk.send(c, HANOI, pkg)) for n in range(16)])
            assert all(r.status_code in (200, 201) for r in sends), [r.text for r in sends if r.status_code >= 300]
            ids = {r.json().get("document_id") or r.json()["DocId"] for r in sends}
            assert len(ids) == 1
            assert Counter(r.json()["duplicate"] for r in sends) == {False: 1, True: 15}
        after = c.get("/admin/ledger", headers=ADMIN).json()["counts"]
        assert after["documents"] - before["documents"] == 3
        assert after["deliveries_pending"] - before["deliveries_pending"] == 3
        # Racing receipts of one recipient: from "none", 01 and 02 and 03 all at once, repeatedly.
        doc_id = ids.pop()
        receipts = all_at_once([lambda code=code: c.post(f"/documents/{doc_id}/receipts",
                                                          json={"status_code": code}, headers=recipient)
                                 for code in ("01", "02", "03") * 4])
        assert all(r.status_code in (200, 201, 409) for r in receipts)
        history = [r["status_code"] for r in c.get(f"/documents/{doc_id}/receipts", headers=recipient).json()["receipts"]]
        assert len(history) == sum(r.status_code == 201 for r in receipts)
        legal = {None: {"01", "02", "03"}, "01": {"02", "03"}, "03": set(), "02": set()}
        assert all(b in legal[a] for a, b in zip([None, *history], history, strict=False)), history


def test_sdk_face_writes_and_the_tier_s_closing_survive_sigkill(tmp_path: Path):
    server = start_axis(tmp_path, readiness_file=str(OLD_TIER))
    try:
        with server.client() as c:
            closed = c.post("/admin/district-tier", json={"status": "closed"}, headers=ADMIN)
            assert closed.status_code == 200 and closed.json()["status"] == "closed"
            pkg = package(server.ca, envelope(HANOI, [COMMUNE]))
            doc_id = sdk.send(c, HANOI, pkg).json()["DocId"]
            listed = sdk.call(c, "getReceivedEdocList", COMMUNE, {}).json()["data"]
            assert [k["docId"] for k in listed] == [doc_id]
            receipt = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "03"}).json()
            done = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "done"}).json()
            assert done["acked"] == [listed[0]["deliveryId"]]
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server = start_axis(tmp_path, readiness_file=str(OLD_TIER))
        with server.client() as c:
            assert c.get("/admin/district-tier", headers=ADMIN).json() == closed.json()  # not reopened by the profile
            refused = sdk.send(c, HANOI, package(server.ca, envelope(HANOI, [CLOSED])))
            assert refused.status_code == 422 and refused.json()["ErrorCode"] == "recipient_closed", refused.text
            again = sdk.send(c, HANOI, pkg).json()
            assert (again["DocId"], again["duplicate"]) == (doc_id, True)
            sent = sdk.call(c, "getSentEdocList", HANOI, {"docId": doc_id}).json()["data"]
            assert [(d["toCode"], [r["receiptId"] for r in d["receipts"]]) for d in sent] == [
                (COMMUNE, [receipt["receiptId"]])]
            # The acknowledged delivery is never handed out again; the receipt waits for the sender.
            assert sdk.call(c, "getReceivedEdocList", COMMUNE, {}).json()["data"] == []
            status = sdk.call(c, "getReceivedEdocList", HANOI, {}).json()["data"]
            assert [(k["docId"], k["status"]) for k in status] == [(doc_id, "03")]
    finally:
        stop_axis(server.process)
