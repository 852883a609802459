"""End to end: the real portal and population mocks on loopback, over HTTP."""

from __future__ import annotations

import time

import pytest

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from mocks.portal.catalogue import catalogue_of
from mocks.portal.intermediary import SIGNATURE_HEADER, callback_key, sign

from .conftest import (
    ADMIN,
    bearer,
    citizen,
    dossier_body,
    ledger,
    login_citizen,
    login_officer,
)

pytestmark = pytest.mark.e2e


def free_procedure(province: str) -> str:
    return next(p.code for p in catalogue_of(province) if p.fee_vnd == 0)


def fee_procedure(province: str):
    return next(p for p in catalogue_of(province) if p.fee_vnd > 0)


def submit(client, token, person, key, procedure=None, **overrides):
    body = dossier_body(person, procedure or free_procedure(person.province_code), **overrides)
    return client.post("/dossiers", json=body, headers={**bearer(token), "Idempotency-Key": key})


# --- auth ------------------------------------------------------------------------------


def test_citizen_and_officer_sign_in(client):
    person = citizen(1)
    token = login_citizen(client, person)
    assert client.get("/dossiers/none", headers=bearer(token)).status_code == 404
    r = client.post("/auth/token", json={"kind": "officer", "account": "00004.officer1",
                                         "password": derive_password(DEFAULT_DRY_RUN_SECRET, "00004.officer1")})
    assert r.status_code == 200
    assert r.json()["role"] == "officer" and r.json()["commune_code"] == "00004"


