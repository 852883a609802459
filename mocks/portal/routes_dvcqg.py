"""The integration-adapter face (``dvcqg-adapter``): the portal as one-stop systems reach it
through the LGSP/NGSP adapter, over the same store, rules, faults, metrics and ledger.

``POST /dvcqg/auth`` signs in (``{"username", "password"}`` + ``dstcode`` header) and answers
``{"error_code": 0, "session"}``; ``POST /dvcqg/integration`` and ``POST /dvcqg/share`` take
``{"session", "madonvi", "service", ...}`` and dispatch on ``service`` (both accept every
service: opencps sends ``LayThuTuc`` and ``TraCuuHoSo`` to its integration endpoint and the
catalogue look-ups to its share endpoint). Field names and the shape come from the public
callers (``kernel.national.dvcqg``); what is ours is said where it is done.

Nothing here decides a business rule: a synced dossier is checked and stored by the same
:func:`~mocks.portal.routes_dossiers.create_dossier` as ``POST /dossiers`` (identity check,
catalogue, readiness, group commit, ledger), moved by the same
:func:`~mocks.portal.routes_dossiers.apply_transition`, and signed in by the same
:func:`~mocks.portal.routes_auth.sign_in` (lockout, stuffing tarpit, readiness).

Identity of a synced dossier: the caller's ``MaHoSo`` is its key, in the namespace of whoever
numbers it (:func:`_scope`): a commune's desk (its officers) or one citizen. The first
``DongBoHoSoMC`` with ``isUpdating=false`` stores the dossier under a portal code (given back
as ``SoBienNhan``) and keeps ``MaHoSo → code`` as the idempotency record of that key, so a
re-sent item is recognised — answered ``DOSSIER_EXISTS``, never stored twice — even when two
copies race. Nobody can take a number in another's namespace, or learn that it is used. A
dossier submitted on the portal's own API is known here by its code, as ``MaHoSo`` and
``SoBienNhan`` both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from kernel.national.dvcqg import (
    PUBLIC_SERVICES,
    SERVICES,
    format_birth_date,
    format_date,
    status_of_trang_thai,
    trang_thai_of_status,
)
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import read_json
from mocks.portal.catalogue import find_procedure
from mocks.portal.dvcqg_catalogue import Unit, domain_code, list_agencies, list_procedures, procedure_detail, unit_named
from mocks.portal.dvcqg_form import check_dstcode, error_body, face_error, in_face_form, ok_answer, validate_item
from mocks.portal.dvcqg_models import DvcqgCall, DvcqgLogin, HoSoMC, TaiLieuNopItem, ThongTinKhacIn, TienDoHoSoMC
from mocks.portal.idempotency import fingerprint
from mocks.portal.models import CitizenLogin, OfficerLogin, SubmitDossier
from mocks.portal.receiving_units import receiving_unit_name
from mocks.portal.routes_auth import sign_in
from mocks.portal.routes_dossiers import apply_transition, create_dossier, visible_dossier
from mocks.portal.service import Caller, Portal, portal_of
from mocks.portal.store import DossierRow

__all__ = ["dvcqg_login", "dvcqg_call"]

#: Idempotency scope of ``MaHoSo`` keys, before a namespace (:func:`_scope`) is added.
#: Dossiers synced before namespaces (2026-12-07) keep their key in this bare scope.
_SCOPE = "dvcqg:MaHoSo"
_PORTAL_CODE = re.compile(r"\d{5}-\d{6}-\d{6}")

# --- sign-in ---------------------------------------------------------------------------


@in_face_form
async def dvcqg_login(request: Request) -> Response:
    """Sign in with a portal account: an officer account, or a citizen's personal ID number."""
    check_dstcode(request)
    login = await read_json(request, DvcqgLogin)
    account: CitizenLogin | OfficerLogin
    if len(login.username) == 12 and login.username.isascii() and login.username.isdigit():
        try:
            account = CitizenLogin(kind="citizen", personal_id=login.username, password=login.password)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise ApiError(422, "invalid_personal_id", f"username: {reason}", "username") from None
    else:
        account = OfficerLogin(kind="officer", account=login.username, password=login.password)
    signed = await sign_in(request, account)
    return ok_answer(session=signed.token, expires_in=signed.expires_in)


