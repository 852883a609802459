"""Request bodies of the integration-adapter face (``/dvcqg/...``), field for field as the
public callers send them (``kernel.national.dvcqg`` has the sources).

Unknown keys are refused as on the portal's own API (``unknown_field`` naming the key), so a
caller's typo is an answer naming it, not a silently dropped field. Every scalar the callers
send is a string (``"LoaiDoiTuong": "1"``), dates are ``yyyyMMddHHmmss`` or empty.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

from kernel.national.dvcqg import SERVICES, parse_birth_date, parse_date
from mocks.core.http import RequestModel

__all__ = [
    "DvcqgLogin",
    "DvcqgCall",
    "HoSoMC",
    "TienDoHoSoMC",
    "ThongTinKhacIn",
    "MaHoSoText",
]

Text = Annotated[str, StringConstraints(max_length=1000)]
Short = Annotated[str, StringConstraints(max_length=255)]
#: A dossier number as callers write them (``H22.001-210615-0001``): printable, no spaces.
MaHoSoText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._/-]+$")]


def _date_or_empty(value: str) -> str:
    if value:
        parse_date(value)
    return value


def _birth_date(value: str) -> str:
    parse_birth_date(value)
    return value


#: ``yyyyMMddHHmmss`` in Vietnam time, or empty (the callers send "" for a date not set).
Date = Annotated[str, StringConstraints(max_length=14), AfterValidator(_date_or_empty),
                 Field(json_schema_extra={"pattern": r"^(\d{14})?$"})]  # fmt: skip


def _json_number(value: object) -> object:
    # The item is fingerprinted as sent (orjson, 64-bit integers): a larger number is the
    # caller's mistake, named here, not a failure of the fingerprint.
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("a whole number must fit in 64 bits")
    # The JSON parser reads NaN and Infinity (and 1e400 as Infinity), which JSON does not
    # have: a body holding one is malformed, refused here rather than acknowledged.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number must be finite (JSON has no NaN or Infinity)")
    return value


#: A list entry's value as the callers send it: text, a number, a flag, or null.
Scalar = Annotated[str | int | float | bool | None, AfterValidator(_json_number)]


class _Item(BaseModel):
    """A list entry of a dossier: the fields the callers name, each a scalar."""

    model_config = {"extra": "forbid", "str_max_length": 1000}


class TaiLieuNopItem(_Item):
    """A submitted document: an attachment the portal may fetch from ``DuongDanTaiTepTin`` (a URL)."""

    TepDinhKemId: Scalar = None
    TenTepDinhKem: Scalar = None
    IsDeleted: Scalar = None
    MaThanhPhanHoSo: Scalar = None
    DuongDanTaiTepTin: Scalar = None


class LePhi(_Item):
    """A fee line (the portal charges its catalogue's fee whatever the caller lists)."""

    TenPhiLePhi: Scalar = None
    MaPhiLePhi: Scalar = None
    HinhThucThu: Scalar = None
    Gia: Scalar = None
    LoaiPhiLePhi: Scalar = None


class TepDinhKemKhac(_Item):
    """Another paper handed in."""

    TenGiayTo: Scalar = None
    SoLuong: Scalar = None
    LoaiGiayTo: Scalar = None


class GiayToKetQua(_Item):
    """A result document."""

    TenGiayTo: Scalar = None
    MaThanhPhanHoSo: Scalar = None
    GiayToId: Scalar = None
    DuongDanTepTinKetQua: Scalar = None


class ThongTinKhacIn(RequestModel):
    """Ours: the applicant's date of birth, which the portal's identity check needs and the
    public callers' dossier has no field for (``ThongTinKhac`` is free "other information")."""

    NgaySinh: Annotated[str, StringConstraints(max_length=8), AfterValidator(_birth_date),
                        Field(json_schema_extra={"pattern": r"^\d{8}$"})]  # fmt: skip


class HoSoMC(RequestModel):
    """One ``DongBoHoSoMC`` item: a dossier as the one-stop system holds it."""

    MaHoSo: MaHoSoText
    MaTTHC: Annotated[str, StringConstraints(max_length=64)] = ""
    TenTTHC: Text = ""
    MaLinhVuc: Short = ""
    TenLinhVuc: Text = ""
    SoBienNhan: Short = ""
    ChuHoSo: Annotated[str, StringConstraints(max_length=100)] = ""
    LoaiDoiTuong: Literal["1", "2"] = "1"
    MaDoiTuong: Annotated[str, StringConstraints(max_length=64)] = ""
    ThongTinKhac: ThongTinKhacIn | Text = ""
    Email: Short = ""
    Fax: Short = ""
    SoDienThoai: Short = ""
    TrichYeuHoSo: Text = ""
    NgayTiepNhan: Date = ""
    NgayHenTra: Date = ""
    TrangThaiHoSo: Annotated[str, StringConstraints(max_length=2)] = ""
    NgayTra: Date = ""
    ThongTinTra: Text = ""
    HinhThuc: Literal["", "0", "1"] = ""
    NgayKetThucXuLy: Date = ""
    DonViXuLy: Text = ""
    GhiChu: Text = ""
    TaiLieuNop: list[TaiLieuNopItem] = Field(default_factory=list, max_length=50)
    DanhSachLePhi: list[LePhi] = Field(default_factory=list, max_length=50)
    DanhSachTepDinhKemKhac: list[TepDinhKemKhac] = Field(default_factory=list, max_length=50)
    DanhSachHoSoBoSung: list[dict[str, Scalar]] = Field(default_factory=list, max_length=50)
    DanhSachGiayToKetQua: list[GiayToKetQua] = Field(default_factory=list, max_length=50)


class TienDoHoSoMC(RequestModel):
    """One ``CapNhatTienDoHoSoMC`` item: a step in a dossier's processing."""

    MaHoSo: MaHoSoText
    NguoiXuLy: Short = ""
    ChucDanh: Short = ""
    ThoiDiemXuLy: Date = ""
    PhongBanXuLy: Short = ""
    NoiDungXuLy: Text = ""
    TrangThai: Annotated[str, StringConstraints(max_length=2)]
    NgayBatDau: Date = ""
    NgayKetThucTheoQuyDinh: Date = ""


class DvcqgLogin(RequestModel):
    """``POST /dvcqg/auth``: an account of the portal (officer account or personal ID number)."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class DvcqgCall(RequestModel):
    """``POST /dvcqg/integration`` and ``/dvcqg/share``: one call, dispatched on ``service``.

    ``data`` items are checked against the service's item model (:class:`HoSoMC`,
    :class:`TienDoHoSoMC`) so that an error names ``data[i].Field``.
    """

    session: Annotated[str, StringConstraints(max_length=4096)] | None = None
    madonvi: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # Declared as an enum so the OpenAPI document (and a fuzzer) names the services; checked
    # by the handler, so an unknown one is error code UNKNOWN_SERVICE naming the known ones.
    service: Annotated[str, StringConstraints(max_length=64), Field(json_schema_extra={"enum": list(SERVICES)})]
    isUpdating: StrictBool | Literal["True", "False", "true", "false"] | None = None
    data: list[dict[str, Any]] | None = Field(default=None, max_length=100)
    mahoso: Annotated[str, StringConstraints(max_length=64)] | None = None
    maTTHC: Annotated[str, StringConstraints(max_length=64)] | None = None  # as opencps spells it
    MaTTHC: Annotated[str, StringConstraints(max_length=64)] | None = None

    @property
    def updating(self) -> bool | None:
        """``isUpdating`` as a boolean (callers send ``true`` or the string ``"True"``)."""
        if self.isUpdating is None or isinstance(self.isUpdating, bool):
            return self.isUpdating
        return self.isUpdating.lower() == "true"