def test_wrong_password_and_unknown_account_look_the_same(client):
    wrong = client.post("/auth/token", json={"kind": "officer", "account": "00004.officer2", "password": "nope"})
    unknown = client.post("/auth/token", json={"kind": "officer", "account": "99999.officer1", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_lockout_is_per_account_with_retry_after(client):
    account = "00008.officer3"
    good = derive_password(DEFAULT_DRY_RUN_SECRET, account)
    statuses = [client.post("/auth/token", json={"kind": "officer", "account": account, "password": "x"}).status_code
                for _ in range(3)]  # fmt: skip
    assert statuses == [401, 401, 423]
    locked = client.post("/auth/token", json={"kind": "officer", "account": account, "password": good})
    assert locked.status_code == 423
    assert locked.json()["error"]["code"] == "account_locked"
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    # Another account from the same client address is not affected (not per IP).
    assert client.post("/auth/token", json={"kind": "officer", "account": "00008.officer4",
                                            "password": derive_password(DEFAULT_DRY_RUN_SECRET, "00008.officer4")}
                       ).status_code == 200  # fmt: skip


def test_unknown_accounts_lock_too_no_enumeration(client):
    for _ in range(3):
        r = client.post("/auth/token", json={"kind": "officer", "account": "99999.officer9", "password": "x"})
    assert r.status_code == 423


def test_malformed_personal_id_is_422_naming_the_rule(client):
    r = client.post("/auth/token", json={"kind": "citizen", "personal_id": "999090123456", "password": "x"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_personal_id"
    assert r.json()["error"]["field"] == "personal_id"
    assert "birthplace" in r.json()["error"]["message"]


def test_logout_revokes_the_token(client):
    token = login_citizen(client, citizen(2))
    assert client.post("/auth/logout", headers=bearer(token)).status_code == 200
    r = client.get("/dossiers/x", headers=bearer(token))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_bad_tokens_are_401(client):
    assert client.post("/dossiers", json={}).status_code == 401
    r = client.get("/dossiers/x", headers=bearer("not.a.jwt"))
    assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"


# --- catalogue -------------------------------------------------------------------------


def test_procedures_of_a_province(client):
    r = client.get("/procedures", params={"province": "01"})
    assert r.status_code == 200
    codes = [p["code"] for p in r.json()["procedures"]]
    assert "1.011442.000.00.00.H26" in codes and r.json()["published"] is True


@pytest.mark.parametrize(("province", "status", "code"), [("99", 404, "unknown_province"), ("1", 422, "invalid_province"),
                                                          ("0a", 422, "invalid_province")])  # fmt: skip
def test_bad_province_parameter(client, province, status, code):
    r = client.get("/procedures", params={"province": province})
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert r.json()["error"]["field"] == "province"


# --- submission ------------------------------------------------------------------------


def test_submit_then_retry_returns_the_original(client):
    person = citizen(10)
    token = login_citizen(client, person)
    first = submit(client, token, person, "submit-10")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == 1 and body["status_name"] == "submitted"
    assert body["code"].startswith(person.commune_code + "-")
    retry = submit(client, token, person, "submit-10")
    assert retry.status_code == 201 and retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert ledger(client)["ids"]["dossiers"].count(body["code"]) == 1
    read = client.get(f"/dossiers/{body['code']}", headers=bearer(token)).json()
    assert read["applicant"]["full_name"] == person.full_name
    assert [h["to"] for h in read["history"]] == [1]


def test_key_reused_with_another_body_is_422(client):
    person = citizen(11)
    token = login_citizen(client, person)
    assert submit(client, token, person, "reuse-11").status_code == 201
    r = submit(client, token, person, "reuse-11", fields={"reason": "khác"})
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "idempotency_key_reused", "field": "Idempotency-Key",
                                 "message": r.json()["error"]["message"]}  # fmt: skip


def test_missing_idempotency_key_is_400(client):
    person = citizen(12)
    token = login_citizen(client, person)
    r = client.post("/dossiers", json=dossier_body(person, free_procedure(person.province_code)), headers=bearer(token))
    assert r.status_code == 400 and r.json()["error"]["field"] == "Idempotency-Key"


def test_identity_mismatch_is_422_and_not_stored(client):
    person = citizen(13)
    token = login_citizen(client, person)
    before = ledger(client)["counts"]["dossiers"]
    applicant = {"personal_id": person.personal_id, "full_name": "Không Phải Tên", "date_of_birth": "1990-01-01"}
    r = submit(client, token, person, "mismatch-13", applicant=applicant)
    assert r.status_code == 422 and r.json()["error"]["code"] == "identity_mismatch"
    assert ledger(client)["counts"]["dossiers"] == before


def test_cannot_submit_in_someone_elses_name(client):
    me, other = citizen(14), citizen(15)
    token = login_citizen(client, me)
    r = submit(client, token, other, "other-14")
    assert r.status_code == 403 and r.json()["error"]["field"] == "applicant.personal_id"


def test_mass_assignment_keys_are_refused(client):
    person = citizen(16)
    token = login_citizen(client, person)
    r = submit(client, token, person, "mass-16", status=9)
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "unknown_field", "field": "status", "message": "unknown field 'status' is not accepted"}


def test_a_field_spelt_like_a_type_is_named_as_itself(client):
    # "url" is also the tag pydantic-core gives a URL union member: it was dropped from the
    # location, so the answer named "attachments[0]" (or None: "None: String should have…").
    person = citizen(17)
    token = login_citizen(client, person)
    r = submit(client, token, person, "spelt-17", attachments=[{"name": "paper.pdf", "url": ""}])
    assert r.status_code == 422 and r.json()["error"]["field"] == "attachments[0].url", r.text
    r = submit(client, token, person, "spelt-17b", url="https://example.invalid/x")
    assert r.json()["error"] == {"code": "unknown_field", "field": "url", "message": "unknown field 'url' is not accepted"}


def test_abolished_and_unknown_communes(client):
    person = citizen(17)
    token = login_citizen(client, person)
    from kernel.roster import load_roster

    roster = load_roster()
    old = next(code for code in roster.old_commune_splits if code not in {c.code for c in roster.communes})
    r = submit(client, token, person, "old-17", commune_code=old)
    assert r.status_code == 422 and r.json()["error"]["code"] == "commune_abolished"
    assert all(new in r.json()["error"]["message"] for new in roster.old_commune_splits[old])
    r = submit(client, token, person, "unk-17", commune_code="99999")
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_commune"


def test_procedure_of_another_province_is_422(client):
    person = citizen(18)
    token = login_citizen(client, person)
    other = "79" if person.province_code != "79" else "01"
    r = submit(client, token, person, "proc-18", procedure=free_procedure(other))
    assert r.status_code == 422 and r.json()["error"]["field"] == "procedure_code"


def test_bad_input_is_4xx_never_5xx(client):
    person = citizen(19)
    token = login_citizen(client, person)
    headers = {**bearer(token), "Idempotency-Key": "bad-19"}
    cases = [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 422),
        (b'{"procedure_code": 1}', "application/json", 422),
        (b"{}", "text/plain", 415),
        (b'{"x":"' + b"a" * (2 * 1024 * 1024) + b'"}', "application/json", 413),
    ]
    for content, ctype, status in cases:
        r = client.post("/dossiers", content=content, headers={**headers, "content-type": ctype})
        assert r.status_code == status, (content[:30], r.text)
        assert "error" in r.json()


# --- access control ----------------------------------------------------------------------


def test_bola_another_citizen_cannot_read_or_act_on_a_dossier(client):
    owner, stranger = citizen(20), citizen(21)
    t_owner, t_stranger = login_citizen(client, owner), login_citizen(client, stranger)
    code = submit(client, t_owner, owner, "bola-20").json()["code"]
    r = client.get(f"/dossiers/{code}", headers=bearer(t_stranger))
    missing = client.get(f"/dossiers/{owner.commune_code}-250701-999999", headers=bearer(t_stranger))
    assert r.status_code == missing.status_code == 404
    assert r.json()["error"]["code"] == missing.json()["error"]["code"] == "dossier_not_found"
    assert client.post(f"/dossiers/{code}/transitions", json={"to": 7}, headers=bearer(t_stranger)).status_code == 404


def test_officers_see_and_move_only_their_communes_dossiers(client):
    person = citizen(22)
    token = login_citizen(client, person)
    code = submit(client, token, person, "officer-22").json()["code"]
    other_commune = "00004" if person.commune_code != "00004" else "00008"
    stranger = login_officer(client, other_commune)
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 2}, headers=bearer(stranger))
    assert r.status_code == 404
    assert client.get(f"/dossiers/{code}", headers=bearer(stranger)).status_code == 404
    assert code not in [d["code"] for d in client.get("/dossiers", headers=bearer(stranger)).json()["items"]]
    mine = login_officer(client, person.commune_code, 2)
    assert code in [d["code"] for d in client.get("/dossiers?status=1&limit=200", headers=bearer(mine)).json()["items"]]
    assert client.get(f"/dossiers/{code}", headers=bearer(mine)).status_code == 200