# --- units (madonvi) -------------------------------------------------------------------


# --- calls -----------------------------------------------------------------------------


@in_face_form
async def dvcqg_call(request: Request) -> Response:
    """One call of the integration adapter, dispatched on ``service``."""
    check_dstcode(request)
    call = await read_json(request, DvcqgCall)
    handler = _HANDLERS.get(call.service)
    if handler is None:
        raise ApiError(422, "unknown_service",
                       f"service {call.service!r} is not known; known: {', '.join(SERVICES)}", "service")  # fmt: skip
    portal = portal_of(request)
    caller = _session_caller(request, portal, call.session, required=call.service not in PUBLIC_SERVICES)
    return await handler(request, portal, call, unit_named(call.madonvi), caller)


def _session_caller(request: Request, portal: Portal, session: str | None, *, required: bool) -> Caller | None:
    if not session:
        if required:
            raise ApiError(401, "missing_session", "a session is required: log in at /dvcqg/auth first", "session")
        return None
    try:
        claims = portal.tokens.verify(session)
    except ApiError as err:
        raise ApiError(401, "invalid_token", f"{err.message}: log in again", "session") from None
    caller = Caller(claims["sub"], claims.get("role", ""), claims.get("commune"), claims.get("province"),
                    claims["jti"], claims["exp"])  # fmt: skip
    if caller.commune:
        portal.record_peer(request, caller.commune)
    return caller


def _items(call: DvcqgCall) -> list[dict[str, Any]]:
    if call.data is None:
        raise ApiError(422, "missing_field", "required field 'data' is missing", "data")
    if not call.data:
        raise ApiError(422, "invalid_field", "data must hold at least one item", "data")
    return call.data


async def _batch(
    call: DvcqgCall, apply: Callable[[dict[str, Any], str], Awaitable[dict[str, object]]]
) -> Response:
    """Apply each item on its own (a failed item undoes no other); answer every item's outcome.

    All applied: ``error_code`` 0. Otherwise the first failure's code, status and headers,
    with ``result`` listing each item (ours: the callers send one item, or test only 0).
    """
    result: list[dict[str, object]] = []
    first: ApiError | None = None
    for index, raw in enumerate(_items(call)):
        prefix = f"data[{index}]"
        try:
            outcome = await apply(raw, prefix)
            result.append({**outcome, "error_code": 0})
        except ApiError as err:
            first = first or err
            mahoso = raw.get("MaHoSo")
            result.append({"MaHoSo": mahoso if isinstance(mahoso, str) else None, **error_body(err)})
    return ok_answer(result) if first is None else face_error(first, result)


def _officer_of(caller: Caller, unit: Unit) -> None:
    if caller.is_officer and caller.commune != unit.commune:
        raise ApiError(403, "unit_not_yours",
                       f"an officer of commune {caller.commune} syncs for that commune only", "madonvi")  # fmt: skip


# Native field → this face's field, for refusals raised by the shared rules.
_FIELD_OF = {"procedure_code": "MaTTHC", "applicant": "MaDoiTuong", "applicant.personal_id": "MaDoiTuong",
             "applicant.full_name": "ChuHoSo", "applicant.date_of_birth": "ThongTinKhac.NgaySinh",
             "attachments": "TaiLieuNop"}  # fmt: skip
_ATTACHMENT_FIELD = re.compile(r"attachments\[(\d+)\](?:\.(url|name))?")
_ATTACHMENT_PART = {"url": ".DuongDanTaiTepTin", "name": ".TenTepDinhKem", None: ""}
# Dossier fields kept with the dossier (the portal's ``fields``), given back by TraCuuHoSo.
_KEPT = ("MaHoSo", "TrichYeuHoSo", "SoDienThoai", "Email", "Fax", "HinhThuc", "GhiChu", "DonViXuLy", "NgayTiepNhan")


