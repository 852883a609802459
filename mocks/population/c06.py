"""The population mock's second face: the C06 SOAP shape (``protocol: c06-soap``).

``POST /c06/CongDanService`` takes ``TraCuuThongTinCongDan`` (look-up) and
``XacThucThongTinCongDan`` (verify) as document/literal SOAP 1.1; ``GET
/c06/CongDanService?wsdl`` serves the WSDL (``kernel/national/c06.wsdl``) with this
server's address. Both operations run through the same :class:`PopulationService` as the
native face — same store, role filtering, audit, throttling, readiness and metrics.

The gate, in the native face's order: the caller's headers (``Timestamp``, the hashed
``Authorization``, ``X-Road-Client``, ``ApiKey``: 401) → the service's gate for that
client (province scope and readiness: 503; throttle: 429 with ``Retry-After``) → the
message (size 413, hostile or malformed XML 400, fields 400) → the answer. Every refusal
is a SOAP Fault naming the element or header (:mod:`mocks.population.c06_messages`).

Caller identity (reconstructed, see ``kernel.national.c06``): the Basic user is the
client id (``portal``, ``police``, ``province-NN``), the hash's secret is that client's
secret — the same the native face's token endpoint takes. Ours: ``Timestamp`` must be
within :data:`TIMESTAMP_WINDOW_S` of the mock's clock; ``X-Road-Client``'s last
``/``-separated part (the X-Road subsystem) must be the Basic user; ``ApiKey`` must be
present (1–256 characters) but its value is not checked — the real exchange platform
issues one per subsystem, the mock has no register of them.
"""

from __future__ import annotations

import datetime as dt
import hmac
import time

from starlette.requests import Request
from starlette.responses import Response

from kernel.national.c06 import (
    ENDPOINT_PATH,
    LOOKUP,
    auth_hash,
    authority_of_host,
    parse_basic_authorization,
    wsdl_document,
)
from mocks.core.app import Endpoint, Param
from mocks.core.errors import ApiError
from mocks.core.http import read_body
from mocks.population.c06_messages import (
    MAX_MESSAGE_BYTES,
    SoapFault,
    SoapRequest,
    fault_body,
    lookup_answer,
    read_request,
    verify_answer,
)
from mocks.population.service import Caller, PopulationService

__all__ = ["C06Face", "TIMESTAMP_WINDOW_S"]

#: How far a request's ``Timestamp`` may be from the mock's clock (ours).
TIMESTAMP_WINDOW_S = 300
_XML_TYPES = frozenset({b"text/xml", b"application/xml"})
_WSDL_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "Cache-Control": "max-age=3600"}
# The native face's field names → the elements/headers the SOAP face names instead.
_ELEMENT_OF = {"personal_id": "SoDinhDanh", "purpose": "MaDVC", "client_id": "Authorization",
               "client_secret": "Authorization", "Authorization": "Authorization"}


