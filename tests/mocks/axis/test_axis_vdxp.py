"""The axis's SDK face (``/vdxp/*``) against a real server: the same records as the native
face, at-least-once delivery and exactly-once effect, signed requests, every bad-input class."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from pathlib import Path

import httpx
import orjson
import pytest
import vdxp_client as sdk
from axis_harness import ADMIN_TOKEN, XML, AxisServer, envelope, package, start_axis, stop_axis

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.edxml import build_package
from kernel.national.vdxp import HASH_HEADER, SYSTEM_ID_HEADER, TIMESTAMP_HEADER, format_timestamp, signature
from mocks.axis import vdxp
from tests.mocks.wire import abandon_body, exchange, requests_counted, wait_for_count

pytestmark = pytest.mark.e2e

HANOI = "000.00.00.H26"
COMMUNE = "H26.00004"
OTHER = "H26.00008"
CLOSED = "000.00.01.H26"


def _fail(response: httpx.Response, status: int, code: str, field: str | None) -> dict:
    """Assert the SDK's error form, naming ``field``; return the body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "FAIL" and body["ErrorCode"] == code, body
    assert body["ErrorField"] == field, body
    if field:
        assert field in body["ErrorDesc"]
    assert "Traceback" not in response.text
    return body


def _received(c: httpx.Client, agency: str, limit: int = 100, **kinds: str) -> list[dict]:
    r = sdk.call(c, "getReceivedEdocList", agency, {**kinds, "limit": limit})
    assert r.status_code == 200 and r.json()["status"] == "OK", r.text
    return r.json()["data"]


def _done(c: httpx.Client, agency: str, item: dict) -> None:
    r = sdk.call(c, "updateStatus", agency, {"docId": item["docId"], "status": "done", "deliveryId": item["deliveryId"]})
    assert r.status_code == 200 and r.json()["acked"] == [item["deliveryId"]], r.text


def _drain(c: httpx.Client, agency: str) -> None:
    for item in _received(c, agency):
        _done(c, agency, item)


def test_a_document_sent_through_the_sdk_is_the_record_the_native_face_sees(axis: AxisServer):
    with axis.client() as c:
        _drain(c, COMMUNE)
        pkg = package(axis.ca, envelope(HANOI, [COMMUNE, OTHER]))
        sent = sdk.send(c, HANOI, pkg)
        assert sent.status_code == 200, sent.text
        body = sent.json()
        assert (body["status"], body["ErrorCode"], body["duplicate"]) == ("OK", "0", False)
        doc_id = body["DocId"]
        # The native face reads the same document, package and all.
        native = c.get(f"/documents/{doc_id}", headers=axis.token(c, COMMUNE)).json()
        assert base64.b64decode(native["package_b64"]) == pkg
        # ... and getEdoc answers the same bytes.
        got = sdk.call(c, "getEdoc", COMMUNE, {"docId": doc_id, "filePath": "xml"}).json()
        assert base64.b64decode(got["data"]) == pkg and got["from"] == HANOI and got["to"] == [COMMUNE, OTHER]
        # The recipient's native inbox holds the delivery the SDK's list would hand out.
        other = axis.token(c, OTHER)
        inbox = [d for d in c.get("/inbox", headers=other).json()["deliveries"] if d["document_id"] == doc_id]
        assert [d["kind"] for d in inbox] == ["document"]
        assert c.post(f"/inbox/{inbox[0]['delivery_id']}/ack", headers=other).status_code == 200
        knobstick = next(k for k in _received(c, COMMUNE, servicetype="eDoc", messagetype="edoc")
                         if k["docId"] == doc_id)
        assert (knobstick["serviceType"], knobstick["messageType"], knobstick["from"], knobstick["to"]) == (
            "eDoc", "edoc", HANOI, COMMUNE)
        _done(c, COMMUNE, knobstick)
        # A receipt through updateStatus is the native receipt; the sender sees it both ways.
        r = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "01", "description": "đã nhận"})
        assert r.json()["statusCode"] == "01" and r.json()["duplicate"] is False
        r = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "acceptance"})  # a word for 03
        assert r.json()["statusCode"] == "03"
        native_receipts = c.get(f"/documents/{doc_id}/receipts", headers=axis.token(c, HANOI)).json()["receipts"]
        assert [(x["from_code"], x["status_code"], x["note"]) for x in native_receipts] == [
            (COMMUNE, "01", "đã nhận"), (COMMUNE, "03", "")]
        sent_list = sdk.call(c, "getSentEdocList", HANOI, {"docId": doc_id, "servicetype": "eDoc",
                                                           "messagetype": "edoc"}).json()["data"]
        assert [(s["toCode"], s["receiveStatus"], [x["status"] for x in s["receipts"]]) for s in sent_list] == [
            (COMMUNE, "03", ["01", "03"]), (OTHER, None, [])]
        assert [k for k in _received(c, HANOI, messagetype="edoc") if k["docId"] == doc_id] == []
        statuses = [k for k in _received(c, HANOI, servicetype="status") if k["docId"] == doc_id]
        assert [(k["serviceType"], k["status"], k["from"]) for k in statuses] == [
            ("status", "01", COMMUNE), ("status", "03", COMMUNE)]
        # done without a deliveryId acknowledges every delivery of the document it was handed.
        acked = sdk.call(c, "updateStatus", HANOI, {"docId": doc_id, "status": "done"}).json()
        assert sorted(acked["acked"]) == sorted(k["deliveryId"] for k in statuses)


