"""The National Public Service Portal's integration-adapter shape (``dvcqg-adapter``):
what the portal mock's face and the target adapter must agree on.

Reconstructed from public callers, not from a published specification (sources:
``VietOpenCPS/opencps-v2``, ``DVCQGIntegrationActionImpl.java``; see
``mocks/portal/README.md``): a login ``{"username", "password"}`` with a ``dstcode``
header answers ``{"error_code": 0, "session"}``; every call is ``{"session", "madonvi",
"service", ...}`` and answers ``error_code`` (0 = OK) and ``result``; dates are
``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh.

What the callers do not show is ours, and kept here once:

* :data:`TRANG_THAI_HO_SO` — the values of ``TrangThaiHoSo`` / ``TrangThai``. The callers
  map their own statuses through a table and one provincial caller sends "1" (new), "2"
  and "10" (result returned); ours is the official dossier status code 1–10 written as a
  string, so "1" is *Mới đăng ký* and "10" *Đã trả kết quả*.
* :class:`ErrorCode` — the non-zero ``error_code`` values (the callers only test for 0).
* the paths under the mock's prefix (:data:`AUTH_PATH`, :data:`INTEGRATION_PATH`,
  :data:`SHARE_PATH`): the callers read the endpoints from their configuration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

__all__ = [
    "AUTH_PATH",
    "INTEGRATION_PATH",
    "SHARE_PATH",
    "DEFAULT_DSTCODE",
    "SERVICES",
    "WRITE_SERVICES",
    "PUBLIC_SERVICES",
    "TRANG_THAI_HO_SO",
    "VN_TIME",
    "DATE_FORMAT",
    "ErrorCode",
    "status_of_trang_thai",
    "trang_thai_of_status",
    "format_date",
    "parse_date",
    "format_birth_date",
    "parse_birth_date",
]

#: Where the portal mock serves the shape (ours: the callers configure these).
AUTH_PATH = "/dvcqg/auth"
INTEGRATION_PATH = "/dvcqg/integration"  # writes (and, as opencps sends them, LayThuTuc / TraCuuHoSo)
SHARE_PATH = "/dvcqg/share"  # look-ups

#: The ``dstcode`` header a caller sends: the destination's agency code. Ours: the
#: Government Office (which runs the national portal); the face checks its form only.
DEFAULT_DSTCODE = "000.00.00.G22"

WRITE_SERVICES = ("DongBoHoSoMC", "CapNhatTienDoHoSoMC")
#: Catalogue look-ups: public on the portal, so a call without a session is answered (ours).
PUBLIC_SERVICES = ("LayThuTuc", "LayDanhSachTTHC", "LayDanhMucCoQuan")
SERVICES = (*WRITE_SERVICES, "TraCuuHoSo", *PUBLIC_SERVICES)

VN_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_FORMAT = "%Y%m%d%H%M%S"  # yyyyMMddHHmmss

#: ``TrangThaiHoSo`` → official dossier status code (DOMAIN.md; ``mocks/portal/lifecycle.py``). Ours.
TRANG_THAI_HO_SO: Mapping[str, int] = MappingProxyType({
    "1": 1,  # Mới đăng ký — submitted
    "2": 2,  # Đã tiếp nhận — accepted
    "3": 3,  # Không được tiếp nhận — not accepted
    "4": 4,  # Đang xử lý — processing
    "5": 5,  # Yêu cầu bổ sung giấy tờ — more documents requested
    "6": 6,  # Yêu cầu thực hiện nghĩa vụ tài chính — fees/tax due
    "7": 7,  # Công dân yêu cầu rút hồ sơ — withdrawn by the applicant
    "8": 8,  # Dừng xử lý — processing stopped
    "9": 9,  # Đã có kết quả — result ready
    "10": 10,  # Đã trả kết quả — result returned
})  # fmt: skip
_TRANG_THAI_OF: Mapping[int, str] = MappingProxyType({v: k for k, v in TRANG_THAI_HO_SO.items()})


class ErrorCode(IntEnum):
    """Non-zero ``error_code`` values of the face (ours; the public callers only test for 0).

    Each answer in error also carries the HTTP status of the rule that refused it (the same
    status the portal's own API gives: 4xx for the caller's input, 503 with Retry-After
    while a dependency is down), a ``message`` naming the field and the ``field`` itself.
    """

    OK = 0
    INVALID_REQUEST = 1  # not JSON, not an object, wrong Content-Type, too large, bad header
    MISSING_FIELD = 2
    INVALID_FIELD = 3
    UNKNOWN_FIELD = 4
    UNKNOWN_SERVICE = 5
    LOGIN_FAILED = 10
    SESSION_INVALID = 11  # missing, expired, revoked or forged session: log in again
    ACCOUNT_LOCKED = 12  # 423 with Retry-After
    THROTTLED = 13  # 429 with Retry-After
    FORBIDDEN = 14  # the session may not do this (another commune's dossier, an officer's move)
    DOSSIER_NOT_FOUND = 20
    DOSSIER_EXISTS = 21  # DongBoHoSoMC isUpdating=false for a MaHoSo already synced
    ILLEGAL_TRANSITION = 22  # the status model has no such move (the native API's 409)
    UNKNOWN_UNIT = 23  # madonvi / commune unknown or abolished
    UNKNOWN_PROCEDURE = 24
    IDENTITY_MISMATCH = 25  # the applicant does not match the population register
    CONFLICT = 26  # another conflicting request (a payment pending, …)
    UNAVAILABLE = 30  # a dependency is down or the province is not connected (503, Retry-After)


def status_of_trang_thai(value: str) -> int:
    """The official status code of a ``TrangThaiHoSo`` value (ValueError naming the values)."""
    try:
        return TRANG_THAI_HO_SO[value]
    except (KeyError, TypeError):
        raise ValueError(f"{value!r} is not a TrangThaiHoSo value; expected one of "
                         + ", ".join(TRANG_THAI_HO_SO)) from None


def trang_thai_of_status(status: int) -> str:
    """The ``TrangThaiHoSo`` value of an official status code."""
    return _TRANG_THAI_OF[status]


def format_date(moment: dt.datetime) -> str:
    """``yyyyMMddHHmmss`` in Vietnam time (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN_TIME).strftime(DATE_FORMAT)


def parse_date(text: str) -> dt.datetime:
    """A ``yyyyMMddHHmmss`` Vietnam-time stamp as an aware datetime (ValueError otherwise)."""
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        raise ValueError(f"{text!r} is not a date in the form yyyyMMddHHmmss")
    try:
        return dt.datetime.strptime(text, DATE_FORMAT).replace(tzinfo=VN_TIME)
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the form yyyyMMddHHmmss") from None


def format_birth_date(day: dt.date) -> str:
    """A date of birth as ``yyyyMMdd`` (the population shape's ``NgayThangNam``)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def parse_birth_date(text: str) -> dt.date:
    """A ``yyyyMMdd`` date of birth (ValueError otherwise)."""
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise ValueError(f"{text!r} is not a date in the form yyyyMMdd")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the form yyyyMMdd") from None
