"""The C06 SOAP shape's shared pieces: the Authorization hash, dates, the WSDL."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from lxml import etree

from kernel.national.c06 import (
    C06_NS,
    OPERATIONS,
    auth_hash,
    basic_authorization,
    format_birth_date,
    parse_basic_authorization,
    parse_birth_date,
    signed_url,
    wsdl_document,
)


def test_the_hash_is_lower_hex_sha256_of_url_user_timestamp_secret() -> None:
    expected = hashlib.sha256(b"http://h/c06/CongDanServiceprovince-011733450000000s3cret").hexdigest()
    assert auth_hash("http://h/c06/CongDanService", "province-01", "1733450000000", "s3cret") == expected
    header = basic_authorization("http://h/c06/CongDanService", "province-01", "1733450000000", "s3cret")
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"province-01:{expected}"
    assert parse_basic_authorization(header) == ("province-01", expected)


@pytest.mark.parametrize("header", ["Bearer x", "Basic", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(),
                                    "Basic " + base64.b64encode(b":hash").decode()])
def test_a_bad_basic_header_is_a_value_error(header: str) -> None:
    with pytest.raises(ValueError):
        parse_basic_authorization(header)


def test_birth_dates_are_yyyymmdd() -> None:
    assert format_birth_date(dt.date(1969, 10, 4)) == "19691004"
    assert parse_birth_date("19691004") == dt.date(1969, 10, 4)
    for bad in ("1969104", "1969-10-04", "19691304", "١٩٦٩١٠٠٤"):
        with pytest.raises(ValueError):
            parse_birth_date(bad)


def test_the_wsdl_carries_the_address_and_both_operations() -> None:
    root = etree.fromstring(wsdl_document("http://127.0.0.1:9/c06/CongDanService"))
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/", "s": "http://schemas.xmlsoap.org/wsdl/soap/"}
    assert root.get("targetNamespace") == C06_NS
    assert root.find("w:service/w:port/s:address", ns).get("location") == "http://127.0.0.1:9/c06/CongDanService"
    assert {op.get("name") for op in root.findall("w:portType/w:operation", ns)} == set(OPERATIONS)
    assert {op.get("soapAction") for op in root.iterfind("w:binding/w:operation/s:operation", ns)} == {""}


@pytest.mark.parametrize(
    ("base_url", "signed"),
    [
        ("http://127.0.0.1:8702", "http://127.0.0.1:8702/c06/CongDanService"),
        ("http://LOCALHOST:8702/", "http://localhost:8702/c06/CongDanService"),  # the Host a client sends
        ("http://staging.example:80", "http://staging.example/c06/CongDanService"),  # default port left out
        ("HTTPS://Staging.Example:443/lgsp/", "https://staging.example/lgsp/c06/CongDanService"),
        ("https://staging.example:8443", "https://staging.example:8443/c06/CongDanService"),
        ("http://[::1]:8702", "http://[::1]:8702/c06/CongDanService"),
    ],
)
def test_the_signed_url_is_the_one_the_host_header_carries(base_url: str, signed: str) -> None:
    assert signed_url(base_url) == signed