def test_a_document_sent_natively_is_received_through_the_sdk_and_vice_versa(axis: AxisServer):
    with axis.client() as c:
        _drain(c, OTHER)
        pkg = package(axis.ca, envelope(HANOI, [OTHER]))
        native = c.post("/documents", content=pkg, headers={**axis.token(c, HANOI), **XML})
        assert native.status_code == 201
        doc_id = native.json()["document_id"]
        assert [k["docId"] for k in _received(c, OTHER) if k["docId"] == doc_id] == [doc_id]
        # The same package again through the SDK: the native document, not a second one.
        again = sdk.send(c, HANOI, pkg).json()
        assert (again["DocId"], again["duplicate"]) == (doc_id, True)
        ledger = c.get("/admin/ledger", headers={"Authorization": "Bearer axis-test-admin"}).json()
        assert ledger["ids"]["documents"].count(doc_id) == 1


def test_delivery_is_at_least_once_until_done_and_never_after(axis: AxisServer):
    with axis.client() as c:
        _drain(c, COMMUNE)
        doc_id = sdk.send(c, HANOI, package(axis.ca, envelope(HANOI, [COMMUNE]))).json()["DocId"]
        first = [k for k in _received(c, COMMUNE) if k["docId"] == doc_id]
        assert [k["attempt"] for k in first] == [1]
        assert [k for k in _received(c, COMMUNE) if k["docId"] == doc_id] == []  # leased until the lease runs out
        # fail / processing leave it pending: it comes back after the 1 s visibility timeout.
        r = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "fail",
                                                  "deliveryId": first[0]["deliveryId"]})
        assert r.json()["acked"] == []
        time.sleep(1.2)
        second = [k for k in _received(c, COMMUNE) if k["docId"] == doc_id]
        assert [(k["deliveryId"], k["attempt"]) for k in second] == [(first[0]["deliveryId"], 2)]
        _done(c, COMMUNE, second[0])
        again = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "done",
                                                      "deliveryId": first[0]["deliveryId"]})
        assert again.json()["acked"] == []  # idempotent: already acknowledged
        time.sleep(1.2)
        assert [k for k in _received(c, COMMUNE) if k["docId"] == doc_id] == []
        # The native face agrees: the delivery is acknowledged.
        ack = c.post(f"/inbox/{first[0]['deliveryId']}/ack", headers=axis.token(c, COMMUNE)).json()
        assert ack["already_acked"] is True


def test_the_agencies_list_is_the_native_directory(axis: AxisServer):
    with axis.client() as c:
        native, cursor = [], 0
        while cursor is not None:
            page = c.get(f"/agencies?limit=1000&cursor={cursor}").json()
            native += page["agencies"]
            cursor = page["next_cursor"]
        listed = sdk.call(c, "getAgenciesList", COMMUNE, {}).json()["data"]
        assert [(a["code"], a["status"]) for a in listed] == [(a["code"], a["status"]) for a in native]
        closed = sdk.call(c, "getAgenciesList", COMMUNE, {"status": "closed"}).json()["data"]
        assert closed and all(a["closedReason"] for a in closed)
        commune = next(a for a in listed if a["code"] == COMMUNE)
        assert (commune["pid"], commune["code102"]) == (HANOI, COMMUNE)


