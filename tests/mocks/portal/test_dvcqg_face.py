"""The integration-adapter face (``/dvcqg/...``) over real HTTP: the same dossiers, rules and
idempotency as the portal's own API, in the adapter's shape and error form."""

from __future__ import annotations

import concurrent.futures
import json

import httpx
import orjson
import pytest

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.national.dvcqg import AUTH_PATH, INTEGRATION_PATH, SHARE_PATH, ErrorCode, format_birth_date
from kernel.roster import load_roster
from mocks.portal.catalogue import catalogue_of
from tests.mocks.wire import abandon_body, exchange, requests_counted, wait_for_count

from .conftest import ADMIN, bearer, citizen, dossier_body, ledger, login_citizen

pytestmark = pytest.mark.e2e

DST = {"dstcode": "000.00.00.G22"}


def session_of(client: httpx.Client, username: str) -> str:
    r = client.post(AUTH_PATH, json={"username": username, "password": derive_password(DEFAULT_DRY_RUN_SECRET, username)},
                    headers=DST)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["error_code"] == 0
    return body["session"]


def unit_of(commune: str) -> str:
    return load_roster().commune(commune).agency_code


def procedure_for(commune: str) -> str:
    return catalogue_of(load_roster().commune(commune).province_code)[0].code


def item(person, mahoso: str, **overrides: object) -> dict:
    body = {"MaHoSo": mahoso, "MaTTHC": procedure_for(person.commune_code), "ChuHoSo": person.full_name,
            "LoaiDoiTuong": "1", "MaDoiTuong": person.personal_id,
            "ThongTinKhac": {"NgaySinh": format_birth_date(person.date_of_birth)},
            "SoDienThoai": "0912345678", "TrichYeuHoSo": "Đăng ký khai sinh", "NgayTiepNhan": "20250701080000",
            "TrangThaiHoSo": "1", "TaiLieuNop": [], "DanhSachLePhi": []}  # fmt: skip
    body.update(overrides)
    return body


def call(client: httpx.Client, session: str | None, madonvi: str, service: str, path: str = INTEGRATION_PATH,
         **fields: object) -> httpx.Response:
    return client.post(path, json={"session": session, "madonvi": madonvi, "service": service, **fields}, headers=DST)


def sync(client, session, person, mahoso, updating=False, **overrides) -> httpx.Response:
    return call(client, session, unit_of(person.commune_code), "DongBoHoSoMC", isUpdating=updating,
                data=[item(person, mahoso, **overrides)])


def sync_non_json(client, session, person, mahoso, **overrides) -> httpx.Response:
    """``sync`` with the body written by Python's json module, which writes NaN and Infinity
    (JSON has neither; httpx refuses to write them)."""
    body = {"session": session, "madonvi": unit_of(person.commune_code), "service": "DongBoHoSoMC",
            "isUpdating": False, "data": [item(person, mahoso, **overrides)]}
    return client.post(INTEGRATION_PATH, content=json.dumps(body), headers={**DST, "content-type": "application/json"})


def test_a_synced_dossier_is_the_portal_s_own_dossier(client):
    person = citizen(11)
    session = session_of(client, person.personal_id)
    r = sync(client, session, person, "H-TEST-0001")
    assert r.status_code == 200, r.text
    synced = r.json()["result"][0]
    assert synced["error_code"] == 0 and synced["MaHoSo"] == "H-TEST-0001" and synced["TrangThaiHoSo"] == "1"
    code = synced["SoBienNhan"]
    assert code.startswith(person.commune_code + "-") and len(synced["NgayTiepNhan"]) == 14
    # The native API sees the same dossier, with the same session as its bearer token.
    native = client.get(f"/dossiers/{code}", headers=bearer(session)).json()
    assert native["status"] == 1 and native["applicant"]["personal_id"] == person.personal_id
    assert native["channel"] == 2 and native["fields"]["MaHoSo"] == "H-TEST-0001"
    assert code in ledger(client)["ids"]["dossiers"]
    # TraCuuHoSo finds it by the caller's MaHoSo and by the portal's code, with the listed fields.
    for key in ("H-TEST-0001", code):
        found = call(client, session, unit_of(person.commune_code), "TraCuuHoSo", SHARE_PATH, mahoso=key).json()
        assert found["error_code"] == 0 and len(found["result"]) == 1
        dossier = found["result"][0]
        assert dossier["SoBienNhan"] == code and dossier["MaHoSo"] == "H-TEST-0001" and dossier["TrangThaiHoSo"] == "1"
        assert dossier["MaDoiTuong"] == person.personal_id and dossier["SoDienThoai"] == "0912345678"
        assert {"TaiLieuNop", "DanhSachLePhi", "NgayHenTra", "DonViXuLy", "HinhThuc"} <= set(dossier)


