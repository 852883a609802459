"""Fuzz the integration-adapter face from the portal's OpenAPI document: no generated input
gives a 5xx or a traceback, and every error is in the adapter's form."""

from __future__ import annotations

import pytest

from tests.support import fuzz_openapi

from .conftest import citizen, login_citizen

pytestmark = pytest.mark.e2e


def _adapter_error(body: dict) -> bool:
    return isinstance(body.get("error_code"), int) and body["error_code"] != 0 and bool(body.get("message"))


def test_no_generated_input_causes_a_server_error_on_the_adapter_face(portal, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Schemathesis keeps a .schemathesis/ cache in the working directory
    token = login_citizen(client, citizen(91))
    labels, statuses = fuzz_openapi(portal.url, lambda path: {"dstcode": "000.00.00.G22"}, only_prefix="/dvcqg/",
                                    error_form=_adapter_error, max_examples=60)
    assert labels == {"POST /dvcqg/auth", "POST /dvcqg/integration", "POST /dvcqg/share"}
    assert len(statuses) >= 150 and any(s >= 400 for s in statuses)
    assert token  # the citizen's session exists; generated sessions are forged ones


_FIELDS = ["MaHoSo", "MaTTHC", "ChuHoSo", "LoaiDoiTuong", "MaDoiTuong", "ThongTinKhac", "TrangThaiHoSo", "NgayTiepNhan",
           "SoDienThoai", "TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "HinhThuc", "TrangThai", "Khac"]  # fmt: skip


def test_mutated_items_behind_a_real_session_never_break_the_face_or_duplicate_a_dossier(portal, client):
    """Hypothesis mutates valid items (any field: another value, another type, absent, or an
    unknown one) and sends them with a valid session, so the checks behind the session run:
    no 5xx, every error in the adapter's form, and the ledger grows by exactly the dossiers
    the face acknowledged."""
    import httpx
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kernel.national.dvcqg import INTEGRATION_PATH

    from .test_dvcqg_face import DST, item, ledger, session_of, unit_of

    person = citizen(92)
    session = session_of(client, person.personal_id)
    before = len(ledger(client)["ids"]["dossiers"])
    acknowledged: set[str] = set()
    value = st.one_of(st.text(max_size=20), st.integers(-5, 20), st.none(), st.booleans(),
                      st.sampled_from(["1", "2", "10", "", "20250701080000", person.personal_id]),
                      st.lists(st.dictionaries(st.sampled_from(["TenGiayTo", "Gia", "x"]), st.text(max_size=5)), max_size=2),
                      st.dictionaries(st.sampled_from(["NgaySinh", "x"]), st.sampled_from(["20000101", "abc", ""])))  # fmt: skip

    @given(changes=st.dictionaries(st.sampled_from(_FIELDS), value, max_size=3),
           dropped=st.lists(st.sampled_from(_FIELDS), max_size=2),
           service=st.sampled_from(["DongBoHoSoMC", "DongBoHoSoMC", "CapNhatTienDoHoSoMC", "TraCuuHoSo"]),
           updating=st.sampled_from([False, True, "True", "no", None]), n=st.integers(0, 10**9))  # fmt: skip
    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(changes, dropped, service, updating, n):
        data = item(person, f"FUZZ-{n}")
        data.update(changes)
        for name in dropped:
            data.pop(name, None)
        envelope = {"session": session, "madonvi": unit_of(person.commune_code), "service": service,
                    "isUpdating": updating, "data": [data], "mahoso": data.get("MaHoSo")}  # fmt: skip
        r = httpx.post(portal.url + INTEGRATION_PATH, json=envelope, headers=DST, timeout=10)
        assert r.status_code < 500 or r.status_code == 503, r.text
        body = r.json()
        assert isinstance(body["error_code"], int) and "Traceback" not in r.text
        if r.status_code >= 400:
            assert body["error_code"] != 0 and body["message"]
        elif service == "DongBoHoSoMC" and updating in (False,) and body["error_code"] == 0:
            acknowledged.add(body["result"][0]["SoBienNhan"])

    check()
    after = ledger(client)["ids"]["dossiers"]
    assert len(after) - before == len(acknowledged) and acknowledged <= set(after)