def test_signed_requests_refuse_missing_stale_forged_and_replayed_signatures(axis: AxisServer):
    body = b"{}"
    good = sdk.signed_headers(COMMUNE, body, "application/json")
    with axis.client() as c:
        def post(headers: dict[str, str], content: bytes = body) -> httpx.Response:
            return c.post("/vdxp/getAgenciesList", content=content, headers=headers)

        for name in (SYSTEM_ID_HEADER, TIMESTAMP_HEADER, HASH_HEADER):
            _fail(post({k: v for k, v in good.items() if k != name}), 400, "missing_header", name)
        _fail(post({**good, TIMESTAMP_HEADER: "2025-07-01T08:00:00"}), 400, "invalid_header", TIMESTAMP_HEADER)
        stale = sdk.signed_headers(COMMUNE, body, "application/json", when=time.time() - 600)
        _fail(post(stale), 401, "stale_timestamp", TIMESTAMP_HEADER)
        wrong_key = sdk.signed_headers(COMMUNE, body, "application/json", secret="not-the-secret")
        unknown = sdk.signed_headers("999.99.99.H99", body, "application/json")
        forged = [_fail(post(h), 401, "invalid_signature", HASH_HEADER) for h in (wrong_key, unknown)]
        assert forged[0] == forged[1]  # an unknown system and a wrong key get the same answer
        _fail(post(good, b'{"status":"closed"}'), 401, "invalid_signature", HASH_HEADER)  # body changed after signing
        assert post(good).status_code == 200
        _fail(post(good), 401, "replayed_request", TIMESTAMP_HEADER)
        closed = sdk.signed_headers(CLOSED, body, "application/json")
        _fail(post(closed), 403, "agency_closed", SYSTEM_ID_HEADER)
        # Two processes of one system, one millisecond: a requestId keeps identical requests apart.
        secret = derive_password(DEFAULT_DRY_RUN_SECRET, COMMUNE)
        stamp = format_timestamp(time.time())
        for request_id in ("worker-0", "worker-1"):
            twin = f'{{"requestId":"{request_id}"}}'.encode()
            headers = {"Content-Type": "application/json", SYSTEM_ID_HEADER: COMMUNE, TIMESTAMP_HEADER: stamp,
                       HASH_HEADER: signature(secret, COMMUNE, stamp, "application/json", twin)}
            assert post(headers, twin).status_code == 200


