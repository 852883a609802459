"""The C06 SOAP face's messages: reading a request envelope, writing answers and faults.

Reading goes through the kernel's hardened parser (:func:`kernel.safe_xml.parse_untrusted`:
no DTD, no entities, no network, size and depth limits — the axis's rules), then walks the
few levels of a SOAP 1.1 envelope by hand. No maintained library fits the server side: the
SOAP servers for Python (spyne) bring their own application model and would sit between
the request and the population service; zeep is a client. What is read is small and fixed
(one operation element, ten leaf fields), so the walk is short and every refusal names the
element (:class:`SoapFault`).

Answers are written from templates, escaping every value: an answer is a handful of
elements, and building a tree to serialise it would cost more than the look-up.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from kernel.national.c06 import (
    C06_NS,
    CITIZEN_ELEMENTS,
    LOOKUP,
    OPERATIONS,
    REQUEST_FIELDS,
    SEX_CODES,
    SOAP_ENV_NS,
    VERIFY,
    format_birth_date,
    parse_birth_date,
)
from kernel.safe_xml import UnsafeXml, nests_deeper_than, parse_untrusted

__all__ = [
    "SoapFault",
    "SoapRequest",
    "MAX_MESSAGE_BYTES",
    "MAX_DEPTH",
    "read_request",
    "lookup_answer",
    "verify_answer",
    "fault_body",
]

#: A request is a dozen short fields: 64 KiB leaves room for any SOAP header a gateway adds.
MAX_MESSAGE_BYTES = 64 * 1024
#: Envelope › Body › operation › field › date part is five levels; headers get a few more.
MAX_DEPTH = 12

_ENVELOPE = f"{{{SOAP_ENV_NS}}}Envelope"
_BODY = f"{{{SOAP_ENV_NS}}}Body"
_HEADER = f"{{{SOAP_ENV_NS}}}Header"
_FIELD_TAGS = {f"{{{C06_NS}}}{name}": name for name in REQUEST_FIELDS}
_OPERATION_TAGS = {f"{{{C06_NS}}}{name}": name for name in OPERATIONS}
_DATE_TAG = f"{{{C06_NS}}}NgayThangNam"
_YEAR_TAG = f"{{{C06_NS}}}Nam"

# Field → (required by lookup, required by verify, maximum length).
_RULES: dict[str, tuple[bool, bool, int]] = {
    "MaYeuCau": (True, True, 64),
    "MaDVC": (True, True, 64),
    "MaTichHop": (True, True, 8),
    "MaCanBo": (True, True, 64),
    "MaDonVi": (True, True, 64),
    "TaiKhoan": (False, False, 64),
    "SoDienThoai": (False, False, 20),
    "SoDinhDanh": (True, True, 64),
    "HoVaTen": (False, True, 200),
    "NgayThangNamSinh": (False, True, 8),
}
_REQUIRED = {
    operation: tuple(name for name, (for_lookup, for_verify, _) in _RULES.items()
                     if (for_verify if operation == VERIFY else for_lookup))
    for operation in OPERATIONS
}
_LONGEST = {name: longest for name, (_, _, longest) in _RULES.items()}
_XML_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class SoapFault(Exception):
    """Refuse a request with a SOAP 1.1 Fault.

    ``status`` is the HTTP status (4xx for the caller's mistakes: see the README for why
    not SOAP 1.1's usual 500), ``code`` a snake_case rule (the native face's codes where
    one exists), ``element`` the element or header at fault, ``legacy`` the integration
    guides' error number when one applies, ``headers`` extra response headers.
    """

    def __init__(self, status: int, code: str, message: str, element: str | None = None, *,
                 legacy: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.element = element
        self.legacy = legacy
        self.headers = headers or {}

    @property
    def faultcode(self) -> str:
        """``Client`` for the caller's mistakes, ``Server`` when the service cannot answer now."""
        return "soapenv:Server" if self.status >= 500 else "soapenv:Client"


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """One operation call, read and checked."""

    operation: str
    fields: dict[str, str]
    birth: dt.date | int | None  # NgayThangNamSinh: a date (NgayThangNam), a year (Nam), or absent

    @property
    def purpose(self) -> str:
        """What the audit records as the purpose: service code, request id and officer."""
        return f"{self.fields['MaDVC']}/{self.fields['MaYeuCau']}/{self.fields['MaCanBo']}"


def _invalid(element: str, message: str, code: str = "invalid_field") -> SoapFault:
    return SoapFault(400, code, message, element, legacy="302")


def _local(node: etree._Element) -> str:
    """The local name of an element (for messages; any other node is '?')."""
    tag = node.tag
    return tag.rpartition("}")[2][:60] if isinstance(tag, str) else "?"