def test_transitions_illegal_and_withdrawal_rules(client):
    person = citizen(23)
    token = login_citizen(client, person)
    code = submit(client, token, person, "trans-23").json()["code"]
    officer = login_officer(client, person.commune_code)
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 9}, headers=bearer(officer))
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    assert "from 1 to 9" in r.json()["error"]["message"]
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 2}, headers=bearer(token))
    assert r.status_code == 403  # the owner cannot accept their own dossier
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 7}, headers=bearer(officer))
    assert r.status_code == 403  # only the applicant withdraws
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 7, "note": "nhầm"}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == 7
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 2}, headers=bearer(officer))
    assert r.status_code == 409 and "terminal" in r.json()["error"]["message"]


def test_a_dossier_without_a_fee_is_never_put_in_fees_due(client):
    person = citizen(27)
    token = login_citizen(client, person)
    code = submit(client, token, person, "no-fee-27").json()["code"]  # a free procedure
    officer = login_officer(client, person.commune_code)
    for to in (2, 4):
        assert client.post(f"/dossiers/{code}/transitions", json={"to": to}, headers=bearer(officer)).status_code == 200
    r = client.post(f"/dossiers/{code}/transitions", json={"to": 6}, headers=bearer(officer))
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_fee_due", r.text
    assert r.json()["error"]["field"] == "to"