def test_bad_input_is_refused_in_the_sdk_error_form_naming_the_field(axis: AxisServer):
    with axis.client() as c:
        raw = b'{"docId": '
        r = c.post("/vdxp/getEdoc", content=raw, headers=sdk.signed_headers(COMMUNE, raw, "application/json"))
        _fail(r, 400, "invalid_json", None)
        _fail(sdk.call(c, "getEdoc", COMMUNE, {"docId": "x", "extra": 1}), 422, "unknown_field", "extra")
        _fail(sdk.call(c, "getEdoc", COMMUNE, {}), 422, "missing_field", "docId")
        _fail(sdk.call(c, "getEdoc", COMMUNE, {"docId": "0" * 32}), 404, "unknown_document", "docId")
        _fail(sdk.call(c, "getReceivedEdocList", COMMUNE, {"limit": 0}), 422, "invalid_field", "limit")
        _fail(sdk.call(c, "getReceivedEdocList", COMMUNE, {"messagetype": "fax"}), 422, "invalid_field",
              "messagetype")
        _fail(sdk.call(c, "getReceivedEdocList", COMMUNE, {"servicetype": "status", "messagetype": "edoc"}), 422,
              "invalid_field", "messagetype")
        form = b"docId=1"
        r = c.post("/vdxp/getEdoc", content=form,
                   headers=sdk.signed_headers(COMMUNE, form, "application/x-www-form-urlencoded"))
        _fail(r, 415, "unsupported_media_type", "Content-Type")

        doc_id = sdk.send(c, HANOI, package(axis.ca, envelope(HANOI, [COMMUNE]))).json()["DocId"]
        _fail(sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "07"}), 422, "invalid_status", "status")
        _fail(sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "06"}), 409, "illegal_transition",
              "status")
        _fail(sdk.call(c, "updateStatus", HANOI, {"docId": doc_id, "status": "01"}), 403, "not_a_recipient", "docId")
        _fail(sdk.call(c, "updateStatus", OTHER, {"docId": doc_id, "status": "01"}), 404, "unknown_document", "docId")
        _fail(sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "done", "deliveryId": 10**12}), 404,
              "unknown_delivery", "deliveryId")
        _fail(sdk.call(c, "getSentEdocList", COMMUNE, {"docId": doc_id}), 404, "unknown_document", "docId")

        pkg = package(axis.ca, envelope(HANOI, [COMMUNE]))
        _fail(sdk.send(c, HANOI, pkg, sender=COMMUNE), 403, "sender_mismatch", "XroadVnpt-from")
        _fail(sdk.send(c, COMMUNE, pkg), 403, "sender_mismatch", "MessageHeader.From.OrganId")
        _fail(sdk.send(c, HANOI, pkg, messagetype="revocation"), 422, "business_type_mismatch",
              "XroadVnpt-messagetype")
        _fail(sdk.send(c, HANOI, pkg, messagetype="fax"), 422, "invalid_header", "XroadVnpt-messagetype")
        headers = {**sdk.signed_headers(HANOI, pkg, "application/xml"), "XroadVnpt-from": HANOI,
                   "XroadVnpt-servicetype": "status"}
        _fail(c.post("/vdxp/sendEdoc", content=pkg, headers=headers), 422, "unsupported_service_type",
              "XroadVnpt-servicetype")
        closed = build_package(envelope(HANOI, [CLOSED]), axis.ca.issue(HANOI))
        _fail(sdk.send(c, HANOI, closed), 422, "recipient_closed", "MessageHeader.To[0].OrganId")
        big = b"<edXML>" + b" " * (300 * 1024) + b"</edXML>"
        _fail(sdk.send(c, HANOI, big), 413, "body_too_large", None)
        # A call the SDK does not have, and a method its calls lack: still the SDK's form.
        _fail(sdk.call(c, "deleteEdoc", COMMUNE, {"docId": doc_id}), 404, "not_found", "path")
        wrong_method = c.get("/vdxp/getEdoc")
        _fail(wrong_method, 405, "method_not_allowed", None)
        assert wrong_method.headers["allow"] == "POST"


HOSTILE = [
    b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]><edXML>&x;</edXML>',
    b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><edXML>&b;</edXML>',
    b"<edXML><unclosed></edXML>",
    b"\x00\xff not xml",
    b"<edXML>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</edXML>",
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=["xxe", "billion-laughs", "malformed", "binary", "deep"])
def test_hostile_xml_is_refused_as_the_native_face_refuses_it(axis: AxisServer, hostile: bytes):
    with axis.client() as c:
        native = c.post("/documents", content=hostile, headers={**axis.token(c, HANOI), **XML})
        face = sdk.send(c, HANOI, hostile)
        assert 400 <= native.status_code < 500 and face.status_code == native.status_code
        error = native.json()["error"]
        _fail(face, native.status_code, error["code"], error["field"])
        assert b"root:" not in face.content


def test_a_retried_send_is_one_document_and_a_changed_one_a_conflict(axis: AxisServer):
    env = envelope(HANOI, [COMMUNE])
    with axis.client() as c:
        built = dt.datetime.now(dt.UTC)
        first = sdk.send(c, HANOI, package(axis.ca, env, timestamp=built)).json()
        # Re-signed a second later: new signature bytes and trace timestamp, the same content.
        resent = sdk.send(c, HANOI, package(axis.ca, env, timestamp=built + dt.timedelta(seconds=1))).json()
        assert (resent["DocId"], resent["duplicate"], first["duplicate"]) == (first["DocId"], True, False)
        env.subject = "Nội dung khác"
        _fail(sdk.send(c, HANOI, package(axis.ca, env)), 409, "message_id_conflict", "MessageHeader.DocumentId")
        assert orjson.loads(c.get("/openapi.json").content)["paths"]["/vdxp/sendEdoc"]["post"]["responses"][
            "default"]["content"]["application/json"]["schema"] == vdxp.ERROR_SCHEMA


