"""End-to-end tests of the document axis on a real uvicorn process on loopback."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from axis_harness import ADMIN_TOKEN, XML, AxisServer, envelope, package

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.pki import make_untrusted_ca
from kernel.roster import GOVERNMENT_OFFICE_CODE, load_roster

pytestmark = pytest.mark.e2e

HANOI = "000.00.00.H26"
COMMUNES = [c.agency_code for c in load_roster().communes_of("01")]
CLOSED_DISTRICT = "000.00.01.H26"


def test_token_for_open_agency_and_refusals(axis: AxisServer):
    with axis.client() as c:
        ok = c.post("/auth/token", json={"agency_code": HANOI,
                                         "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, HANOI)})
        assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
        wrong = c.post("/auth/token", json={"agency_code": HANOI, "client_secret": "x" * 16})
        unknown = c.post("/auth/token", json={"agency_code": "000.00.00.H99",
                                              "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, "000.00.00.H99")})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        closed = c.post("/auth/token", json={"agency_code": CLOSED_DISTRICT,
                                             "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, CLOSED_DISTRICT)})
        assert closed.status_code == 403
        assert closed.json()["error"]["code"] == "agency_closed"
        assert "abolished 2025-07-01" in closed.json()["error"]["message"]
        extra = c.post("/auth/token", json={"agency_code": HANOI, "client_secret": "x", "role": "admin"})
        assert extra.status_code == 422 and extra.json()["error"]["field"] == "role"
        assert c.get("/inbox").status_code == 401


def test_directory_lists_closed_districts_with_reason(axis: AxisServer):
    with axis.client() as c:
        r = c.get("/agencies", params={"province": "01", "status": "closed", "limit": 2})
        assert r.status_code == 200
        body = r.json()
        assert [a["code"] for a in body["agencies"]] == ["000.00.01.H26", "000.00.02.H26"]
        assert body["agencies"][0]["closed_reason"] == "abolished 2025-07-01 (district tier removed)"
        assert body["next_cursor"] == 2
        assert c.get("/agencies", params={"status": "gone"}).json()["error"]["field"] == "status"


def test_send_pull_ack_receipt_round_trip(axis: AxisServer):
    sender, recipient = HANOI, COMMUNES[0]
    with axis.client() as c:
        hs, hr = axis.token(c, sender), axis.token(c, recipient)
        env = envelope(sender, [recipient], subject="Triển khai mô hình chính quyền hai cấp", priority=2)
        pkg = package(axis.ca, env)
        sent = c.post("/documents", content=pkg, headers={**hs, **XML})
        assert sent.status_code == 201, sent.text
        doc = sent.json()
        assert doc["message_id"] == env.message_id and doc["recipients"] == [recipient] and not doc["duplicate"]

        inbox = c.get("/inbox", headers=hr).json()
        [entry] = [d for d in inbox["deliveries"] if d["document_id"] == doc["document_id"]]
        assert entry["kind"] == "document" and entry["attempt"] == 1 and entry["priority"] == 2
        assert entry["subject"] == "Triển khai mô hình chính quyền hai cấp"
        assert base64.b64decode(entry["package_b64"]) == pkg
        ack = c.post(f"/inbox/{entry['delivery_id']}/ack", headers=hr)
        assert ack.status_code == 200 and ack.json()["already_acked"] is False
        assert c.post(f"/inbox/{entry['delivery_id']}/ack", headers=hr).json()["already_acked"] is True

        base = f"/documents/{doc['document_id']}/receipts"
        assert c.post(base, json={"status_code": "01"}, headers=hr).status_code == 201
        early_done = c.post(base, json={"status_code": "06"}, headers=hr)
        assert early_done.status_code == 409 and early_done.json()["error"]["code"] == "illegal_transition"
        assert c.post(base, json={"status_code": "03", "note": "đã tiếp nhận"}, headers=hr).status_code == 201
        assert c.post(base, json={"status_code": "03"}, headers=hr).json()["duplicate"] is True
        assert c.post(base, json={"status_code": "99"}, headers=hr).status_code == 422
        from_sender = c.post(base, json={"status_code": "01"}, headers=hs)
        assert from_sender.status_code == 403 and from_sender.json()["error"]["code"] == "not_a_recipient"

        seen = c.get(base, headers=hs).json()["receipts"]
        assert [(r["from_code"], r["status_code"]) for r in seen] == [(recipient, "01"), (recipient, "03")]
        assert seen[1]["note"] == "đã tiếp nhận"
        sender_inbox = c.get("/inbox", headers=hs).json()["deliveries"]
        receipts = [d["receipt"]["status_code"] for d in sender_inbox
                    if d["kind"] == "receipt" and d["document_id"] == doc["document_id"]]
        assert receipts == ["01", "03"]
        read = c.get(f"/documents/{doc['document_id']}", headers=hs).json()
        assert read["recipients"] == [{"code": recipient, "last_status": "03"}]


def test_unregistered_and_closed_recipients_are_refused_with_reason(axis: AxisServer):
    sender = COMMUNES[1]
    with axis.client() as c:
        h = axis.token(c, sender)
        unknown = c.post("/documents", content=package(axis.ca, envelope(sender, [HANOI, "H26.99999"])),
                         headers={**h, **XML})
        assert unknown.status_code == 422
        assert unknown.json()["error"] == {"code": "unknown_recipient", "field": "MessageHeader.To[1].OrganId",
                                           "message": "recipient H26.99999 is not registered on the axis"}
        closed = c.post("/documents", content=package(axis.ca, envelope(sender, [CLOSED_DISTRICT])),
                        headers={**h, **XML})
        assert closed.status_code == 422
        err = closed.json()["error"]
        assert err["code"] == "recipient_closed" and err["field"] == "MessageHeader.To[0].OrganId"
        assert "abolished 2025-07-01 (district tier removed)" in err["message"]


def test_bad_signature_expired_and_untrusted_certificates_are_refused(axis: AxisServer):
    sender = COMMUNES[2]
    with axis.client() as c:
        h = {**axis.token(c, sender), **XML}
        pkg = package(axis.ca, envelope(sender, [HANOI], subject="Original subject"))
        tampered = pkg.replace(b"Original subject", b"Forged   subject")
        r = c.post("/documents", content=tampered, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "bad_signature"
        now = dt.datetime.now(dt.UTC)
        expired = axis.ca.issue(sender, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
        r = c.post("/documents", content=package(axis.ca, envelope(sender, [HANOI]), expired), headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "certificate_expired"
        impostor = make_untrusted_ca().issue(sender)
        r = c.post("/documents", content=package(axis.ca, envelope(sender, [HANOI]), impostor), headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "untrusted_certificate"
        # Correctly signed by another agency, sent with this agency's token.
        other = package(axis.ca, envelope(COMMUNES[3], [HANOI]))
        r = c.post("/documents", content=other, headers=h)
        assert r.status_code == 403 and r.json()["error"]["code"] == "sender_mismatch"


def test_duplicate_message_id_is_deduplicated(axis: AxisServer):
    sender, recipient = COMMUNES[4], COMMUNES[5]
    with axis.client() as c:
        hs, hr = axis.token(c, sender), axis.token(c, recipient)
        env = envelope(sender, [recipient])
        built = dt.datetime.now(dt.UTC)
        first = c.post("/documents", content=package(axis.ca, env, timestamp=built), headers={**hs, **XML})
        # A retry re-signs a second later (a new timestamp in the trace header): same document, same effect.
        retry = c.post("/documents", content=package(axis.ca, env, timestamp=built + dt.timedelta(seconds=1)),
                       headers={**hs, **XML})
        assert first.status_code == 201 and retry.status_code == 200
        assert retry.json()["duplicate"] is True
        assert retry.json()["document_id"] == first.json()["document_id"]
        assert retry.json()["accepted_at"] == first.json()["accepted_at"]
        deliveries = [d for d in c.get("/inbox", headers=hr).json()["deliveries"]
                      if d["message_id"] == env.message_id]
        assert len(deliveries) == 1
        env.subject = "Một nội dung khác"
        conflict = c.post("/documents", content=package(axis.ca, env), headers={**hs, **XML})
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "message_id_conflict"
        ledger = c.get("/admin/ledger", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        assert ledger["service"] == "axis"
        assert ledger["ids"]["documents"].count(first.json()["document_id"]) == 1


def test_only_sender_and_recipients_can_read(axis: AxisServer):
    sender, recipient, stranger = COMMUNES[6], COMMUNES[7], COMMUNES[8]
    with axis.client() as c:
        hs = axis.token(c, sender)
        doc = c.post("/documents", content=package(axis.ca, envelope(sender, [recipient])),
                     headers={**hs, **XML}).json()
        path = f"/documents/{doc['document_id']}"
        assert c.get(path, headers=hs).status_code == 200
        assert c.get(path, headers=axis.token(c, recipient)).status_code == 200
        hx = axis.token(c, stranger)
        hidden, missing = c.get(path, headers=hx), c.get("/documents/" + "0" * 32, headers=hx)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "unknown_document"
        assert c.get(f"{path}/receipts", headers=hx).status_code == 404
        assert c.post(f"{path}/receipts", json={"status_code": "01"}, headers=hx).status_code == 404


def test_unacked_delivery_is_redelivered_after_the_visibility_timeout(axis: AxisServer):
    sender, recipient = COMMUNES[9], COMMUNES[10]
    with axis.client() as c:
        hs, hr = axis.token(c, sender), axis.token(c, recipient)
        doc = c.post("/documents", content=package(axis.ca, envelope(sender, [recipient])),
                     headers={**hs, **XML}).json()
        first = c.get("/inbox", headers=hr).json()
        [entry] = first["deliveries"]
        assert entry["document_id"] == doc["document_id"] and entry["attempt"] == 1
        # Another agency cannot acknowledge it.
        assert c.post(f"/inbox/{entry['delivery_id']}/ack", headers=hs).status_code == 404
        assert c.get("/inbox", params={"cursor": first["next_cursor"]}, headers=hr).json()["deliveries"] == []
        time.sleep(1.2)  # the fixture's visibility timeout is 1 s
        again = c.get("/inbox", params={"cursor": first["next_cursor"]}, headers=hr).json()["deliveries"]
        assert [(d["delivery_id"], d["attempt"]) for d in again] == [(entry["delivery_id"], 2)]
        assert c.post(f"/inbox/{entry['delivery_id']}/ack", headers=hr).status_code == 200
        time.sleep(1.2)
        assert c.get("/inbox", headers=hr).json()["deliveries"] == []


def test_hostile_and_malformed_bodies_get_4xx(axis: AxisServer):
    sender = COMMUNES[11]
    with axis.client() as c:
        h = axis.token(c, sender)
        pkg = package(axis.ca, envelope(sender, [HANOI]))
        wrong_type = c.post("/documents", content=pkg, headers={**h, "Content-Type": "application/json"})
        assert wrong_type.status_code == 415 and wrong_type.json()["error"]["field"] == "Content-Type"
        big = c.post("/documents", content=b"<a>" + b"x" * (300 * 1024) + b"</a>", headers={**h, **XML})
        assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
        broken = c.post("/documents", content=pkg[: len(pkg) // 2], headers={**h, "Content-Type": "text/xml"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed_xml"
        laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  b"<edXML>&lol3;</edXML>")
        bomb = c.post("/documents", content=laughs, headers={**h, **XML})
        assert bomb.status_code == 400 and bomb.json()["error"]["code"] == "forbidden_dtd"
        assert c.get("/inbox", params={"limit": "lots"}, headers=h).status_code == 422
        assert c.get("/inbox", params={"limit": "1000"}, headers=h).json()["error"]["field"] == "limit"
        assert c.post("/inbox/abc/ack", headers=h).status_code == 404


def test_government_office_can_send_to_every_province(axis: AxisServer):
    provinces = [p.agency_code for p in load_roster().provinces]
    with axis.client() as c:
        h = axis.token(c, GOVERNMENT_OFFICE_CODE)
        r = c.post("/documents", content=package(axis.ca, envelope(GOVERNMENT_OFFICE_CODE, provinces)),
                   headers={**h, **XML})
        assert r.status_code == 201 and len(r.json()["recipients"]) == 34


def test_agency_scoped_fault_hits_only_that_agency(axis: AxisServer):
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    target, bystander = COMMUNES[12], COMMUNES[13]
    with axis.client() as c:
        ht, hb = axis.token(c, target), axis.token(c, bystander)
        rule = {"id": "axis-inbox-outage", "kind": "error", "route": "/inbox", "agency": target, "status": 503}
        assert c.post("/admin/faults", json=rule, headers=admin).status_code == 201
        try:
            assert c.get("/inbox", headers=ht).status_code == 503
            assert c.get("/inbox", headers=hb).status_code == 200
        finally:
            assert c.delete("/admin/faults", headers=admin).status_code == 200
        assert c.get("/inbox", headers=ht).status_code == 200