def test_a_resent_new_dossier_is_an_error_code_not_a_duplicate(client):
    person = citizen(12)
    session = session_of(client, person.personal_id)
    before = len(ledger(client)["ids"]["dossiers"])
    assert sync(client, session, person, "H-TEST-0002").status_code == 200
    again = sync(client, session, person, "H-TEST-0002")
    assert again.status_code == 409 and again.json()["error_code"] == ErrorCode.DOSSIER_EXISTS
    assert again.json()["field"] == "data[0].MaHoSo" and "data[0].MaHoSo" in again.json()["message"]
    # Another body under the same MaHoSo is refused the same way.
    other = sync(client, session, person, "H-TEST-0002", TrichYeuHoSo="khác")
    assert other.json()["error_code"] == ErrorCode.DOSSIER_EXISTS
    # Copies racing each other: one dossier.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: sync(client, session, person, "H-TEST-0003").json()["error_code"], range(6)))
    assert sorted(codes) == [0] + [int(ErrorCode.DOSSIER_EXISTS)] * 5
    assert len(ledger(client)["ids"]["dossiers"]) == before + 2
    # An update of a dossier never synced is an error code too.
    missing = sync(client, session, person, "H-NEVER-SYNCED", updating=True)
    assert missing.status_code == 404 and missing.json()["error_code"] == ErrorCode.DOSSIER_NOT_FOUND


def test_progress_moves_dossiers_by_the_same_status_machine(client):
    person = citizen(13)
    commune = person.commune_code
    session = session_of(client, person.personal_id)
    code = sync(client, session, person, "H-TEST-0004").json()["result"][0]["SoBienNhan"]
    officer = session_of(client, f"{commune}.officer2")

    def progress(mahoso, value, session=officer):
        return call(client, session, unit_of(commune), "CapNhatTienDoHoSoMC",
                    data=[{"MaHoSo": mahoso, "TrangThai": value, "NguoiXuLy": "Cán bộ", "ThoiDiemXuLy": "20250701090000",
                           "NoiDungXuLy": "Tiếp nhận"}])  # fmt: skip

    # The citizen's own number is theirs: the commune's desk knows the dossier by its code.
    assert progress("H-TEST-0004", "2").status_code == 404
    moved = progress(code, "2")
    assert moved.status_code == 200 and moved.json()["result"][0]["TrangThai"] == "2"
    assert client.get(f"/dossiers/{code}", headers=bearer(session)).json()["status"] == 2
    illegal = progress(code, "10")
    assert illegal.status_code == 409 and illegal.json()["error_code"] == ErrorCode.ILLEGAL_TRANSITION
    assert illegal.json()["field"] == "data[0].TrangThai" and "allowed from 2: 4, 7" in illegal.json()["message"]
    not_yours = progress(code, "4", session)  # the applicant may only withdraw
    assert not_yours.status_code == 403 and not_yours.json()["error_code"] == ErrorCode.FORBIDDEN
    bad = progress(code, "11")
    assert bad.status_code == 422 and bad.json()["error_code"] == ErrorCode.INVALID_FIELD
    # The update form of DongBoHoSoMC moves it too; another commune's officer cannot see it.
    updated = sync(client, officer, person, code, updating=True, TrangThaiHoSo="4")
    assert updated.status_code == 200 and updated.json()["result"][0]["TrangThaiHoSo"] == "4"
    other_commune = next(c.code for c in load_roster().communes if c.code != commune)
    stranger = session_of(client, f"{other_commune}.officer1")
    hidden = call(client, stranger, unit_of(other_commune), "TraCuuHoSo", mahoso=code).json()
    assert hidden == {"error_code": 0, "message": "OK", "result": []}