def test_an_injected_fault_on_the_face_answers_in_the_sdk_form_and_leaves_the_native_face_alone(axis: AxisServer):
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with axis.client() as c:
        rule = {"id": "sdk-throttle", "kind": "error", "status": 429, "route": "/vdxp/getAgenciesList", "method": "POST"}
        assert c.post("/admin/faults", json=rule, headers=admin).status_code == 201
        try:
            refused = sdk.call(c, "getAgenciesList", COMMUNE, {})
            _fail(refused, 429, "injected_fault", None)
            assert refused.headers["retry-after"]
            assert c.get("/inbox", headers=axis.token(c, COMMUNE)).status_code == 200  # the native face is untouched
        finally:
            assert c.delete("/admin/faults", headers=admin).status_code == 200
        assert sdk.call(c, "getAgenciesList", COMMUNE, {}).status_code == 200


def test_done_without_a_delivery_id_acknowledges_only_what_was_handed_out(axis: AxisServer):
    sender, recipient = "H26.00025", "H26.00070"  # inboxes no other test of this module touches
    with axis.client() as c:
        for limit in (100, 1):
            doc_id = sdk.send(c, sender, package(axis.ca, envelope(sender, [recipient]))).json()["DocId"]
            assert sdk.call(c, "updateStatus", recipient, {"docId": doc_id, "status": "01"}).status_code == 200
            if limit == 1:  # both status messages pending, one handed out
                assert sdk.call(c, "updateStatus", recipient, {"docId": doc_id, "status": "03"}).status_code == 200
            handed = _received(c, sender, limit, servicetype="status")
            assert [(k["docId"], k["status"]) for k in handed] == [(doc_id, "01")]
            if limit == 100:  # the 03 arrives after the list
                assert sdk.call(c, "updateStatus", recipient, {"docId": doc_id, "status": "03"}).status_code == 200
            done = sdk.call(c, "updateStatus", sender, {"docId": doc_id, "status": "done"}).json()
            # The 03 was never handed to the sender: acknowledging it would lose it.
            assert (done["deliveries"], done["acked"]) == ([handed[0]["deliveryId"]], [handed[0]["deliveryId"]])
            later = _received(c, sender, servicetype="status")
            assert [(k["status"], k["attempt"]) for k in later] == [("03", 1)]
            _done(c, sender, later[0])


def test_a_resent_document_is_the_duplicate_even_after_its_recipient_closed(tmp_path):
    old_tier = Path(__file__).resolve().parents[3] / "drills" / "catalog" / "readiness" / "old-tier.yaml"
    server = start_axis(tmp_path, readiness_file=str(old_tier))
    try:
        with server.client() as c:
            native = {**server.token(c, HANOI), **XML}
            first_sdk = package(server.ca, envelope(HANOI, [CLOSED]))
            first_native = package(server.ca, envelope(HANOI, [CLOSED]))
            sent_sdk = sdk.send(c, HANOI, first_sdk).json()
            sent_native = c.post("/documents", content=first_native, headers=native).json()
            assert (sent_sdk["duplicate"], sent_native["duplicate"]) == (False, False)
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            closed = c.post("/admin/district-tier", json={"status": "closed"}, headers=admin)
            assert closed.status_code == 200 and closed.json()["status"] == "closed"
            # A retry of either learns its send was accepted, through either face.
            for pkg, doc_id in ((first_sdk, sent_sdk["DocId"]), (first_native, sent_native["document_id"])):
                again = sdk.send(c, HANOI, pkg)
                assert again.status_code == 200, again.text
                assert (again.json()["DocId"], again.json()["duplicate"]) == (doc_id, True)
                again = c.post("/documents", content=pkg, headers=native)
                assert again.status_code == 200, again.text
                assert (again.json()["document_id"], again.json()["duplicate"]) == (doc_id, True)
            # A new document to the closed tier is still refused.
            _fail(sdk.send(c, HANOI, package(server.ca, envelope(HANOI, [CLOSED]))), 422, "recipient_closed",
                  "MessageHeader.To[0].OrganId")
    finally:
        stop_axis(server.process)