def _renamed(err: ApiError, prefix: str, attached: list[tuple[int, TaiLieuNopItem]]) -> ApiError:
    """A refusal of the portal's own rules, naming this face's field instead of the native one
    (``attachments[k].url`` → ``TaiLieuNop[j].DuongDanTaiTepTin``, ``j`` the item's own index)."""
    native = err.field or ""
    attachment = _ATTACHMENT_FIELD.fullmatch(native)
    if native == "commune_code":
        field = "madonvi"
    elif native in _FIELD_OF:
        field = f"{prefix}.{_FIELD_OF[native]}"
    elif attachment is not None and int(attachment[1]) < len(attached):
        field = f"{prefix}.TaiLieuNop[{attached[int(attachment[1])][0]}]{_ATTACHMENT_PART[attachment[2]]}"
    elif native.startswith("fields."):  # the kept scalar fields, under their own names
        field = f"{prefix}.{native.removeprefix('fields.')}"
    else:
        return err
    message = err.message.replace(native, field) if native else err.message
    return ApiError(err.status, err.code, message, field, err.headers, err.extra)


def _exists(mahoso: str, prefix: str) -> ApiError:
    return ApiError(409, "dossier_exists", f"dossier {mahoso!r} was already synced; send isUpdating=true to update it",
                    f"{prefix}.MaHoSo")  # fmt: skip


def _scope(caller: Caller) -> str:
    """The namespace of the ``MaHoSo`` numbers ``caller`` gives (ours): a one-stop system numbers
    its desk's dossiers, so an officer's are their commune's (every officer of it sees them);
    a citizen's own filings are theirs alone."""
    return f"{_SCOPE}:{caller.commune}" if caller.is_officer else f"{_SCOPE}:{caller.subject}"


def _taken(portal: Portal, caller: Caller, unit: Unit, mahoso: str, prefix: str) -> ApiError:
    """A new dossier whose ``MaHoSo`` is already a key in the caller's namespace: ``_exists``
    when the caller may see that dossier (always, but for a planted weakness), else the same
    code without a word about it."""
    if _resolve(portal, caller, unit, mahoso) is not None:
        return _exists(mahoso, prefix)
    return ApiError(409, "dossier_exists", f"MaHoSo {mahoso!r} is already taken; number the dossier anew",
                    f"{prefix}.MaHoSo")  # fmt: skip


async def _sync_dossiers(request: Request, portal: Portal, call: DvcqgCall, unit: Unit, caller: Caller | None) -> Response:
    assert caller is not None  # a write needs a session (checked before dispatch)  # nosec B101
    updating = call.updating
    if updating is None:
        raise ApiError(422, "missing_field", "required field 'isUpdating' is missing (false: new, true: update)",
                       "isUpdating")  # fmt: skip
    _officer_of(caller, unit)

    async def apply(raw: dict[str, Any], prefix: str) -> dict[str, object]:
        item = validate_item(HoSoMC, raw, prefix)
        if updating:
            return await _update_dossier(request, portal, caller, unit, item, prefix)
        return await _new_dossier(request, portal, caller, unit, item, raw, prefix)

    return await _batch(call, apply)


