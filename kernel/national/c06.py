"""The population database's SOAP shape (protocol ``c06-soap``): what the mock's face and
the target adapter must agree on, written once.

Reconstructed from public callers (``/work/shared/NATIONAL-INTERFACES.md`` §3; the
sources are listed in ``mocks/population/README.md``):

* namespace ``http://dancuquocgia.bca``, document/literal SOAP 1.1, ``SOAPAction: ""``;
* operations ``TraCuuThongTinCongDan`` (``MaTichHop`` 037, look-up) and
  ``XacThucThongTinCongDan`` (``MaTichHop`` 003, verify);
* request fields ``MaYeuCau, MaDVC, MaTichHop, MaCanBo, MaDonVi, TaiKhoan, SoDienThoai,
  SoDinhDanh, HoVaTen, NgayThangNamSinh{NgayThangNam (yyyyMMdd) | Nam (yyyy)}``;
* headers ``Timestamp`` (Unix time in milliseconds, as a public C# caller sends it),
  ``Authorization: Basic base64(user:sha256hex(url + user + timestamp + secret))``
  (lower-case hex, as that caller computes it), ``X-Road-Client``, ``ApiKey``.

Ours (no public caller shows them): the answers (``MaYeuCau`` echoed, ``TonTai``, and for a
look-up the citizen as ``CongDan``), the fault detail ``Loi{MaLoi, PhanTu, MoTaLoi,
MaLoiTichHop}``, the citizen's element names (:data:`CITIZEN_ELEMENTS`), the sex codes
(:data:`SEX_CODES`) and which ``url`` the hash covers: the endpoint URL the caller posts to
(the public caller hashes a configured "authentication URL"; dientap hashes the endpoint).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "C06_NS",
    "SOAP_ENV_NS",
    "ENDPOINT_PATH",
    "OPERATIONS",
    "LOOKUP",
    "VERIFY",
    "REQUEST_FIELDS",
    "CITIZEN_ELEMENTS",
    "SEX_CODES",
    "WSDL_PLACEHOLDER_ADDRESS",
    "auth_hash",
    "basic_authorization",
    "signed_url",
    "authority_of_host",
    "parse_basic_authorization",
    "format_birth_date",
    "parse_birth_date",
    "wsdl_path",
    "wsdl_document",
]

C06_NS = "http://dancuquocgia.bca"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"

#: Where the face listens, under the population mock (the WSDL at ``ENDPOINT_PATH?wsdl``).
ENDPOINT_PATH = "/c06/CongDanService"

LOOKUP = "TraCuuThongTinCongDan"
VERIFY = "XacThucThongTinCongDan"
#: Operation → its ``MaTichHop`` (integration code).
OPERATIONS: dict[str, str] = {LOOKUP: "037", VERIFY: "003"}

#: The request's child elements, in the order the public callers send them.
REQUEST_FIELDS = (
    "MaYeuCau", "MaDVC", "MaTichHop", "MaCanBo", "MaDonVi", "TaiKhoan", "SoDienThoai",
    "SoDinhDanh", "HoVaTen", "NgayThangNamSinh",
)

#: OURS: the native face's citizen fields → the elements of ``CongDan`` (a birth date and a
#: birth year both travel in ``NgayThangNamSinh``, as ``NgayThangNam`` or ``Nam``).
CITIZEN_ELEMENTS: dict[str, str] = {
    "personal_id": "SoDinhDanh",
    "full_name": "HoVaTen",
    "date_of_birth": "NgayThangNamSinh/NgayThangNam",
    "birth_year": "NgayThangNamSinh/Nam",
    "sex": "GioiTinh",
    "address": "ThuongTru",
    "commune_code": "MaXa",
    "province_code": "MaTinh",
}

#: OURS: the native face's ``sex`` values → ``GioiTinh`` codes.
SEX_CODES: dict[str, str] = {"male": "1", "female": "2"}

#: The address written in the packaged WSDL; the mock serves it with its own.
WSDL_PLACEHOLDER_ADDRESS = "http://localhost/c06/CongDanService"


_DEFAULT_PORTS = {"http": 80, "https": 443}
# A Host header's authority: a name or IPv4 address, or an IPv6 address in brackets, and a port.
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def signed_url(base_url: str) -> str:
    """The endpoint's URL as the hash covers it: the scheme, the authority as an HTTP client
    puts it in the ``Host`` header (the host lower-cased, the scheme's default port left
    out), the base URL's path and :data:`ENDPOINT_PATH` — the URL the mock rebuilds from the
    request, so ``http://LOCALHOST:80/`` and ``http://localhost/`` sign alike."""
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path.rstrip('/')}{ENDPOINT_PATH}"


def authority_of_host(header: str) -> str | None:
    """A ``Host`` header's value if it is an authority (``host[:port]``), else None: the
    mock puts it into the URL it hashes and into the WSDL's address."""
    return header if _AUTHORITY.fullmatch(header) else None


def auth_hash(url: str, user: str, timestamp: str, secret: str) -> str:
    """``sha256(url + user + timestamp + secret)`` as lower-case hex (reconstructed)."""
    return hashlib.sha256(f"{url}{user}{timestamp}{secret}".encode()).hexdigest()


def basic_authorization(url: str, user: str, timestamp: str, secret: str) -> str:
    """The ``Authorization`` header value: ``Basic base64(user:hash)``."""
    token = base64.b64encode(f"{user}:{auth_hash(url, user, timestamp, secret)}".encode()).decode("ascii")
    return f"Basic {token}"


def parse_basic_authorization(header: str) -> tuple[str, str]:
    """``(user, hash)`` of a ``Basic`` header; ValueError naming what is wrong."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise ValueError("Authorization must be 'Basic base64(user:hash)'")
    try:
        plain = binascii.a2b_base64(token.strip().encode("ascii"), strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        raise ValueError("Authorization's credentials are not base64 of UTF-8 'user:hash'") from None
    user, colon, digest = plain.partition(":")
    if not colon or not user or not digest:
        raise ValueError("Authorization's credentials must be 'user:hash'")
    return user, digest


def format_birth_date(date: dt.date) -> str:
    """``yyyyMMdd``."""
    return f"{date.year:04d}{date.month:02d}{date.day:02d}"


def parse_birth_date(text: str) -> dt.date:
    """A ``yyyyMMdd`` date; ValueError if it is not one."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise ValueError(f"expected yyyyMMdd (8 digits), got {text[:20]!r}")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def wsdl_path() -> Path:
    """The packaged WSDL file (its address is :data:`WSDL_PLACEHOLDER_ADDRESS`)."""
    return Path(str(resources.files("kernel.national").joinpath("c06.wsdl")))


def wsdl_document(address: str) -> bytes:
    """The WSDL with ``address`` as the service's ``soap:address`` location.

    ``address`` must already be XML-safe (a URL without ``"``, ``<``, ``&``): the mock
    builds it from a Host header that :func:`authority_of_host` accepted.
    """
    text = wsdl_path().read_text(encoding="utf-8")
    return text.replace(f'location="{WSDL_PLACEHOLDER_ADDRESS}"', f'location="{address}"').encode("utf-8")
