"""The portal through its integration-adapter shape (``dvcqg-adapter``): the LGSP/NGSP calls a
one-stop system makes (``kernel.national.dvcqg``), behind the same methods and the same
:class:`~scenarios.adapters.http.Reply` data as :class:`~scenarios.adapters.systems.PortalAdapter`,
so the personas run unchanged.

How each persona call maps:

* sign-in (citizen and officer) → ``POST /dvcqg/auth`` ``{"username", "password"}`` with the
  ``dstcode`` header; the ``session`` is the token every later call carries.
* the catalogue → ``LayDanhSachTTHC`` for the province's agency code (no session needed).
* a citizen's online submission → ``DongBoHoSoMC`` with ``isUpdating=false``: the dossier a
  one-stop system received, synced with a ``MaHoSo`` derived from the citizen and the
  idempotency key (:func:`ma_ho_so_for`), so a retried submission sends the same ``MaHoSo``.
  If the first try was stored, the face answers ``DOSSIER_EXISTS`` and the adapter looks the
  dossier up (``TraCuuHoSo``) and gives it back, as the native API replays a keyed request.
* reading a dossier → ``TraCuuHoSo`` (an empty result is answered as the native 404);
  a status change → ``CapNhatTienDoHoSoMC`` with ``TrangThai`` (``TRANG_THAI_HO_SO``).
* the officer's worklist, fee payments, feedback and sign-out: **no national shape known**
  (the public callers show none), so the adapter uses the portal's own routes with the session
  as its bearer token (inherited from :class:`PortalAdapter`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from typing import Any

from kernel.credentials import Credentials
from kernel.national.dvcqg import (
    AUTH_PATH,
    DEFAULT_DSTCODE,
    INTEGRATION_PATH,
    SHARE_PATH,
    ErrorCode,
    format_birth_date,
    format_date,
    parse_birth_date,
    status_of_trang_thai,
)
from kernel.roster import load_roster
from kernel.synthetic import Citizen
from scenarios.adapters.http import Reply, ServiceSession
from scenarios.adapters.shapes import MALFORMED
from scenarios.adapters.systems import PortalAdapter

__all__ = ["DvcqgPortalAdapter", "ma_ho_so_for"]

_HEADERS = {"dstcode": DEFAULT_DSTCODE}


def ma_ho_so_for(personal_id: str, idempotency_key: str, commune: str) -> str:
    """The ``MaHoSo`` of a citizen's submission: the same for every retry of one idempotency key
    (ours: ``<commune>-DT-<20 hex digits of SHA-256(personal ID, key)>``)."""
    digest = hashlib.sha256(f"{personal_id}\x00{idempotency_key}".encode()).hexdigest()[:20].upper()
    return f"{commune}-DT-{digest}"


@cache
def _unit_of(province: str, commune: str | None) -> str:
    roster = load_roster()
    return roster.commune(commune).agency_code if commune else roster.province(province).agency_code


def _translated(reply: Reply, data: dict[str, Any] | None, *, ok: bool | None = None, status: int | None = None) -> Reply:
    """``reply`` with the native data keys (and, where the face's answer differs, its outcome)."""
    failed = not reply.ok if ok is None else not ok
    reason = reply.data.get("reason") if isinstance(reply.data.get("reason"), str) else None
    return Reply(status=reply.status if status is None else status, ok=not failed,
                 data=reply.data if data is None else data, retry_after=reply.retry_after,
                 error_code=reason if failed else None, content=reply.content)  # fmt: skip


def _first_result(body: dict[str, Any]) -> dict[str, Any] | None:
    result = body.get("result")
    return result[0] if isinstance(result, list) and result and isinstance(result[0], dict) else None


def _submitted_or_replayed(body: dict[str, Any]) -> str | None:
    # A DOSSIER_EXISTS answer to a retried submission is the replay of a stored one (checked below).
    if body.get("error_code") == ErrorCode.DOSSIER_EXISTS:
        return None
    if body.get("error_code") == 0:
        synced = _first_result(body)
        receipt = synced.get("SoBienNhan") if synced is not None else None
        # The receipt number is the dossier's code, which the citizen follows it by.
        return None if isinstance(receipt, str) and receipt else "malformed answer: no SoBienNhan"
    return f"error_code {body.get('error_code')}"


def _session_issued(body: dict[str, Any]) -> str | None:
    session = body.get("session")
    return None if isinstance(session, str) and session else "sign-in answer carries no session"


def _catalogue_published(body: dict[str, Any]) -> str | None:
    result = body.get("result")
    if result and not isinstance(result, list):  # a later `for` over it would raise in the actor
        return "malformed answer: result is not a list"
    return None if result else "catalogue not published"


def _dossier_data(found: dict[str, Any]) -> dict[str, Any]:
    """A ``TraCuuHoSo`` dossier with the keys of the native ``GET /dossiers/{code}``; a
    ValueError naming the field the native keys cannot be read from."""
    other = found.get("ThongTinKhac")
    born = other.get("NgaySinh") if isinstance(other, dict) else None
    try:
        birth = parse_birth_date(born).isoformat() if isinstance(born, str) else None
    except ValueError:
        birth = None
    try:
        status = status_of_trang_thai(str(found.get("TrangThaiHoSo")))
    except ValueError:
        raise ValueError("TrangThaiHoSo is not a known status") from None
    return {
        "code": found.get("SoBienNhan"),
        "MaHoSo": found.get("MaHoSo"),
        "status": status,
        "procedure_code": found.get("MaTTHC"),
        "applicant": {"personal_id": found.get("MaDoiTuong"), "full_name": found.get("ChuHoSo"), "date_of_birth": birth},
        "fee_vnd": _fee_total(found.get("DanhSachLePhi")),
    }


def _fee_total(fees: Any) -> int:
    """The sum of the ``Gia`` of ``DanhSachLePhi`` (its non-object entries are skipped, as before)."""
    if not fees:
        return 0
    if not isinstance(fees, list):
        raise ValueError("DanhSachLePhi is not a list")
    try:
        return sum(int(f.get("Gia") or 0) for f in fees if isinstance(f, dict))
    except (TypeError, ValueError, OverflowError):  # a list or object, text that is no number, an infinity
        raise ValueError("DanhSachLePhi Gia is not a number") from None


class DvcqgPortalAdapter(PortalAdapter):
    """National Public Service Portal through the integration adapter (see the module docstring)."""

    def __init__(self, session: ServiceSession, credentials: Credentials):
        super().__init__(session, credentials)

    # -- sign-in --------------------------------------------------------------------------
    def _login(self, account: str, province: str, commune: str | None) -> Reply:
        reply = self._shaped(
            _session_issued, "POST", AUTH_PATH, name="POST /dvcqg auth", province=province, commune=commune,
            headers=_HEADERS, json={"username": account, "password": self._credentials.password(account)},
            expect=(200,),
        )
        if not reply.ok:  # refused, or no session in the answer (its shape)
            return _translated(reply, None, ok=False)
        return _translated(reply, {"access_token": reply.data.get("session"), "expires_in": reply.data.get("expires_in", 60)})

    def sign_in_citizen(self, citizen: Citizen, province: str, commune: str) -> Reply:
        """Log a citizen in with their personal ID number (``session`` → ``access_token``)."""
        return self._login(citizen.personal_id, province, commune)

    def officer_token(self, account: str, province: str, commune: str) -> str | None:
        """A cached officer session, logging in when there is none (None while held or on failure)."""
        if self.tokens.held(account):
            return None
        token = self.tokens.get(account)
        if token is not None:
            return token
        return self._signed_in(account, self._login(account, province, commune))

    # -- calls ----------------------------------------------------------------------------
    def _service(self, service: str, path: str, province: str, commune: str | None, token: str | None,
                 fields: dict[str, Any], **kwargs: Any) -> Reply:
        body = {"session": token, "madonvi": _unit_of(province, commune), "service": service, **fields}
        return self._call("POST", path, name=f"POST /dvcqg {service}", province=province, commune=commune,
                          token=None, json=body, headers=_HEADERS, **kwargs)  # fmt: skip

    def _call(self, method: str, path: str, **kwargs: Any) -> Reply:
        # The session travels in the body; the gate still needs to know whose request it was.
        session = (kwargs.get("json") or {}).get("session") if path.startswith("/dvcqg/") else None
        reply = self.http.call(method, path, **kwargs)
        if reply.retry_after is not None:
            self.tokens.observe(session or kwargs.get("token"), reply)
        return reply

    def procedures(self, province: str, *, token: str | None = None, commune: str | None = None) -> Reply:
        """The province's catalogue (``LayDanhSachTTHC``), as ``{"procedures": [{"code", "name", "domain"}]}``."""
        reply = self._service("LayDanhSachTTHC", SHARE_PATH, province, None, token, {}, expect=(200,),
                              check=_catalogue_published)  # fmt: skip
        if not reply.ok:
            return _translated(reply, None)
        rows = reply.data.get("result") or []
        if not isinstance(rows, list):
            return _translated(reply, None, ok=False)
        return _translated(reply, {"procedures": [
            {"code": r.get("MATTHC"), "name": r.get("TENTTHC"), "domain": r.get("TENLINHVUC")} for r in rows
            if isinstance(r, dict)]})  # fmt: skip

    def submit_dossier(
        self, token: str, citizen: Citizen, procedure_code: str, idempotency_key: str, province: str, commune: str,
        *, fields: dict[str, str] | None = None,
    ) -> Reply:
        """Sync the citizen's new dossier (``DongBoHoSoMC``, ``isUpdating=false``); a retry with
        the same key sends the same ``MaHoSo`` and gets the stored dossier back."""
        extra = dict(fields or {})
        mahoso = ma_ho_so_for(citizen.personal_id, idempotency_key, commune)
        item = {
            "MaHoSo": mahoso, "MaTTHC": procedure_code, "ChuHoSo": citizen.full_name, "LoaiDoiTuong": "1",
            "MaDoiTuong": citizen.personal_id, "ThongTinKhac": {"NgaySinh": format_birth_date(citizen.date_of_birth)},
            "TrichYeuHoSo": extra.pop("purpose", ""), "SoDienThoai": extra.pop("contact_phone", ""),
            "GhiChu": "; ".join(f"{k}: {v}" for k, v in sorted(extra.items()))[:1000], "TrangThaiHoSo": "1",
            "HinhThuc": "0", "TaiLieuNop": [], "DanhSachLePhi": [],
        }  # fmt: skip
        reply = self._service("DongBoHoSoMC", INTEGRATION_PATH, province, commune, token,
                              {"isUpdating": False, "data": [item]}, expect=(200, 409), check=_submitted_or_replayed)
        if reply.status == 409:
            if reply.data.get("error_code") != ErrorCode.DOSSIER_EXISTS:
                return _translated(reply, None, ok=False)
            stored = self.dossier(token, mahoso, province, commune)  # the first try was stored: give it back
            if not stored.ok or stored.data.get("applicant", {}).get("personal_id") != citizen.personal_id:
                return _translated(reply, None, ok=False)
            return _translated(stored, {**stored.data, "replayed": True}, status=200)
        succeeded = reply.ok and reply.data.get("error_code") == 0
        synced = _first_result(reply.data) if succeeded else None
        receipt = synced.get("SoBienNhan") if synced is not None else None
        if not (isinstance(receipt, str) and receipt):
            failed = _translated(reply, None, ok=False)
            if succeeded:  # a success without the dossier's code (reported so by _submitted_or_replayed)
                failed.error_code = MALFORMED
            return failed
        return _translated(reply, {"code": receipt, "MaHoSo": mahoso, "status": 1,
                                   "procedure_code": procedure_code, "commune_code": commune})  # fmt: skip

    def dossier(self, token: str, code: str, province: str, commune: str | None = None) -> Reply:
        """Read one dossier (``TraCuuHoSo`` by ``MaHoSo`` or the portal's code); none visible → 404;
        one whose fields cannot be read as the native keys → not ``ok`` (``malformed_answer``)."""
        read: list[dict[str, Any]] = []

        def check(body: dict[str, Any]) -> str | None:
            # Translated before the answer is reported, so an unreadable dossier is a failure
            # in Locust's statistics, not a success the persona then finds empty.
            found = _first_result(body)
            if found is None:
                return "dossier not found"
            try:
                read.append(_dossier_data(found))
            except ValueError as exc:
                return f"malformed answer: {exc}"
            return None

        reply = self._service("TraCuuHoSo", INTEGRATION_PATH, province, commune, token, {"mahoso": code},
                              expect=(200,), check=check)  # fmt: skip
        if read:
            return _translated(reply, read[0])
        if reply.ok and _first_result(reply.data) is not None:
            failed = _translated(reply, None, ok=False)
            failed.error_code = MALFORMED
            return failed
        return _translated(reply, None, ok=False, status=404 if reply.ok else None)

    def transition(self, token: str, code: str, to: int, province: str, commune: str | None = None, note: str = "") -> Reply:
        """Move a dossier to status ``to`` (``CapNhatTienDoHoSoMC``, ``TrangThai`` = ``str(to)``)."""
        step = {"MaHoSo": code, "TrangThai": str(to), "NoiDungXuLy": note[:1000],
                "ThoiDiemXuLy": format_date(dt.datetime.now(dt.UTC))}  # fmt: skip
        reply = self._service("CapNhatTienDoHoSoMC", INTEGRATION_PATH, province, commune, token, {"data": [step]},
                              expect=(200,))  # fmt: skip
        moved = _first_result(reply.data) if reply.ok else None
        if moved is None:
            return _translated(reply, None, ok=False if reply.ok else None)
        return _translated(reply, {"code": moved.get("SoBienNhan"), "status": to})