async def _new_dossier(
    request: Request, portal: Portal, caller: Caller, unit: Unit, item: HoSoMC, raw: dict[str, Any], prefix: str
) -> dict[str, object]:
    if unit.commune is None:
        raise ApiError(422, "unknown_unit", "a dossier is filed at a commune: madonvi must be a commune's code "
                                            "(Hxx.<commune code>), not a province's", "madonvi")  # fmt: skip
    if _PORTAL_CODE.fullmatch(item.MaHoSo):
        if _visible(portal, caller, item.MaHoSo) is not None:
            raise _exists(item.MaHoSo, prefix)
        raise ApiError(422, "invalid_field", "MaHoSo has the form of the portal's own receipt numbers (SoBienNhan); "
                                             "number the dossier in your own system's form", f"{prefix}.MaHoSo")  # fmt: skip
    if item.LoaiDoiTuong != "1":
        raise ApiError(422, "invalid_field", 'only citizens ("1") file dossiers on this mock', f"{prefix}.LoaiDoiTuong")
    if item.TrangThaiHoSo not in ("", "1"):
        raise ApiError(422, "invalid_field", 'a new dossier starts at TrangThaiHoSo "1" (submitted); move it with '
                                             "CapNhatTienDoHoSoMC", f"{prefix}.TrangThaiHoSo")  # fmt: skip
    for name in ("MaTTHC", "ChuHoSo", "MaDoiTuong"):
        if not getattr(item, name):
            raise ApiError(422, "missing_field", f"{name} is required for a new dossier", f"{prefix}.{name}")
    if not isinstance(item.ThongTinKhac, ThongTinKhacIn):
        raise ApiError(422, "missing_field", "ThongTinKhac.NgaySinh (the applicant's date of birth, yyyyMMdd) is "
                                             "required for a new dossier's identity check",
                       f"{prefix}.ThongTinKhac.NgaySinh")  # fmt: skip
    born = item.ThongTinKhac.NgaySinh
    if caller.is_officer:
        owner = Caller(item.MaDoiTuong, "citizen", None, None, caller.jti, caller.exp)  # received at the counter
        channel = 1
    else:
        if item.MaDoiTuong != caller.subject:
            raise ApiError(403, "applicant_not_caller", "citizens may only file dossiers in their own name",
                           f"{prefix}.MaDoiTuong")  # fmt: skip
        owner, channel = caller, 2
    # Documents the portal fetches (the document store only: mocks/portal/attachments.py).
    attached = [(j, doc) for j, doc in enumerate(item.TaiLieuNop) if doc.DuongDanTaiTepTin and not doc.IsDeleted]
    native = {
        "procedure_code": item.MaTTHC, "commune_code": unit.commune, "channel": channel,
        "applicant": {"personal_id": item.MaDoiTuong, "full_name": item.ChuHoSo,
                      "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}"},
        "fields": {name: value for name in _KEPT if (value := getattr(item, name))},
        "attachments": [{"name": str(doc.TenTepDinhKem or f"TaiLieuNop-{j}"), "url": str(doc.DuongDanTaiTepTin)}
                        for j, doc in attached],
    }  # fmt: skip
    try:  # the portal's own rules, named in this face's fields
        body = validate_item(SubmitDossier, native, "")
    except ApiError as err:
        raise _renamed(err, prefix, attached) from None
    # The item as sent (key order aside), not re-serialised from the model: a dump of its 30
    # fields costs more than the rest of the fingerprint.
    fp = fingerprint("DongBoHoSoMC", {"item": raw, "owner": owner.subject, "unit": unit.code})
    try:
        stored = await portal.idempotency.run(
            _scope(caller), item.MaHoSo, fp, lambda remember: create_dossier(request, portal, owner, body, remember)
        )
    except ApiError as err:
        if err.code == "idempotency_key_reused":
            raise _taken(portal, caller, unit, item.MaHoSo, prefix) from None
        raise _renamed(err, prefix, attached) from None
    if stored.replayed:
        raise _taken(portal, caller, unit, item.MaHoSo, prefix)
    created = orjson.loads(stored.body)
    return {"MaHoSo": item.MaHoSo, "SoBienNhan": created["code"], "TrangThaiHoSo": "1",
            "NgayTiepNhan": _vn_date(created["created_at"])}  # fmt: skip


_vn_dates: dict[str, str] = {}


def _vn_date(iso: str) -> str:
    """``yyyyMMddHHmmss`` of the portal's ISO timestamp (a busy second formats once)."""
    second = iso[:19]
    text = _vn_dates.get(second)
    if text is None:
        if len(_vn_dates) > 1000:
            _vn_dates.clear()
        text = _vn_dates[second] = format_date(dt.datetime.fromisoformat(iso))
    return text


