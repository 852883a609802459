"""The integration-adapter face's agencies and catalogue: what ``madonvi`` names, and the
look-ups ``LayDanhSachTTHC``, ``LayThuTuc`` and ``LayDanhMucCoQuan`` over the portal's own
catalogue (``mocks.portal.catalogue``) and readiness profile."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response

from kernel.roster import load_roster
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.portal.catalogue import Procedure, catalogue_of
from mocks.portal.dvcqg_form import ok_answer
from mocks.portal.dvcqg_models import DvcqgCall
from mocks.portal.service import Caller, Portal

__all__ = ["Unit", "units", "unit_named", "domain_code", "list_procedures", "procedure_detail", "list_agencies"]


class Unit(NamedTuple):
    """An agency ``madonvi`` names: a province's People's Committee or a commune's."""

    code: str
    name: str
    province: str
    commune: str | None  # None for the province itself


@cache
def units() -> dict[str, Unit]:
    """Every agency code of the roster: the provinces' and the communes' People's Committees."""
    roster = load_roster()
    units = {p.agency_code: Unit(p.agency_code, f"Ủy ban nhân dân {p.name}", p.code, None) for p in roster.provinces}
    for c in roster.communes:
        units[c.agency_code] = Unit(c.agency_code, f"Ủy ban nhân dân {c.name}", c.province_code, c.code)
    return units


def unit_named(madonvi: str) -> Unit:
    """The agency ``madonvi`` names (422 ``unknown_unit`` naming ``madonvi`` otherwise)."""
    unit = units().get(madonvi)
    if unit is None:
        raise ApiError(422, "unknown_unit", f"no agency has code {madonvi!r} (a province's 000.00.00.Hxx or a "
                                            "commune's Hxx.<commune code>)", "madonvi")  # fmt: skip
    return unit



@cache
def _domain_codes() -> dict[str, str]:
    domains = sorted({p.domain for p in catalogue_of(load_roster().provinces[0].code)})
    return {name: f"LV{n:02d}" for n, name in enumerate(domains, 1)}  # ours: the catalogue has no domain codes


def domain_code(p: Procedure) -> str:
    """``MaLinhVuc`` of a procedure's domain (ours: ``LV01``…, the catalogue has names only)."""
    return _domain_codes().get(p.domain, "")


def _published(request: Request, province: str) -> tuple[Procedure, ...]:
    return catalogue_of(province) if request.app.state.readiness.province(province).catalogue_published else ()


async def list_procedures(request: Request, portal: Portal, call: DvcqgCall, unit: Unit, caller: Caller | None) -> Response:
    """``LayDanhSachTTHC``: the catalogue of the province ``madonvi`` belongs to (empty while unpublished)."""
    await enter_scope(request, province=unit.province)
    agency = load_roster().province(unit.province).agency_code
    return ok_answer([{"MATTHC": p.code, "TENTTHC": p.name, "MALINHVUC": domain_code(p), "TENLINHVUC": p.domain,
                 "MACOQUANCONGBO": agency} for p in _published(request, unit.province)])  # fmt: skip


async def procedure_detail(request: Request, portal: Portal, call: DvcqgCall, unit: Unit, caller: Caller | None) -> Response:
    """``LayThuTuc``: one procedure by ``maTTHC`` (empty when unknown or unpublished)."""
    code = call.maTTHC or call.MaTTHC
    if not code:
        raise ApiError(422, "missing_field", "required field 'maTTHC' is missing", "maTTHC")
    owner = units().get(code.split(".", 2)[2]) if code.count(".") >= 2 else None
    if owner is None:
        return ok_answer([])
    await enter_scope(request, province=owner.province)
    p = next((p for p in _published(request, owner.province) if p.code == code), None)
    if p is None:
        return ok_answer([])
    fee = [{"MAPHILEPHI": f"LP.{p.code}", "SOTIEN": p.fee_vnd, "DONVI": "VNĐ", "MOTA": "Lệ phí"}] if p.fee_vnd else []
    return ok_answer([{
        "MATTHC": p.code, "TENTTHC": p.name, "MACOQUANCONGBO": owner.code,
        "LINHVUCTHUCHIEN": [{"MALINHVUC": domain_code(p), "TENLINHVUC": p.domain}],
        "CACHTHUCTHUCHIEN": [{"KENH": kenh, "THOIGIAN": [{"THOIGIANGIAIQUYET": p.processing_days,
                                                         "DONVITINH": "Ngày làm việc", "MOTA": "", "PHILEPHI": fee}]}
                             for kenh in (1, 2, 3)],
        "YEUCAU": "",
        "KETQUATHUCHIEN": [{"MAKETQUA": f"KQ.{p.code}", "TENKETQUA": f"Kết quả {p.name}"}],
        "CANCUPHAPLY": [],
        "TRANGTHAI": 1,
        "COQUANTHUCHIEN": [{"MADONVI": owner.code, "TENDONVI": owner.name}],
    }])  # fmt: skip


async def list_agencies(request: Request, portal: Portal, call: DvcqgCall, unit: Unit, caller: Caller | None) -> Response:
    """``LayDanhMucCoQuan``: the province's People's Committee and its communes'."""
    await enter_scope(request, province=unit.province)
    roster = load_roster()
    province = roster.province(unit.province)
    rows = [{"MADONVI": province.agency_code, "TENDONVI": f"Ủy ban nhân dân {province.name}", "CAPDONVI": "1"}]
    rows += [{"MADONVI": c.agency_code, "TENDONVI": f"Ủy ban nhân dân {c.name}", "CAPDONVI": "2"}
             for c in roster.communes_of(unit.province)]  # fmt: skip
    return ok_answer(rows)  # type: ignore[arg-type]  # a list of str dicts is a list of object dicts