def test_worklist_pages_with_a_cursor(client):
    person = citizen(24)
    token = login_citizen(client, person)
    for i in range(3):
        assert submit(client, token, person, f"page-24-{i}").status_code == 201
    officer = login_officer(client, person.commune_code, 3)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/dossiers", params=params, headers=bearer(officer)).json()
        seen += [d["code"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 3
    r = client.get("/dossiers", params={"limit": 0}, headers=bearer(officer))
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
    assert client.get("/dossiers", headers=bearer(token)).status_code == 403


# --- payments, feedback, public look-up ------------------------------------------------


def _wait_status(client, code, token, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/dossiers/{code}", headers=bearer(token)).json()
        if body["status"] == status:
            return body
        time.sleep(0.05)
    raise AssertionError(f"dossier {code} never reached status {status}: {body}")


def test_payment_callback_moves_the_dossier_to_processing(client):
    person = citizen(25)
    procedure = fee_procedure(person.province_code)
    token = login_citizen(client, person)
    code = submit(client, token, person, "pay-25", procedure=procedure.code).json()["code"]
    officer = login_officer(client, person.commune_code)
    pay = {**bearer(token), "Idempotency-Key": "pay-25"}
    assert client.post(f"/dossiers/{code}/payments", headers=pay).status_code == 409  # not in status 6 yet
    for to in (2, 4, 6):
        assert client.post(f"/dossiers/{code}/transitions", json={"to": to}, headers=bearer(officer)).status_code == 200
    r = client.post(f"/dossiers/{code}/payments", headers=pay)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending" and r.json()["amount_vnd"] == procedure.fee_vnd
    again = client.post(f"/dossiers/{code}/payments", headers=pay)
    assert again.status_code == 201 and again.content == r.content
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in r.headers
    reused = client.post(f"/dossiers/{code}/payments", json={"intermediary": "vnpay"}, headers=pay)
    assert reused.status_code == 422
    assert reused.json()["error"] == {"code": "idempotency_key_reused", "field": "Idempotency-Key",
                                      "message": reused.json()["error"]["message"]}  # fmt: skip
    spelled_out = client.post(f"/dossiers/{code}/payments", json={"intermediary": "napas"}, headers=pay)
    assert spelled_out.content == r.content  # the default body, written out, is the same request
    other_key = client.post(f"/dossiers/{code}/payments", headers={**pay, "Idempotency-Key": "pay-25-b"})
    assert other_key.status_code in (409,)  # pending (or already paid and back in 4): never a second payment
    body = _wait_status(client, code, token, 4)
    assert body["history"][-1]["actor"] == "payment"
    assert r.json()["payment_id"] in ledger(client)["ids"]["payments"]


def test_callback_signature_and_duplicates(client):
    person = citizen(26)
    procedure = fee_procedure(person.province_code)
    token = login_citizen(client, person)
    code = submit(client, token, person, "cb-26", procedure=procedure.code).json()["code"]
    officer = login_officer(client, person.commune_code)
    for to in (2, 4, 6):
        client.post(f"/dossiers/{code}/transitions", json={"to": to}, headers=bearer(officer))
    payment = client.post(f"/dossiers/{code}/payments", headers={**bearer(token), "Idempotency-Key": "cb-26"}).json()
    _wait_status(client, code, token, 4)
    import orjson

    body = orjson.dumps({"payment_id": payment["payment_id"], "dossier_code": code, "amount_vnd": procedure.fee_vnd,
                         "status": "paid", "transaction_ref": "NPDUP", "paid_at": "2025-07-01T00:00:00Z"})  # fmt: skip
    forged = client.post("/payments/callback", content=body,
                         headers={"content-type": "application/json", SIGNATURE_HEADER: sign(b"wrong", body)})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    good_sig = sign(callback_key(DEFAULT_DRY_RUN_SECRET), body)
    dup = client.post("/payments/callback", content=body,
                      headers={"content-type": "application/json", SIGNATURE_HEADER: good_sig})
    assert dup.status_code == 200 and dup.json()["duplicate"] is True
    history = client.get(f"/dossiers/{code}", headers=bearer(token)).json()["history"]
    assert [h["to"] for h in history] == [1, 2, 4, 6, 4]


def test_feedback(client):
    person = citizen(27)
    token = login_citizen(client, person)
    r = client.post("/feedback", json={"commune_code": person.commune_code, "subject": "Hệ thống chậm",
                                       "body": "Trang bị treo khi nộp hồ sơ"}, headers=bearer(token))  # fmt: skip
    assert r.status_code == 201 and r.json()["id"].startswith("PAKN-")
    assert r.json()["id"] in ledger(client)["ids"]["feedback"]
    bad = client.post("/feedback", json={"commune_code": "99999", "subject": "x", "body": "y"}, headers=bearer(token))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "commune_code"


def test_public_lookup_needs_code_and_owner_id(client):
    person, other = citizen(28), citizen(29)
    token = login_citizen(client, person)
    code = submit(client, token, person, "pub-28").json()["code"]
    ok = client.get(f"/public/dossiers/{code}", params={"personal_id": person.personal_id})
    assert ok.status_code == 200 and ok.json()["status"] == 1 and "applicant" not in ok.json()
    wrong = client.get(f"/public/dossiers/{code}", params={"personal_id": other.personal_id})
    missing = client.get(f"/public/dossiers/{code}9", params={"personal_id": person.personal_id})
    assert wrong.status_code == missing.status_code == 404 and wrong.json() == missing.json()


def test_openapi_lists_the_route_contract(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/auth/token", "/auth/logout", "/procedures", "/dossiers", "/dossiers/{code}",
                 "/dossiers/{code}/transitions", "/dossiers/{code}/payments", "/payments/callback",
                 "/public/dossiers/{code}", "/feedback"):  # fmt: skip
        assert path in paths
    assert client.get("/admin/ledger").status_code == 401
    assert client.get("/admin/ledger", headers=ADMIN).status_code == 200