def _resolve(portal: Portal, caller: Caller, unit: Unit, mahoso: str) -> DossierRow | None:
    """The dossier ``mahoso`` names, if ``caller`` may see it (else None: existence is not revealed).

    A portal code names itself. Otherwise the number is looked up in the caller's namespace,
    then — for a citizen — in the desk's of the commune ``madonvi`` names (a dossier an officer
    filed for them at the counter), then in the bare scope of dossiers synced before namespaces.
    """
    if _PORTAL_CODE.fullmatch(mahoso):
        return _visible(portal, caller, mahoso)
    scopes = [_scope(caller)]
    if not caller.is_officer and unit.commune:
        scopes.append(f"{_SCOPE}:{unit.commune}")
    scopes.append(_SCOPE)
    for scope in scopes:
        hit = portal.store.idempotent_response(scope, mahoso)
        if hit is not None:
            found = _visible(portal, caller, orjson.loads(hit[2])["code"])
            if found is not None:
                return found
    return None


def _visible(portal: Portal, caller: Caller, code: str) -> DossierRow | None:
    """The dossier with the portal's ``code``, if ``caller`` may see it."""
    try:
        return visible_dossier(portal, caller, code, for_read=True)
    except ApiError:
        return None


def _not_found(mahoso: str, field: str) -> ApiError:
    return ApiError(404, "dossier_not_found", f"no dossier {mahoso!r} visible to this session", field)


async def _move(portal: Portal, caller: Caller, d: DossierRow, status: int, note: str, field: str, *,
                same_is_no_move: bool = False) -> int:
    _, status, _ = await apply_transition(portal, caller, d.code, status, note, field=field,
                                          same_is_no_move=same_is_no_move)
    return status


def _status_of(value: str, field: str) -> int:
    try:
        return status_of_trang_thai(value)
    except ValueError as exc:
        raise ApiError(422, "invalid_field", str(exc), field) from None


async def _update_dossier(
    request: Request, portal: Portal, caller: Caller, unit: Unit, item: HoSoMC, prefix: str
) -> dict[str, object]:
    d = _resolve(portal, caller, unit, item.MaHoSo)
    if d is None:
        raise _not_found(item.MaHoSo, f"{prefix}.MaHoSo")
    await enter_scope(request, province=d.province_code)
    status = d.status
    # Ours: an update changes the status only; the rest stays as first synced. A one-stop
    # system re-sends its whole record on every save, so the status it already has is no
    # move (the status machine refuses "from 2 to 2"): only a different one goes through it.
    field = f"{prefix}.TrangThaiHoSo"
    if item.TrangThaiHoSo and (wanted := _status_of(item.TrangThaiHoSo, field)) != d.status:
        # Read before the awaits above: a concurrent save may have moved the dossier to
        # ``wanted`` meanwhile, which is still no move (decided again where it is written).
        status = await _move(portal, caller, d, wanted, item.GhiChu, field, same_is_no_move=True)
    return {"MaHoSo": item.MaHoSo, "SoBienNhan": d.code, "TrangThaiHoSo": trang_thai_of_status(status)}


async def _progress(request: Request, portal: Portal, call: DvcqgCall, unit: Unit, caller: Caller | None) -> Response:
    assert caller is not None  # nosec B101 - a write needs a session (checked before dispatch)
    _officer_of(caller, unit)

    async def apply(raw: dict[str, Any], prefix: str) -> dict[str, object]:
        step = validate_item(TienDoHoSoMC, raw, prefix)
        d = _resolve(portal, caller, unit, step.MaHoSo)
        if d is None:
            raise _not_found(step.MaHoSo, f"{prefix}.MaHoSo")
        await enter_scope(request, province=d.province_code)
        # A step is a move, refused as the portal's own API refuses it (even to the status it has).
        field = f"{prefix}.TrangThai"
        status = await _move(portal, caller, d, _status_of(step.TrangThai, field), step.NoiDungXuLy, field)
        return {"MaHoSo": step.MaHoSo, "SoBienNhan": d.code, "TrangThai": trang_thai_of_status(status)}

    return await _batch(call, apply)