def test_a_native_dossier_is_known_to_the_face_by_its_code(client):
    person = citizen(14)
    token = login_citizen(client, person)
    r = client.post("/dossiers", json=dossier_body(person, procedure_for(person.commune_code)),
                    headers={**bearer(token), "Idempotency-Key": "native-face-1"})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    found = call(client, token, unit_of(person.commune_code), "TraCuuHoSo", mahoso=code).json()["result"][0]
    assert found["MaHoSo"] == found["SoBienNhan"] == code and found["ChuHoSo"] == person.full_name
    withdrawn = call(client, token, unit_of(person.commune_code), "CapNhatTienDoHoSoMC",
                     data=[{"MaHoSo": code, "TrangThai": "7"}])
    assert withdrawn.status_code == 200, withdrawn.text
    assert client.get(f"/dossiers/{code}", headers=bearer(token)).json()["status"] == 7
    # A new sync may not take a portal code as its MaHoSo.
    taken = sync(client, token, person, code)
    assert taken.status_code == 409 and taken.json()["error_code"] == ErrorCode.DOSSIER_EXISTS


def test_an_officer_syncs_a_dossier_received_at_the_counter(client):
    person = citizen(15)
    officer = session_of(client, f"{person.commune_code}.officer3")
    r = sync(client, officer, person, "H-QUAY-0001")
    assert r.status_code == 200, r.text
    code = r.json()["result"][0]["SoBienNhan"]
    owner = login_citizen(client, person)
    assert client.get(f"/dossiers/{code}", headers=bearer(owner)).json()["channel"] == 1
    elsewhere = call(client, officer, unit_of(citizen(16).commune_code), "DongBoHoSoMC", isUpdating=False,
                     data=[item(citizen(16), "H-QUAY-0002")])
    if citizen(16).commune_code != person.commune_code:
        assert elsewhere.status_code == 403 and elsewhere.json()["field"] == "madonvi"


def test_catalogue_look_ups_need_no_session(client):
    commune = citizen(17).commune_code
    province = load_roster().commune(commune).province_code
    listing = call(client, None, load_roster().province(province).agency_code, "LayDanhSachTTHC", SHARE_PATH).json()
    assert listing["error_code"] == 0 and len(listing["result"]) == len(catalogue_of(province))
    first = listing["result"][0]
    detail = call(client, None, unit_of(commune), "LayThuTuc", INTEGRATION_PATH, maTTHC=first["MATTHC"]).json()
    procedure = detail["result"][0]
    assert procedure["TENTTHC"] == first["TENTTHC"] and procedure["TRANGTHAI"] == 1
    assert procedure["LINHVUCTHUCHIEN"][0]["TENLINHVUC"] and procedure["CACHTHUCTHUCHIEN"][0]["THOIGIAN"]
    assert call(client, None, unit_of(commune), "LayThuTuc", MaTTHC="1.999999.000.00.00.H99").json()["result"] == []
    agencies = call(client, None, unit_of(commune), "LayDanhMucCoQuan", SHARE_PATH).json()["result"]
    assert {"MADONVI": unit_of(commune), "CAPDONVI": "2"}.items() <= next(
        a for a in agencies if a["MADONVI"] == unit_of(commune)).items()