def test_a_boolean_is_not_a_number_but_a_string_of_digits_is(axis: AxisServer):
    with axis.client() as c:
        doc_id = sdk.send(c, HANOI, package(axis.ca, envelope(HANOI, [COMMUNE]))).json()["DocId"]
        item = next(k for k in _received(c, COMMUNE) if k["docId"] == doc_id)
        body = _fail(sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "done", "deliveryId": True}),
                     422, "invalid_field", "deliveryId")
        assert body["ErrorDesc"].startswith("deliveryId: ") and body["ErrorDesc"].count("deliveryId:") == 1
        _fail(sdk.call(c, "getReceivedEdocList", COMMUNE, {"limit": True}), 422, "invalid_field", "limit")
        _fail(sdk.call(c, "getReceivedEdocList", COMMUNE, {"limit": "1.5"}), 422, "invalid_field", "limit")
        assert sdk.call(c, "getReceivedEdocList", COMMUNE, {"limit": "1"}).status_code == 200
        done = sdk.call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "done",
                                                     "deliveryId": str(item["deliveryId"])}).json()
        assert done["acked"] == [item["deliveryId"]]


def test_an_error_names_its_field_once(axis: AxisServer):
    with axis.client() as c:
        body = _fail(sdk.call(c, "getEdoc", COMMUNE, {"docId": 5}), 422, "invalid_field", "docId")
        assert body["ErrorDesc"] == "docId: Input should be a valid string"


def test_a_malformed_signature_header_is_a_400_and_either_hex_case_is_accepted(axis: AxisServer):
    body = b"{}"
    with axis.client() as c:
        good = sdk.signed_headers(COMMUNE, body, "application/json")
        for bad in ("zz", good[HASH_HEADER][:63], good[HASH_HEADER] + "0", "g" * 64):
            _fail(c.post("/vdxp/getAgenciesList", content=body, headers={**good, HASH_HEADER: bad}), 400,
                  "invalid_header", HASH_HEADER)
        jar = sdk.jar_headers(COMMUNE, {}, "application/json")
        _fail(c.post("/vdxp/getAgenciesList", content=body, headers={**jar, HASH_HEADER: "not-hex"}), 400,
              "invalid_header", HASH_HEADER)
        upper = {**good, HASH_HEADER: good[HASH_HEADER].upper()}
        assert c.post("/vdxp/getAgenciesList", content=body, headers=upper).status_code == 200
        params = orjson.loads(c.get("/openapi.json").content)["paths"]["/vdxp/getAgenciesList"]["post"]["parameters"]
        pattern = next(p["schema"]["pattern"] for p in params if p["name"] == HASH_HEADER)
        assert re.fullmatch(pattern, upper[HASH_HEADER]) and not re.fullmatch(pattern, "g" * 64)


@pytest.mark.parametrize(
    ("raw", "status", "code", "field"),
    [
        (b"POST /vdxp/getEdoc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nXroadVnpt-sign-header: "
         + b"{" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}", 431, "headers_too_large", "XroadVnpt-sign-header"),
        (b"POST /vdxp/getEdoc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
         b"\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "invalid_http", None),
    ],
    ids=["head-over-the-cap", "bad-chunk-size"],
)
def test_a_refusal_of_the_http_layer_is_in_the_sdk_form(axis: AxisServer, raw: bytes, status: int, code: str,
                                                       field: str | None):
    """Refused before any handler runs (mocks.core.protocol), and still answered as the face answers."""
    got, headers, body = exchange(axis.url, raw)
    assert got == status and headers["content-type"] == "application/json" and headers["connection"] == "close"
    _fail(httpx.Response(got, content=body), status, code, field)


def test_a_caller_gone_mid_package_is_no_server_error(axis: AxisServer):
    """A client that closes its connection before its package arrived is counted with the
    callers' mistakes, not as the service failing, and leaves no traceback."""
    route = "/vdxp/sendEdoc"
    before = requests_counted(axis.url, route)
    abandon_body(axis.url, route, {"Content-Type": "application/xml"})
    after = wait_for_count(axis.url, route, sum(before.values()))
    assert after.get("5xx", 0) == before.get("5xx", 0) and after.get("4xx", 0) == before.get("4xx", 0) + 1
    assert "Traceback" not in (axis.data_dir / "axis.log").read_text(errors="replace")
