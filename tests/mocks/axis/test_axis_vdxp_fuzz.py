"""Fuzz the SDK face: Schemathesis cases from the app's OpenAPI (sent as generated and sent
signed, so they reach past the signature check) and Hypothesis-generated malformed edXML
through sendEdoc, which must be refused exactly as ``POST /documents`` refuses it."""

from __future__ import annotations

import json

import httpx
import pytest
import vdxp_client as sdk
from axis_harness import XML, AxisServer, envelope, package
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

COMMUNE = "H26.00004"
HANOI = "000.00.00.H26"
SDK_OPERATIONS = {f"POST /vdxp/{op}" for op in ("sendEdoc", "getReceivedEdocList", "getEdoc", "getSentEdocList",
                                                 "updateStatus", "getAgenciesList")}


def _check(response: httpx.Response, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text, where
    body = response.json()
    if response.status_code >= 400:
        assert body["status"] == "FAIL" and body["ErrorCode"] and body["ErrorDesc"], f"{where}: {body}"
    else:
        assert body["status"] == "OK" and body["ErrorCode"] == "0", f"{where}: {body}"


def test_no_generated_request_causes_a_server_error_signed_or_not(axis: AxisServer, tmp_path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    import schemathesis

    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    schema = schemathesis.openapi.from_url(f"{axis.url}/openapi.json")
    statuses: list[int] = []
    seen: set[str] = set()
    with axis.client() as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.label not in SDK_OPERATIONS:
                continue
            seen.add(operation.label)

            @given(case=operation.as_strategy())
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                kwargs = case.as_transport_kwargs(base_url=axis.url)
                body = kwargs.get("data")
                if body is None:
                    body = json.dumps(kwargs["json"]).encode() if "json" in kwargs else b""
                elif isinstance(body, str):
                    body = body.encode()
                headers = {k: v for k, v in kwargs["headers"].items() if k.lower() not in ("content-length",)}
                where = f"{case.method} {case.formatted_path}"
                as_generated = client.post(case.formatted_path, content=body, headers=headers)
                statuses.append(as_generated.status_code)
                _check(as_generated, where)
                signed = {**headers, **sdk.signed_headers(COMMUNE, body, headers.get("Content-Type", ""))}
                response = client.post(case.formatted_path, content=body, headers=signed)
                statuses.append(response.status_code)
                _check(response, f"{where} (signed)")

            check()
    assert seen == SDK_OPERATIONS
    assert len(statuses) >= 300 and 200 in statuses  # the fuzzer ran, and past the signature check


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Malformed edXML: a valid package cut, with bytes flipped or spliced in, or made-up XML."""
    cut = st.integers(0, len(valid)).map(lambda n: valid[:n])
    flipped = st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)).map(
        lambda p: valid[: p[0]] + bytes([p[1]]) + valid[p[0] + 1:])
    spliced = st.tuples(st.integers(0, len(valid)), st.sampled_from(
        [b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"&e;", b"<![CDATA[", b"</edXML>", b"\x00",
         b"<ds:Signature/>", b"<To><OrganId>000.00.01.H26</OrganId></To>"])).map(
        lambda p: valid[: p[0]] + p[1] + valid[p[0]:])
    tags = st.recursive(st.just("x"), lambda inner: st.builds(lambda t, c: f"<{t}>{c}</{t}>",
                                                               st.sampled_from(["edXML", "From", "To", "a"]), inner),
                        max_leaves=10)
    return st.one_of(cut, flipped, spliced, tags.map(str.encode))


def test_malformed_edxml_is_refused_through_the_sdk_as_the_native_face_refuses_it(axis: AxisServer):
    valid = package(axis.ca, envelope(HANOI, [COMMUNE]))
    codes: set[str] = set()
    with axis.client() as client:
        token = {**axis.token(client, HANOI), **XML}

        @given(data=_mutations(valid))
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(data: bytes) -> None:
            native = client.post("/documents", content=data, headers=token)
            face = sdk.send(client, HANOI, data)
            assert face.status_code < 500 and native.status_code < 500
            if native.status_code >= 400:
                error = native.json()["error"]
                body = face.json()
                assert (face.status_code, body["ErrorCode"], body["ErrorField"]) == (
                    native.status_code, error["code"], error["field"]), data[:200]
                codes.add(error["code"])
            else:  # a mutation that left a valid package (e.g. in ignorable whitespace): same document
                assert face.status_code == 200 and face.json()["DocId"] == native.json()["document_id"]

        check()
    assert {"malformed_xml"} <= codes and len(codes) >= 3