@pytest.mark.parametrize(
    ("send", "status", "code", "field"),
    [
        (lambda c, s: c.post(INTEGRATION_PATH, content=b"{not json", headers={**DST, "content-type": "application/json"}),
         400, ErrorCode.INVALID_REQUEST, None),
        (lambda c, s: c.post(INTEGRATION_PATH, json={"madonvi": "x", "service": "DongBoHoSoMC"}), 400,
         ErrorCode.MISSING_FIELD, "dstcode"),
        (lambda c, s: call(c, s, "000.00.00.H26", "XoaHoSo"), 422, ErrorCode.UNKNOWN_SERVICE, "service"),
        (lambda c, s: call(c, None, "000.00.00.H26", "TraCuuHoSo", mahoso="x"), 401, ErrorCode.SESSION_INVALID, "session"),
        (lambda c, s: call(c, "forged", "000.00.00.H26", "TraCuuHoSo", mahoso="x"), 401, ErrorCode.SESSION_INVALID,
         "session"),
        (lambda c, s: call(c, s, "999.99.99.X", "TraCuuHoSo", mahoso="x"), 422, ErrorCode.UNKNOWN_UNIT, "madonvi"),
        (lambda c, s: call(c, s, unit_of(citizen(18).commune_code), "DongBoHoSoMC", data=[item(citizen(18), "H-B-1")]),
         422, ErrorCode.MISSING_FIELD, "isUpdating"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-2", NgayTiepNhan="2025-07-01"), 422, ErrorCode.INVALID_FIELD,
         "data[0].NgayTiepNhan"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-3", Khac="x"), 422, ErrorCode.UNKNOWN_FIELD, "data[0].Khac"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-4", ThongTinKhac=""), 422, ErrorCode.MISSING_FIELD,
         "data[0].ThongTinKhac.NgaySinh"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-5", MaTTHC="1.999999.000.00.00.H99"), 422,
         ErrorCode.UNKNOWN_PROCEDURE, "data[0].MaTTHC"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-6", ChuHoSo="Người Khác"), 422, ErrorCode.IDENTITY_MISMATCH,
         "data[0].MaDoiTuong"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-7", MaDoiTuong=citizen(19).personal_id), 403, ErrorCode.FORBIDDEN,
         "data[0].MaDoiTuong"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-8", TrangThaiHoSo="4"), 422, ErrorCode.INVALID_FIELD,
         "data[0].TrangThaiHoSo"),
        (lambda c, s: call(c, s, "000.00.00.H26", "TraCuuHoSo"), 422, ErrorCode.MISSING_FIELD, "mahoso"),
        # An attachment URL outside the document store (here: the cloud metadata address).
        (lambda c, s: sync(c, s, citizen(18), "H-B-9", TaiLieuNop=[
            {"TenTepDinhKem": "to-khai.pdf"},
            {"TenTepDinhKem": "cccd.pdf", "DuongDanTaiTepTin": "http://169.254.169.254/latest/meta-data/"}]),
         422, ErrorCode.INVALID_FIELD, "data[0].TaiLieuNop[1].DuongDanTaiTepTin"),
        (lambda c, s: c.post(AUTH_PATH, json={"username": "00004.officer1", "password": "wrong"}, headers=DST), 401,
         ErrorCode.LOGIN_FAILED, "password"),
        # The portal's own rules name the face's fields, not the native ones behind them.
        (lambda c, s: sync(c, s, citizen(18), "H-B-10", ChuHoSo="   "), 422, ErrorCode.INVALID_FIELD,
         "data[0].ChuHoSo"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-11", TaiLieuNop=[
            {"TenTepDinhKem": f"t{i}.pdf", "DuongDanTaiTepTin": f"http://127.0.0.1:9/t{i}.pdf"} for i in range(11)]),
         422, ErrorCode.INVALID_FIELD, "data[0].TaiLieuNop"),
        # A list entry that is no object, a number past 64 bits, a flag that is no flag.
        (lambda c, s: sync(c, s, citizen(18), "H-B-12", TaiLieuNop=[None]), 422, ErrorCode.INVALID_FIELD,
         "data[0].TaiLieuNop[0]"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-13", DanhSachLePhi=[{"Gia": 10**23}]), 422, ErrorCode.INVALID_FIELD,
         "data[0].DanhSachLePhi[0].Gia"),
        (lambda c, s: call(c, s, unit_of(citizen(18).commune_code), "DongBoHoSoMC", isUpdating="yes",
                           data=[item(citizen(18), "H-B-14")]), 422, ErrorCode.INVALID_FIELD, "isUpdating"),
        (lambda c, s: sync(c, s, citizen(18), "H-B-15", ThongTinKhac={"NgaySinh": "19801301"}), 422,
         ErrorCode.INVALID_FIELD, "data[0].ThongTinKhac.NgaySinh"),
        # A path the face does not have, and a method its path lacks: still the adapter's form.
        (lambda c, s: c.post("/dvcqg/XoaHoSo", json={}, headers=DST), 404, ErrorCode.UNKNOWN_SERVICE, "path"),
        # Numbers JSON does not have (Python's json writes them; 1e400 reads as Infinity).
        (lambda c, s: sync_non_json(c, s, citizen(18), "H-B-16", DanhSachLePhi=[{"Gia": float("nan")}]), 422,
         ErrorCode.INVALID_FIELD, "data[0].DanhSachLePhi[0].Gia"),
        (lambda c, s: sync_non_json(c, s, citizen(18), "H-B-17", DanhSachHoSoBoSung=[{"SoLuong": float("inf")}]), 422,
         ErrorCode.INVALID_FIELD, "data[0].DanhSachHoSoBoSung[0].SoLuong"),
        (lambda c, s: c.get(INTEGRATION_PATH, headers=DST), 405, ErrorCode.INVALID_REQUEST, None),
    ],
    ids=["not-json", "no-dstcode", "unknown-service", "no-session", "forged-session", "unknown-unit",
         "no-isUpdating", "bad-date", "unknown-field", "no-birth-date", "unknown-procedure", "identity-mismatch",
         "not-own-name", "new-not-at-1", "no-mahoso", "attachment-url", "bad-password", "blank-name",
         "eleven-attachments", "null-entry", "huge-number", "isUpdating-not-a-flag", "bad-birth-date",
         "unknown-path", "nan", "infinity", "wrong-method"],
)  # fmt: skip
def test_bad_input_is_answered_in_the_adapter_s_error_form(client, send, status, code, field):
    session = session_of(client, citizen(18).personal_id)
    r = send(client, session)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_code"] == code and body["field"] == field and "Traceback" not in r.text
    if field:
        assert field in body["message"]


