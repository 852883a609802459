"""The SDK jar's own signing on the SDK face: parameters in signed ``XroadVnpt-*`` headers,
the signed JSON text, the file's hash — as the VNPT SDK (SDKVXP-2.0.1) sends them (its wire
format was captured by running the jar against a loopback server; this client re-creates
it, the jar itself is not in the repository)."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
import vdxp_client as sdk
from axis_harness import AxisServer, envelope, package

pytestmark = pytest.mark.e2e

HANOI = "000.00.00.H26"
COMMUNE = "H26.00004"


def _fail(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status"], body["ErrorCode"], body["ErrorField"]) == ("FAIL", code, field), body


def test_the_jar_s_requests_send_receive_fetch_and_acknowledge(axis: AxisServer):
    pkg = package(axis.ca, envelope(HANOI, [COMMUNE]))
    with axis.client() as c:
        sent = sdk.jar_send(c, HANOI, pkg).json()
        assert (sent["status"], sent["duplicate"]) == ("OK", False)
        doc_id = sent["DocId"]
        listed = sdk.jar_call(c, "getReceivedEdocList", COMMUNE, {"servicetype": "eDoc", "messagetype": "edoc"})
        knobstick = next(k for k in listed.json()["data"] if k["docId"] == doc_id)
        got = sdk.jar_call(c, "getEdoc", COMMUNE, {"docId": doc_id, "filePath": "xml"}).json()
        assert base64.b64decode(got["data"]) == pkg  # the file as sent, without the upload's CRLF
        receipt = sdk.jar_call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "01"}).json()
        assert receipt["statusCode"] == "01"
        done = sdk.jar_call(c, "updateStatus", COMMUNE, {"docId": doc_id, "status": "done"}).json()
        assert done["acked"] == [knobstick["deliveryId"]]
        # The same package through the other scheme: the same document.
        again = sdk.send(c, HANOI, pkg).json()
        assert (again["DocId"], again["duplicate"]) == (doc_id, True)


def test_the_jar_s_signature_covers_every_header_and_the_file(axis: AxisServer):
    pkg = package(axis.ca, envelope(HANOI, [COMMUNE]))
    with axis.client() as c:
        headers = sdk.jar_headers(COMMUNE, {"docId": "a" * 32}, "application/json")
        _fail(c.post("/vdxp/getEdoc", content=b"{}", headers={**headers, "XroadVnpt-docId": "b" * 32}), 401,
              "invalid_signature", "XroadVnpt-docId")
        _fail(c.post("/vdxp/getEdoc", content=b"{}", headers={**headers, "XroadVnpt-from": HANOI}), 401,
              "invalid_signature", "XroadVnpt-from")  # an unsigned parameter riding along
        _fail(c.post("/vdxp/getEdoc", content=b'{"docId": "x"}', headers=headers), 400, "unsigned_body",
              "XroadVnpt-sign-header")
        _fail(c.post("/vdxp/getEdoc", content=b"{}", headers={**headers, "XroadVnpt-sign-header": "[1]"}), 400,
              "invalid_header", "XroadVnpt-sign-header")
        wrong = sdk.jar_headers(COMMUNE, {"docId": "a" * 32}, "application/json", secret="not-the-secret")
        _fail(c.post("/vdxp/getEdoc", content=b"{}", headers=wrong), 401, "invalid_signature",
              "XroadVnpt-hash-header")
        assert c.post("/vdxp/getEdoc", content=b"{}", headers=headers).status_code == 404  # signed: past the check
        _fail(c.post("/vdxp/getEdoc", content=b"{}", headers=headers), 401, "replayed_request",
              "XroadVnpt-timestamp")
        signed_file = sdk.jar_headers(HANOI, {"hash-file": hashlib.sha256(pkg).hexdigest(), "from": HANOI},
                                      "application/octet-stream")
        tampered = pkg.replace(b"UBND-VP", b"UBND-XX")
        _fail(c.post("/vdxp/sendEdoc", content=tampered, headers=signed_file), 401, "invalid_signature",
              "XroadVnpt-hash-file")
        unsigned = sdk.jar_headers(HANOI, {"from": HANOI}, "application/octet-stream")
        _fail(c.post("/vdxp/sendEdoc", content=pkg, headers=unsigned), 400, "unsigned_body", "XroadVnpt-sign-header")


def test_a_json_operation_s_body_is_refused_even_with_a_signed_file_hash(axis: AxisServer):
    body = b'{"status":"open"}'
    with axis.client() as c:
        headers = sdk.jar_headers(COMMUNE, {"status": "closed", "hash-file": hashlib.sha256(body).hexdigest()},
                                  "application/json")
        _fail(c.post("/vdxp/getAgenciesList", content=body, headers=headers), 400, "unsigned_body",
              "XroadVnpt-sign-header")
        # Its parameters travel as signed headers, numbers as strings (the jar's way).
        listed = sdk.jar_call(c, "getAgenciesList", COMMUNE, {"status": "closed"}).json()["data"]
        assert listed and {a["status"] for a in listed} == {"closed"}
        assert sdk.jar_call(c, "getReceivedEdocList", COMMUNE, {"limit": "1"}).status_code == 200