async def _look_up(request: Request, portal: Portal, call: DvcqgCall, unit: Unit, caller: Caller | None) -> Response:
    assert caller is not None  # nosec B101 - TraCuuHoSo needs a session (checked before dispatch)
    if not call.mahoso:
        raise ApiError(422, "missing_field", "required field 'mahoso' is missing", "mahoso")
    d = _resolve(portal, caller, unit, call.mahoso)
    if d is None:
        return ok_answer([])  # as the callers read it: an empty result is "not synced yet"
    await enter_scope(request, province=d.province_code)
    return ok_answer([_dossier_item(d, call.mahoso)])


def _dossier_item(d: DossierRow, mahoso: str) -> dict[str, object]:
    procedure = find_procedure(d.province_code, d.procedure_code)
    created = dt.datetime.fromisoformat(d.created_at)
    updated = dt.datetime.fromisoformat(d.updated_at)
    kept = d.fields
    finished = format_date(updated) if d.status in (3, 7, 8, 9, 10) else ""
    fees = [{"TenPhiLePhi": f"Lệ phí {procedure.name}" if procedure else "Lệ phí", "MaPhiLePhi": f"LP.{d.procedure_code}",
             "HinhThucThu": "", "Gia": d.fee_vnd, "LoaiPhiLePhi": "1"}] if d.fee_vnd else []  # fmt: skip
    return {
        "MaHoSo": kept.get("MaHoSo", mahoso if not _PORTAL_CODE.fullmatch(mahoso) else d.code),
        "MaTTHC": d.procedure_code,
        "TenTTHC": procedure.name if procedure else "",
        "MaLinhVuc": domain_code(procedure) if procedure else "",
        "TenLinhVuc": procedure.domain if procedure else "",
        "SoBienNhan": d.code,
        "ChuHoSo": d.applicant.get("full_name", ""),
        "LoaiDoiTuong": "1",
        "MaDoiTuong": d.applicant.get("personal_id", ""),
        "ThongTinKhac": {"NgaySinh": format_birth_date(dt.date.fromisoformat(d.applicant["date_of_birth"]))},
        "Email": kept.get("Email", ""),
        "Fax": kept.get("Fax", ""),
        "SoDienThoai": kept.get("SoDienThoai", ""),
        "TrichYeuHoSo": kept.get("TrichYeuHoSo", ""),
        "NgayTiepNhan": format_date(created),
        "NgayHenTra": format_date(created + dt.timedelta(days=procedure.processing_days if procedure else 0)),
        "TrangThaiHoSo": trang_thai_of_status(d.status),
        "NgayTra": format_date(updated) if d.status == 10 else "",
        "ThongTinTra": "",
        "HinhThuc": kept.get("HinhThuc", "0"),
        "NgayKetThucXuLy": finished,
        "DonViXuLy": receiving_unit_name(d.commune_code),
        "GhiChu": kept.get("GhiChu", ""),
        "TaiLieuNop": [],
        "DanhSachLePhi": fees,
        "DanhSachTepDinhKemKhac": [],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [],
    }


# --- catalogue look-ups ----------------------------------------------------------------


_Handler = Callable[[Request, Portal, DvcqgCall, Unit, "Caller | None"], Awaitable[Response]]
_HANDLERS: dict[str, _Handler] = {
    "DongBoHoSoMC": _sync_dossiers,
    "CapNhatTienDoHoSoMC": _progress,
    "TraCuuHoSo": _look_up,
    "LayThuTuc": procedure_detail,
    "LayDanhSachTTHC": list_procedures,
    "LayDanhMucCoQuan": list_agencies,
}