def test_a_stranger_learns_nothing_of_another_citizen_s_dossier(client):
    """The portal's codes are sequential: syncing one as a MaHoSo must not tell whether it
    exists. A MaHoSo of the caller's own numbering lives in the caller's namespace, so
    another's number can neither be learnt nor taken."""
    owner, stranger = citizen(21), citizen(22)
    owner_session, stranger_session = session_of(client, owner.personal_id), session_of(client, stranger.personal_id)
    code = sync(client, owner_session, owner, "H-OWN-0001").json()["result"][0]["SoBienNhan"]
    number, _, serial = code.rpartition("-")
    probe = sync(client, stranger_session, stranger, code).json()
    missing = sync(client, stranger_session, stranger, f"{number}-{int(serial) + 900000:06d}").json()
    assert (probe["error_code"], probe["message"]) == (missing["error_code"], missing["message"])
    assert probe["error_code"] == ErrorCode.INVALID_FIELD
    # The same number in the stranger's own namespace is the stranger's own, new dossier.
    own = sync(client, stranger_session, stranger, "H-OWN-0001")
    assert own.status_code == 200, own.text
    assert own.json()["result"][0]["SoBienNhan"] != code
    for session, person, expected in ((owner_session, owner, code), (stranger_session, stranger, None)):
        found = call(client, session, unit_of(person.commune_code), "TraCuuHoSo", SHARE_PATH, mahoso="H-OWN-0001")
        assert found.json()["result"][0]["MaDoiTuong"] == person.personal_id
        if expected:
            assert found.json()["result"][0]["SoBienNhan"] == expected


def test_a_citizen_cannot_take_a_number_of_a_commune_s_desk(client):
    """Squatting: a citizen who files first under a number a commune's one-stop system will
    use does not block the desk — the desk's numbers are the commune's namespace."""
    person = citizen(25)
    desk_number = f"{person.commune_code}-MC-000777"
    squatter = session_of(client, citizen(26).personal_id)
    assert sync(client, squatter, citizen(26), desk_number).status_code == 200
    officer = session_of(client, f"{person.commune_code}.officer3")
    desk = sync(client, officer, person, desk_number)
    assert desk.status_code == 200, desk.text
    # The applicant finds the desk's dossier by its number, through their commune.
    mine = call(client, session_of(client, person.personal_id), unit_of(person.commune_code), "TraCuuHoSo",
                SHARE_PATH, mahoso=desk_number).json()["result"]
    assert [d["SoBienNhan"] for d in mine] == [desk.json()["result"][0]["SoBienNhan"]]


