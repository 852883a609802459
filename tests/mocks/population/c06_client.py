"""Talking to the population mock's C06 SOAP face in the tests: signed headers, hand-built
envelopes (for the bad-input cases zeep would refuse to send) and a real zeep client."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from xml.sax.saxutils import escape

import zeep
from zeep import Plugin

from kernel.credentials import derive_password
from kernel.national.c06 import ENDPOINT_PATH, basic_authorization, format_birth_date

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def signed_headers(url: str, user: str, secret: str, *, timestamp: str | None = None,
                   x_road: str | None = None, api_key: str = "test-api-key") -> dict[str, str]:
    """The headers a caller of the face sends (``url`` is the endpoint's URL)."""
    ts = timestamp or str(int(time.time() * 1000))
    return {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '""',
        "Timestamp": ts,
        "Authorization": basic_authorization(url, user, ts, derive_password(secret, user)),
        "X-Road-Client": x_road if x_road is not None else f"VN/GOV/000.00.00.H26/{user}",
        "ApiKey": api_key,
    }


def envelope(operation: str, fields: dict[str, str | None], *, birth: str | None = None, year: str | None = None,
             prefix: str = "dan") -> bytes:
    """A request envelope as the public callers write it (fields in order, values escaped;
    ``None`` leaves a field out)."""
    parts = [f"<{prefix}:{name}>{escape(value)}</{prefix}:{name}>" for name, value in fields.items() if value is not None]
    if birth is not None or year is not None:
        inner = (f"<{prefix}:NgayThangNam>{birth}</{prefix}:NgayThangNam>" if birth is not None
                 else f"<{prefix}:Nam>{year}</{prefix}:Nam>")
        parts.append(f"<{prefix}:NgayThangNamSinh>{inner}</{prefix}:NgayThangNamSinh>")
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:{prefix}="http://dancuquocgia.bca">'
        f"<soapenv:Header/><soapenv:Body><{prefix}:{operation}>{''.join(parts)}</{prefix}:{operation}>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def request_fields(operation: str, personal_id: str, full_name: str | None = None, **extra: str | None
                   ) -> dict[str, str | None]:
    """The request fields of one call (``extra`` overrides or, with None, removes one)."""
    fields: dict[str, str | None] = {
        "MaYeuCau": "REQ-1", "MaDVC": "1.001", "MaTichHop": "037" if operation == "TraCuuThongTinCongDan" else "003",
        "MaCanBo": "canbo01", "MaDonVi": "000.00.00.H26", "TaiKhoan": "canbo01", "SoDienThoai": "0",
        "SoDinhDanh": personal_id, "HoVaTen": full_name,
    }
    fields.update(extra)
    return fields


def birth_text(date: dt.date) -> str:
    """``yyyyMMdd``."""
    return format_birth_date(date)


class SigningPlugin(Plugin):
    """A zeep plugin that signs each outgoing request as ``user`` (the headers change per call)."""

    def __init__(self, url: str, user: str, secret: str):
        self.url, self.user, self.secret = url, user, secret

    def egress(self, envelope: Any, http_headers: dict[str, str], operation: Any, binding_options: Any) -> Any:
        http_headers.update({k: v for k, v in signed_headers(self.url, self.user, self.secret).items()
                             if k != "Content-Type"})
        return envelope, http_headers


def zeep_client(base_url: str, user: str, secret: str) -> zeep.Client:
    """A zeep client of the WSDL the face serves, signing as ``user``."""
    url = base_url + ENDPOINT_PATH
    return zeep.Client(f"{url}?wsdl", plugins=[SigningPlugin(url, user, secret)])