def _birth(element: etree._Element) -> dt.date | int:
    if len(element) != 1 or (element.text or "").strip():
        raise _invalid("NgayThangNamSinh", "NgayThangNamSinh must hold exactly one of NgayThangNam (yyyyMMdd) or Nam (yyyy)")
    part = element[0]
    tag = part.tag
    if (part.tail or "").strip():
        raise _invalid("NgayThangNamSinh", "NgayThangNamSinh must hold exactly one of NgayThangNam (yyyyMMdd) or Nam (yyyy)")
    if tag != _DATE_TAG and tag != _YEAR_TAG:
        raise _invalid("NgayThangNamSinh", "NgayThangNamSinh must hold exactly one of NgayThangNam (yyyyMMdd) or Nam (yyyy)")
    name = "NgayThangNamSinh/NgayThangNam" if tag == _DATE_TAG else "NgayThangNamSinh/Nam"
    if len(part):
        raise _invalid(name, f"{name} must hold text, not elements")
    text = (part.text or "").strip()
    if tag == _DATE_TAG:
        try:
            return parse_birth_date(text)
        except ValueError as exc:
            raise _invalid(name, f"NgayThangNam must be a date as yyyyMMdd: {exc}") from None
    if len(text) != 4 or not (text.isascii() and text.isdigit()) or text < "1800":
        raise _invalid(name, f"Nam must be a year as yyyy (1800 or later), got {text[:20]!r}")
    return int(text)


def read_request(data: bytes, *, allow_entities: bool = False) -> SoapRequest:
    """The operation call in ``data``, or a :class:`SoapFault` naming what is wrong.

    The depth limit (:data:`MAX_DEPTH`) costs nothing on the common path: the walk itself
    bounds the Body (an operation of leaf fields, one of them holding one leaf), so only a
    non-empty Header is measured, and the whole document only when the walk refuses it —
    hostile nesting is then reported as ``too_deep`` rather than as the first element out
    of place.
    """
    try:
        root = parse_untrusted(data, what="a SOAP message", max_bytes=MAX_MESSAGE_BYTES, allow_entities=allow_entities)
    except UnsafeXml as exc:
        raise SoapFault(413 if exc.code == "too_large" else 400, exc.code, exc.message, None) from None
    try:
        return _walk(root)
    except SoapFault:
        if nests_deeper_than(root, MAX_DEPTH):
            raise _too_deep() from None
        raise


def _too_deep() -> SoapFault:
    return SoapFault(400, "too_deep", f"a SOAP message nests deeper than {MAX_DEPTH} levels", None)


def _holds_text(text: str | None) -> bool:
    """Whether a node's text or tail is more than whitespace (indentation between elements)."""
    return bool(text and not text.isspace())


def _walk(root: etree._Element) -> SoapRequest:
    """Read the envelope (written for the common case: one pass over each level, no
    intermediate lists; the parser drops comments and processing instructions and refuses
    entity references, so every child is an element)."""
    if root.tag != _ENVELOPE:
        raise SoapFault(400, "missing_element", f"the root element must be Envelope in namespace {SOAP_ENV_NS} "
                        "(SOAP 1.1)", "Envelope")
    if _holds_text(root.text):
        raise _invalid("Envelope", "Envelope holds a Header and a Body, not text")
    body = None
    for child in root:
        tag = child.tag
        if _holds_text(child.tail):
            raise _invalid("Envelope", "Envelope holds a Header and a Body, not text")
        if tag == _BODY and body is None:
            body = child
        elif tag != _HEADER:
            body = None
            break
        elif len(child) and nests_deeper_than(child, MAX_DEPTH - 1):
            raise _too_deep()
    if body is None:
        raise SoapFault(400, "missing_element", "Envelope must hold one Body (and at most a Header)", "Body")
    if len(body) != 1:
        raise SoapFault(400, "missing_element", "Body must hold exactly one operation element", "Body")
    call = body[0]
    if _holds_text(body.text) or _holds_text(call.tail):  # SOAP 1.1 §4.3: the Body's entries are elements
        raise _invalid("Body", "Body holds the operation element, not text")
    operation = _OPERATION_TAGS.get(call.tag)  # type: ignore[arg-type]  # a non-element's tag is no key
    if operation is None:
        called = _local(call)
        raise SoapFault(400, "unknown_operation",
                        f"unknown operation {called!r}; this service has {', '.join(OPERATIONS)} "
                        f"in namespace {C06_NS}", called)
    fields: dict[str, str] = {}
    birth: dt.date | int | None = None
    for child in call:
        name = _FIELD_TAGS.get(child.tag)  # type: ignore[arg-type]  # a non-element's tag is no key
        if name is None:
            local = _local(child)
            raise _invalid(local, f"unknown element {local!r} in {operation}; its fields are "
                           f"{', '.join(REQUEST_FIELDS)} (namespace {C06_NS})", "unknown_field")
        if name in fields:
            raise _invalid(name, f"{name} appears more than once")
        tail = child.tail
        if tail and not tail.isspace():  # text between the fields, as before the first one
            raise _invalid(operation, f"{operation} holds elements, not text")
        if name == "NgayThangNamSinh":
            birth = _birth(child)
            fields[name] = ""
            continue
        if len(child):
            raise _invalid(name, f"{name} must hold text, not elements")
        text = child.text
        fields[name] = text.strip() if text else ""
    if (call.text or "").strip():
        raise _invalid(operation, f"{operation} holds elements, not text")
    _check_fields(operation, fields)
    return SoapRequest(operation, fields, birth)