def test_a_step_to_the_status_a_dossier_has_is_refused_as_natively_and_a_resync_is_no_move(client):
    person = citizen(23)
    session = session_of(client, person.personal_id)
    code = sync(client, session, person, "H-SAME-0001").json()["result"][0]["SoBienNhan"]
    officer = session_of(client, f"{person.commune_code}.officer2")
    step = call(client, officer, unit_of(person.commune_code), "CapNhatTienDoHoSoMC",
                data=[{"MaHoSo": code, "TrangThai": "1", "NoiDungXuLy": "Tiếp nhận"}])
    native = client.post(f"/dossiers/{code}/transitions", json={"to": 1}, headers=bearer(officer))
    assert (step.status_code, native.status_code) == (409, 409), step.text
    assert step.json()["error_code"] == ErrorCode.ILLEGAL_TRANSITION and step.json()["field"] == "data[0].TrangThai"
    resync = sync(client, officer, person, code, updating=True, TrangThaiHoSo="1")
    assert resync.status_code == 200 and resync.json()["result"][0]["TrangThaiHoSo"] == "1", resync.text


def test_an_update_is_refused_while_the_dossier_s_province_is_down(client):
    person = citizen(24)
    session = session_of(client, person.personal_id)
    code = sync(client, session, person, "H-DOWN-0001").json()["result"][0]["SoBienNhan"]
    province = load_roster().commune(person.commune_code).province_code
    officer = session_of(client, f"{person.commune_code}.officer2")
    fault = client.post("/admin/faults", headers=ADMIN, json={"id": "province-down", "kind": "error", "status": 503,
                                                              "province": province})
    assert fault.status_code == 201, fault.text
    try:
        update = sync(client, officer, person, code, updating=True, TrangThaiHoSo="2")
        assert update.status_code == 503 and update.json()["error_code"] == ErrorCode.UNAVAILABLE, update.text
    finally:
        client.delete("/admin/faults/province-down", headers=ADMIN)
    assert client.get(f"/dossiers/{code}", headers=bearer(session)).json()["status"] == 1


def test_a_locked_account_keeps_retry_after_in_the_adapter_s_form(client):
    account = f"{citizen(20).commune_code}.officer5"
    answers = [client.post(AUTH_PATH, json={"username": account, "password": "wrong"}, headers=DST) for _ in range(4)]
    locked = answers[-1]
    assert locked.status_code == 423 and locked.json()["error_code"] == ErrorCode.ACCOUNT_LOCKED
    assert int(locked.headers["retry-after"]) > 0


def test_injected_faults_on_the_face_answer_in_its_form_with_retry_after(client):
    fault = client.post("/admin/faults", headers=ADMIN, json={"id": "face-throttle", "kind": "error", "status": 429,
                                                              "route": INTEGRATION_PATH, "method": "POST"})
    assert fault.status_code == 201, fault.text
    try:
        r = call(client, None, "000.00.00.H26", "LayDanhSachTTHC")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json()["error_code"] == ErrorCode.THROTTLED and r.json()["reason"] == "injected_fault"
        native = client.get("/procedures?province=01")  # other routes keep the native form
        assert native.status_code == 200
    finally:
        client.delete("/admin/faults/face-throttle", headers=ADMIN)
    assert call(client, None, "000.00.00.H26", "LayDanhSachTTHC").status_code == 200


def test_a_refusal_of_the_http_layer_is_in_the_adapter_s_form(portal):
    """A head over the cap is refused before any handler runs (mocks.core.protocol), and
    still answered as the face answers, naming the header that made it too large."""
    raw = (f"POST {INTEGRATION_PATH} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           f"dstcode: {'a' * 20_000}\r\nContent-Length: 2\r\n\r\n{{}}").encode()
    status, headers, body = exchange(portal.url, raw)
    assert status == 431 and headers["content-type"] == "application/json" and headers["connection"] == "close"
    answer = orjson.loads(body)
    assert (answer["error_code"], answer["field"], answer["reason"]) == (
        ErrorCode.INVALID_REQUEST, "dstcode", "headers_too_large")
    assert "dstcode" in answer["message"]


def test_a_caller_gone_mid_body_is_no_server_error(portal):
    """A client that closes its connection before its body arrived is counted with the
    callers' mistakes, not as the service failing, and leaves no traceback."""
    before = requests_counted(portal.url, AUTH_PATH)
    abandon_body(portal.url, AUTH_PATH, {**DST, "Content-Type": "application/json"})
    after = wait_for_count(portal.url, AUTH_PATH, sum(before.values()))
    assert after.get("5xx", 0) == before.get("5xx", 0) and after.get("4xx", 0) == before.get("4xx", 0) + 1
    assert "Traceback" not in portal.log_text() and "ClientDisconnect" not in portal.log_text()
