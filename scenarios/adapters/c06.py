"""The population database spoken as the C06 SOAP shape (``protocol: c06-soap``).

:class:`C06PopulationAdapter` has the methods and :class:`Reply` data of
:class:`~scenarios.adapters.systems.PopulationAdapter`, so the personas run unchanged:

* ``token(client_id, province)`` signs nothing in — this shape has no sign-in; each
  request carries ``Timestamp``, ``Authorization: Basic base64(user:sha256hex(url + user +
  Timestamp + secret))``, ``X-Road-Client`` and ``ApiKey`` — so the "token" is the client id
  whose secret signs the requests (``None`` while the target's ``Retry-After`` for that
  client is pending, as for the native adapter);
* ``verify(...)`` is ``XacThucThongTinCongDan`` → ``data = {"match": bool}``;
* ``lookup(...)`` is ``TraCuuThongTinCongDan`` with the ID number alone → the citizen in the
  native face's keys (``kernel.national.c06.CITIZEN_ELEMENTS``), or 404 ``citizen_not_found``.

zeep loads the WSDL (``kernel/national/c06.wsdl``, the one the mock serves) once per
process and builds and reads every message (``Client.create_message``, the binding's
``process_reply``); the bytes go through :meth:`ServiceSession.call`, so pools, source
addresses, recording and throttling apply as to any adapter. A SOAP Fault becomes a
failed :class:`Reply` with the native error shape ``{"error": {"code", "message",
"field"}}`` read from the fault's detail.

Credentials (reconstructed, see ``kernel.national.c06``): the Basic user is the client id
and the hash's secret is ``credentials.password(client_id)`` — the native client secret;
``ApiKey`` is ``credentials.password("apikey:" + client_id)`` (the mocks do not check it;
a real exchange platform issues one per subsystem); ``X-Road-Client`` is
``VN/GOV/<province agency code>/<client id>``. The hashed URL is the endpoint's URL as the
``Host`` header carries it (:func:`kernel.national.c06.signed_url`).

What each request asks for, beyond the caller's arguments: ``MaYeuCau`` a fresh id,
``MaDVC`` the persona's purpose (the mock audits ``MaDVC/MaYeuCau/MaCanBo`` as the purpose),
``MaCanBo`` and ``TaiKhoan`` the client id, ``MaDonVi`` the province's agency code,
``SoDienThoai`` "0" (as a public caller sends).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from kernel.credentials import Credentials
from kernel.national.c06 import (
    C06_NS,
    CITIZEN_ELEMENTS,
    ENDPOINT_PATH,
    LOOKUP,
    OPERATIONS,
    SEX_CODES,
    VERIFY,
    basic_authorization,
    format_birth_date,
    parse_birth_date,
    signed_url,
    wsdl_path,
)
from kernel.roster import load_roster
from scenarios.adapters.http import Reply, ServiceSession
from scenarios.adapters.shapes import MALFORMED
from scenarios.adapters.throttle import GatedTokenCache

__all__ = ["C06PopulationAdapter", "soap_client"]

_NAMES = {LOOKUP: f"POST /c06 {LOOKUP}", VERIFY: f"POST /c06 {VERIFY}"}
_SEX_OF_CODE = {code: sex for sex, code in SEX_CODES.items()}
_LOI = f"{{{C06_NS}}}Loi"
_client_lock = threading.Lock()
_client: Any = None


def soap_client() -> Any:
    """The process's zeep client of the packaged WSDL (loaded once; it only builds and reads
    messages — nothing is sent through its transport)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                import zeep  # here, so a run that speaks only native shapes never imports it

                _client = zeep.Client(str(wsdl_path()))
    return _client


@dataclass(slots=True)
class _HttpAnswer:
    """What zeep's ``process_reply`` reads of an HTTP response."""

    status_code: int
    content: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/xml; charset=utf-8"})
    encoding: str = "utf-8"