def _soap(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Starlette adds "; charset=utf-8" to a text/* media type.
    return Response(body, status_code=status, headers=headers or None, media_type="text/xml")


def _fault_response(fault: SoapFault) -> Response:
    return _soap(fault_body(fault), fault.status, fault.headers)


def _fault_of(exc: ApiError) -> SoapFault:
    """The service's refusal (auth, readiness, throttle, input rule) as a SOAP Fault, same status."""
    headers = dict(exc.headers or {})
    legacy = headers.get("X-Legacy-Code")
    headers.pop("WWW-Authenticate", None)  # it names the bearer scheme of the native face
    element = _ELEMENT_OF.get(exc.field, exc.field) if exc.field else None
    # An input rule the native face answers with 422 is a Client fault with 400 here, like
    # every other fault about the message (see the README: SOAP faults are 4xx, not 500).
    status = 400 if exc.status == 422 else exc.status
    return SoapFault(status, exc.code, exc.message, element, legacy=legacy, headers=headers)


def _unauthorised(code: str, message: str, header: str) -> SoapFault:
    return SoapFault(401, code, message, header, legacy="100", headers={"X-Legacy-Code": "100"})


class C06Face:
    """The SOAP face over one :class:`PopulationService` (see the module docstring)."""

    def __init__(self, service: PopulationService):
        self.service = service
        self.allow_entities = "xxe_enabled" in service.settings.vulnerable  # PLANTED WEAKNESS when set
        self._wsdl: dict[str, bytes] = {}
        self._callers: dict[str, tuple[Caller, str]] = {}  # Basic user → (caller, its secret)

    def endpoints(self) -> list[Endpoint]:
        """The face's routes (in ``/openapi.json`` as XML bodies; the WSDL is the real contract)."""
        return [
            Endpoint(
                "POST", ENDPOINT_PATH, self.call,
                "C06 SOAP face: TraCuuThongTinCongDan (037) and XacThucThongTinCongDan (003); "
                "SOAP 1.1 document/literal, answers and faults in text/xml",
                request_content_type="text/xml", response_content_type="text/xml", tags=("c06-soap",),
                error_schema={"type": "string"},
                # A refusal made before the handler runs (an injected fault) is a SOAP Fault too.
                error_form=lambda exc: _fault_response(_fault_of(exc)),
                params=(
                    Param("Timestamp", "header", True, description="Unix time in milliseconds"),
                    Param("Authorization", "header", True,
                          description="Basic base64(user:sha256hex(url + user + Timestamp + secret))"),
                    Param("X-Road-Client", "header", True, description="X-Road client id; last part = user"),
                    Param("ApiKey", "header", True),
                    Param("SOAPAction", "header", description='"" (ignored)'),
                ),
            ),
            Endpoint(
                "GET", ENDPOINT_PATH, self.wsdl, "The C06 SOAP face's WSDL (query ?wsdl)", tags=("c06-soap",),
                response_content_type="text/xml", response_schema={"type": "string"}, error_schema={"type": "string"},
                params=(Param("wsdl", required=True, schema={"enum": [""]}, description="present (empty): ?wsdl"),),
            ),
        ]

    # -- handlers ------------------------------------------------------------------------

    async def wsdl(self, request: Request) -> Response:
        """``GET /c06/CongDanService?wsdl``: the WSDL, its address this server's endpoint."""
        if request.scope["query_string"].lower() not in (b"wsdl", b"wsdl="):
            return _fault_response(SoapFault(400, "wsdl_only", "GET serves the WSDL only (?wsdl); "
                                             "operations are POSTed as SOAP 1.1", "wsdl"))
        try:
            address = _endpoint_url(request)
        except SoapFault as fault:
            return _fault_response(fault)
        document = self._wsdl.get(address)
        if document is None:
            if len(self._wsdl) > 64:  # one per Host header seen; a caller cannot grow it without bound
                self._wsdl.clear()
            document = self._wsdl[address] = wsdl_document(address)
        return Response(document, headers=_WSDL_HEADERS)

    async def call(self, request: Request) -> Response:
        """``POST /c06/CongDanService``: one operation call."""
        try:
            return await self._call(request)
        except SoapFault as fault:
            return _fault_response(fault)
        except ApiError as exc:
            return _fault_response(_fault_of(exc))

    async def _call(self, request: Request) -> Response:
        # The raw headers once, as a dict (names arrive lower-cased from the server): six
        # look-ups through Starlette's Headers would each scan the list again.
        headers = _header_dict(request)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type not in _XML_TYPES:
            raise SoapFault(415, "unsupported_media_type",
                            "Content-Type must be text/xml (SOAP 1.1) or application/xml", "Content-Type")
        caller = self._authenticate(request, headers)
        await self.service.admit(request, caller)
        message = read_request(await read_body(request, max_bytes=MAX_MESSAGE_BYTES),
                               allow_entities=self.allow_entities)
        if message.operation == LOOKUP:
            return _soap(lookup_answer(message.fields["MaYeuCau"], self._lookup(caller, message)))
        outcome = self.service.verify_claim(
            caller, message.fields["SoDinhDanh"], message.fields["HoVaTen"], _birth(message), message.purpose
        )
        return _soap(verify_answer(message.fields["MaYeuCau"], outcome.match))

    def _lookup(self, caller: Caller, message: SoapRequest) -> dict[str, object] | None:
        name = message.fields.get("HoVaTen") or None
        return self.service.lookup_view(caller, message.fields["SoDinhDanh"], message.purpose,
                                        full_name=name, birth=message.birth)

    # -- the caller ----------------------------------------------------------------------

    def _authenticate(self, request: Request, headers: dict[bytes, bytes]) -> Caller:
        timestamp = _text(headers.get(b"timestamp"))
        if not timestamp:
            raise _unauthorised("missing_header", "the Timestamp header is required (Unix time in ms)", "Timestamp")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16):
            raise _unauthorised("invalid_header", "Timestamp must be Unix time in milliseconds", "Timestamp")
        skew_s = abs(time.time() - int(timestamp) / 1000)
        if skew_s > TIMESTAMP_WINDOW_S:
            raise _unauthorised("stale_timestamp", f"Timestamp is {skew_s:.0f} s from the service's clock; "
                                f"at most {TIMESTAMP_WINDOW_S} s allowed", "Timestamp")
        authorization = _text(headers.get(b"authorization"))
        if not authorization:
            raise _unauthorised("missing_header", "the Authorization header is required "
                                "(Basic base64(user:sha256(url + user + Timestamp + secret)))", "Authorization")
        try:
            user, presented = parse_basic_authorization(authorization)
        except ValueError as exc:
            raise _unauthorised("invalid_header", str(exc), "Authorization") from None
        known = self._callers.get(user)
        if known is None:  # only registered clients get here past system(): the cache stays small
            system = self.service.clients.system(user[:64])  # 401 naming the client forms when unknown
            known = self._callers[user] = (self.service.caller_of_system(system.client_id), system.secret)
        caller, secret = known
        expected = auth_hash(_endpoint_url(request, headers), user, timestamp, secret)
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise _unauthorised("invalid_signature", f"Authorization's hash is wrong for client {user!r} "
                                "(sha256 of url + user + Timestamp + secret, lower-case hex)", "Authorization")
        x_road = _text(headers.get(b"x-road-client"))
        if not x_road or len(x_road) > 200:
            raise _unauthorised("missing_header", "the X-Road-Client header is required (1–200 characters)",
                                "X-Road-Client")
        if x_road.rsplit("/", 1)[-1] != user:
            raise SoapFault(403, "client_mismatch", f"X-Road-Client's subsystem must be the Authorization user {user!r}",
                            "X-Road-Client", legacy="106", headers={"X-Legacy-Code": "106"})
        api_key = headers.get(b"apikey")
        if not api_key or len(api_key) > 256:
            raise _unauthorised("missing_header", "the ApiKey header is required (1–256 characters)", "ApiKey")
        return caller


def _header_dict(request: Request) -> dict[bytes, bytes]:
    """The request's headers by lower-case name (a repeated header: its last value)."""
    return dict(request.scope["headers"])


def _text(value: bytes | None) -> str:
    """A header value as text (latin-1, as HTTP and Starlette read header bytes)."""
    return value.decode("latin-1") if value else ""


def _birth(message: SoapRequest) -> dt.date | int:
    birth = message.birth
    assert birth is not None  # verify requires NgayThangNamSinh (c06_messages._RULES)  # nosec B101
    return birth


def _endpoint_url(request: Request, headers: dict[bytes, bytes] | None = None) -> str:
    """The endpoint's URL as the caller addressed it (what the Authorization hash covers, and
    the WSDL's address): a Host header that is no ``host[:port]`` is refused, naming it."""
    scope = request.scope
    host = _text((headers if headers is not None else _header_dict(request)).get(b"host"))
    if host and authority_of_host(host) is None:
        raise SoapFault(400, "invalid_header", "the Host header must be host[:port]", "Host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope['scheme']}://{host}{scope['path']}"