def _check_fields(operation: str, fields: dict[str, str]) -> None:
    for name in _REQUIRED[operation]:
        value = fields.get(name)
        if value is None:
            raise SoapFault(400, "missing_field", f"{operation} needs {name}", name, legacy="302")
        if not value and name != "NgayThangNamSinh":
            raise _invalid(name, f"{name} must be 1–{_LONGEST[name]} characters")
    for name, value in fields.items():
        if len(value) > _LONGEST[name]:
            raise _invalid(name, f"{name} must be 1–{_LONGEST[name]} characters")
    code = OPERATIONS[operation]
    if fields["MaTichHop"] != code:
        raise _invalid("MaTichHop", f"MaTichHop of {operation} is {code}, got {fields['MaTichHop'][:8]!r}")


# -- answers ---------------------------------------------------------------------------

_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:dc="{C06_NS}"><soapenv:Body>'
)
_CLOSE = "</soapenv:Body></soapenv:Envelope>"


def _text(value: object) -> str:
    return escape(_XML_UNSAFE.sub("\ufffd", str(value)))


def verify_answer(request_id: str, match: bool) -> bytes:
    """``XacThucThongTinCongDanResponse``: the request id and ``TonTai`` — nothing else."""
    return (
        f"{_OPEN}<dc:{VERIFY}Response><dc:MaYeuCau>{_text(request_id)}</dc:MaYeuCau>"
        f"<dc:TonTai>{'true' if match else 'false'}</dc:TonTai></dc:{VERIFY}Response>{_CLOSE}"
    ).encode()


# The order of CongDan's elements in the schema.
_CITIZEN_ORDER = ("SoDinhDanh", "HoVaTen", "NgayThangNamSinh", "GioiTinh", "ThuongTru", "MaXa", "MaTinh")


def _citizen(view: dict[str, object]) -> str:
    out: dict[str, str] = {}
    for name, value in view.items():
        if value is None:
            continue
        if name == "date_of_birth":
            born = format_birth_date(dt.date.fromisoformat(str(value)))
            out["NgayThangNamSinh"] = f"<dc:NgayThangNamSinh><dc:NgayThangNam>{born}</dc:NgayThangNam></dc:NgayThangNamSinh>"
        elif name == "birth_year":  # a role that sees the year only; the full date wins if both are seen
            year = f"<dc:Nam>{int(str(value)):04d}</dc:Nam>"
            out.setdefault("NgayThangNamSinh", f"<dc:NgayThangNamSinh>{year}</dc:NgayThangNamSinh>")
        elif name == "sex":
            out["GioiTinh"] = f"<dc:GioiTinh>{SEX_CODES.get(str(value), '0')}</dc:GioiTinh>"
        else:
            element = CITIZEN_ELEMENTS.get(name)
            if element is not None:
                out[element] = f"<dc:{element}>{_text(value)}</dc:{element}>"
    return "".join(out[element] for element in _CITIZEN_ORDER if element in out)


def lookup_answer(request_id: str, view: dict[str, object] | None) -> bytes:
    """``TraCuuThongTinCongDanResponse``: ``TonTai`` and, when found, the citizen as the
    caller's role may see it (``CongDan``)."""
    found = view is not None
    citizen = f"<dc:CongDan>{_citizen(view)}</dc:CongDan>" if view is not None else ""
    return (
        f"{_OPEN}<dc:{LOOKUP}Response><dc:MaYeuCau>{_text(request_id)}</dc:MaYeuCau>"
        f"<dc:TonTai>{'true' if found else 'false'}</dc:TonTai>{citizen}</dc:{LOOKUP}Response>{_CLOSE}"
    ).encode()


def fault_body(fault: SoapFault) -> bytes:
    """The SOAP 1.1 Fault of ``fault``, its detail an ``dc:Loi`` (ours)."""
    element = f"<dc:PhanTu>{_text(fault.element)}</dc:PhanTu>" if fault.element else ""
    legacy = f"<dc:MaLoiTichHop>{_text(fault.legacy)}</dc:MaLoiTichHop>" if fault.legacy else ""
    return (
        f"{_OPEN}<soapenv:Fault><faultcode>{fault.faultcode}</faultcode>"
        f"<faultstring>{_text(fault.message)}</faultstring><detail><dc:Loi><dc:MaLoi>{_text(fault.code)}</dc:MaLoi>"
        f"{element}<dc:MoTaLoi>{_text(fault.message)}</dc:MoTaLoi>{legacy}</dc:Loi></detail></soapenv:Fault>{_CLOSE}"
    ).encode()