class C06PopulationAdapter:
    """National Population Database over the C06 SOAP shape (see the module docstring)."""

    def __init__(self, session: ServiceSession, credentials: Credentials):
        self.http = session
        self._credentials = credentials
        self.tokens = GatedTokenCache()  # holds clients the target throttled; no tokens are issued
        self._url = signed_url(session.base_url)
        self._client = soap_client()
        self._binding = self._client.service._binding
        self._roster = load_roster()

    def token(self, client_id: str, province: str) -> str | None:
        """The client id whose secret signs the requests; None while the target's
        Retry-After for the client is pending (this shape has no sign-in)."""
        return None if self.tokens.held(client_id) else client_id

    def verify(self, token: str, personal_id: str, full_name: str, date_of_birth: dt.date, purpose: str,
               province: str, commune: str | None = None) -> Reply:
        """``XacThucThongTinCongDan``: match / no match only."""
        reply, result = self._operation(
            VERIFY, token, province, commune, purpose,
            SoDinhDanh=personal_id, HoVaTen=full_name,
            NgayThangNamSinh={"NgayThangNam": format_birth_date(date_of_birth)},
        )
        if result is not None:
            reply.data = {"match": bool(result.TonTai)}
        return reply

    def lookup(self, token: str, personal_id: str, purpose: str, province: str, commune: str | None = None) -> Reply:
        """``TraCuuThongTinCongDan`` by ID number: the citizen as the caller's role may see it."""
        citizens: list[dict[str, Any]] = []

        def decode(result: Any) -> None:
            # In the read hook, so a citizen not in our form is a failure in Locust's statistics.
            if result.TonTai and result.CongDan is not None:
                citizens.append(_citizen_fields(result.CongDan))

        reply, result = self._operation(LOOKUP, token, province, commune, purpose, decode=decode,
                                        SoDinhDanh=personal_id)
        if result is None:
            return reply
        if not citizens:
            reply.status, reply.ok, reply.error_code = 404, False, "citizen_not_found"
            reply.data = {"error": {"code": "citizen_not_found", "message": "no citizen with this personal ID number",
                                    "field": "personal_id"}}
            return reply
        reply.data = citizens[0]
        return reply

    def _operation(self, operation: str, client_id: str, province: str, commune: str | None, purpose: str,
                   *, decode: Callable[[Any], None] | None = None, **fields: Any) -> tuple[Reply, Any]:
        """Send one operation; the reply and zeep's result (None when it failed). ``decode(result)``
        reads the result before the answer is reported; a ValueError from it (naming what is not
        in our form) makes the answer a failure, "malformed answer: …"."""
        body = etree.tostring(self._client.create_message(
            self._client.service, operation,
            MaYeuCau=uuid.uuid4().hex, MaDVC=purpose[:64], MaTichHop=OPERATIONS[operation], MaCanBo=client_id,
            MaDonVi=self._agency(province), TaiKhoan=client_id, SoDienThoai="0", **fields,
        ), encoding="utf-8")
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '""',
            "Timestamp": timestamp,
            "Authorization": basic_authorization(self._url, client_id, timestamp, self._credentials.password(client_id)),
            "X-Road-Client": f"VN/GOV/{self._agency(province)}/{client_id}",
            "ApiKey": self._credentials.password(f"apikey:{client_id}"),
        }
        results: list[Any] = []

        def read(answer: Reply) -> str | None:
            # Read before the answer is reported, so a 200 that holds no result (an HTML page,
            # a Fault, nothing) is a failure in Locust's statistics too, under its fault code.
            if not answer.content:
                if answer.ok:  # an empty 200 is no result; an empty refusal keeps its status as its reason
                    answer.ok, answer.error_code = False, MALFORMED
                return None
            result = self._read(operation, answer)[1]
            if result is not None and decode is not None:
                try:
                    decode(result)
                except ValueError as exc:
                    answer.ok, answer.error_code = False, MALFORMED
                    return f"malformed answer: {exc}"
            results.append(result)
            return None

        reply = self.http.call("POST", ENDPOINT_PATH, name=_NAMES[operation], province=province, commune=commune,
                               data=body, headers=headers, expect=(200,), read=read)
        if reply.retry_after is not None:
            self.tokens.note(client_id, reply)
        return reply, results[0] if results else None

    def _read(self, operation: str, reply: Reply) -> tuple[Reply, Any]:
        from zeep.exceptions import Error, Fault

        try:
            result = self._binding.process_reply(
                self._client, self._binding.get(operation), _HttpAnswer(reply.status, reply.content)
            )
        except Fault as fault:
            code, element, message = _fault_detail(fault)
            reply.ok, reply.error_code = False, code
            reply.data = {"error": {"code": code, "message": message, "field": element}}
            return reply, None
        except (Error, etree.XMLSyntaxError, ValueError):
            reply.ok, reply.error_code = False, MALFORMED
            return reply, None
        return reply, result if reply.ok else None

    def _agency(self, province: str) -> str:
        try:
            return self._roster.province(province).agency_code
        except KeyError:
            return province


def _fault_detail(fault: Any) -> tuple[str, str | None, str]:
    """(code, element, message) of a Fault with our ``Loi`` detail; the faultcode otherwise."""
    detail = fault.detail
    loi = detail.find(_LOI) if detail is not None else None
    if loi is None:
        return str(fault.code or "soap_fault"), None, str(fault.message or "")

    def text(name: str) -> str | None:
        node = loi.find(f"{{{C06_NS}}}{name}")
        return node.text if node is not None else None

    return text("MaLoi") or "soap_fault", text("PhanTu"), text("MoTaLoi") or str(fault.message or "")


def _citizen_fields(citizen: Any) -> dict[str, Any]:
    """``CongDan`` in the native face's keys (``kernel.national.c06.CITIZEN_ELEMENTS``); a
    ValueError naming the field (never its value: a citizen's data) for a date or year the
    schema's string types let through but that is not in our form."""
    data: dict[str, Any] = {}
    for name, element in CITIZEN_ELEMENTS.items():
        outer, _, inner = element.partition("/")
        value = getattr(citizen, outer, None)
        if inner and value is not None:
            value = getattr(value, inner, None)
        if value is None:
            continue
        if name == "date_of_birth":
            try:
                data[name] = parse_birth_date(value).isoformat()
            except (TypeError, ValueError):
                raise ValueError(f"{name} is not a C06 date (yyyyMMdd)") from None
        elif name == "birth_year":
            try:
                data[name] = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} is not a year") from None
        elif name == "sex":
            data[name] = _SEX_OF_CODE.get(value, value)
        else:
            data[name] = value
    return data
