"""The population mock's C06 SOAP face, through a real zeep client and raw HTTP, against a
real service process: the same citizens, roles, audit and throttle as the native face."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault

from kernel.national.c06 import C06_NS, ENDPOINT_PATH
from kernel.synthetic import citizen_at
from tests.mocks.population.c06_client import birth_text, envelope, request_fields, signed_headers, zeep_client
from tests.mocks.population.conftest import unready_readiness
from tests.mocks.wire import abandon_body, exchange, requests_counted, wait_for_count

if TYPE_CHECKING:
    from conftest import PopulationServer

pytestmark = pytest.mark.e2e

LOOKUP = "TraCuuThongTinCongDan"
VERIFY = "XacThucThongTinCongDan"
DC = {"dc": C06_NS, "s": "http://schemas.xmlsoap.org/soap/envelope/"}


@pytest.fixture(scope="module")
def url(population: PopulationServer) -> str:
    return population.url + ENDPOINT_PATH


def _post(http: httpx.Client, url: str, body: bytes, user: str, secret: str, **header_overrides: str | None
          ) -> httpx.Response:
    headers = signed_headers(url, user, secret)
    for name, value in header_overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return http.post(url, content=body, headers=headers)


def _fault(response: httpx.Response) -> dict[str, str | None]:
    """faultcode and the Loi detail of a fault answer (asserting it is one)."""
    root = etree.fromstring(response.content)
    fault = root.find("s:Body/s:Fault", DC)
    assert fault is not None, response.text
    loi = fault.find("detail/dc:Loi", DC)
    assert loi is not None, response.text
    return {
        "faultcode": fault.findtext("faultcode"),
        "faultstring": fault.findtext("faultstring"),
        "code": loi.findtext("dc:MaLoi", namespaces=DC),
        "element": loi.findtext("dc:PhanTu", namespaces=DC),
        "legacy": loi.findtext("dc:MaLoiTichHop", namespaces=DC),
    }


# -- happy paths through zeep, loading the served WSDL ---------------------------------------


def test_zeep_loads_the_served_wsdl_and_verifies_a_citizen(population: PopulationServer, dry_run_secret: str) -> None:
    client = zeep_client(population.url, "province-01", dry_run_secret)
    c = citizen_at(population.seed, 3)
    fields = {k: v for k, v in request_fields(VERIFY, c.personal_id, c.full_name.lower()).items() if v is not None}
    answer = client.service.XacThucThongTinCongDan(**fields, NgayThangNamSinh={"NgayThangNam": birth_text(c.date_of_birth)})
    assert (answer.MaYeuCau, answer.TonTai) == ("REQ-1", True)
    wrong = client.service.XacThucThongTinCongDan(**fields, NgayThangNamSinh={"NgayThangNam": "19000101"})
    assert wrong.TonTai is False
    by_year = client.service.XacThucThongTinCongDan(**fields, NgayThangNamSinh={"Nam": str(c.date_of_birth.year)})
    assert by_year.TonTai is True


@pytest.mark.parametrize(
    ("user", "elements"),
    [
        ("police", {"SoDinhDanh", "HoVaTen", "NgayThangNam", "GioiTinh", "ThuongTru", "MaXa", "MaTinh"}),
        ("portal", {"SoDinhDanh", "HoVaTen", "NgayThangNam", "MaXa"}),
        ("province-01", {"SoDinhDanh", "HoVaTen", "Nam", "MaXa"}),
    ],
)
def test_a_lookup_shows_what_the_native_face_shows_to_the_same_role(
    population: PopulationServer, http: httpx.Client, dry_run_secret: str, user: str, elements: set[str]
) -> None:
    c = citizen_at(population.seed, 7)
    client = zeep_client(population.url, user, dry_run_secret)
    fields = {k: v for k, v in request_fields(LOOKUP, c.personal_id).items() if v is not None}
    answer = client.service.TraCuuThongTinCongDan(**fields)
    assert answer.TonTai is True
    citizen = answer.CongDan
    native = http.get(f"/citizens/{c.personal_id}", params={"purpose": "compare"},
                      headers=population.auth(http, user)).json()
    seen = {name for name in ("SoDinhDanh", "HoVaTen", "GioiTinh", "ThuongTru", "MaXa", "MaTinh")
            if getattr(citizen, name) is not None}
    born = citizen.NgayThangNamSinh
    seen |= {name for name in ("NgayThangNam", "Nam") if getattr(born, name) is not None}
    assert seen == elements
    assert (citizen.SoDinhDanh, citizen.HoVaTen, citizen.MaXa) == (
        native["personal_id"], native["full_name"], native["commune_code"])
    if "date_of_birth" in native:
        assert born.NgayThangNam == native["date_of_birth"].replace("-", "")
    else:
        assert born.Nam == str(native["birth_year"])
    if "sex" in native:
        assert citizen.GioiTinh == {"male": "1", "female": "2"}[native["sex"]]
        assert (citizen.ThuongTru, citizen.MaTinh) == (native["address"], native["province_code"])


def test_a_lookup_with_a_wrong_claim_answers_like_an_unknown_id(
    population: PopulationServer, http: httpx.Client, url: str, dry_run_secret: str
) -> None:
    c = citizen_at(population.seed, 8)
    right = _post(http, url, envelope(LOOKUP, request_fields(LOOKUP, c.personal_id, c.full_name),
                                      birth=birth_text(c.date_of_birth)), "portal", dry_run_secret)
    assert b"<dc:TonTai>true</dc:TonTai><dc:CongDan>" in right.content
    unknown = citizen_at(population.seed, population.size + 5)
    answers = {
        _post(http, url, envelope(LOOKUP, request_fields(LOOKUP, pid, name), birth=born), "portal", dry_run_secret).content
        for pid, name, born in [
            (unknown.personal_id, None, None),
            (c.personal_id, "Nguyễn Văn Sai", birth_text(c.date_of_birth)),
            (c.personal_id, c.full_name, "19000101"),
        ]
    }
    assert len(answers) == 1
    assert b"<dc:TonTai>false</dc:TonTai></dc:TraCuuThongTinCongDanResponse>" in answers.pop()


def test_no_match_is_byte_identical_whatever_the_reason(
    population: PopulationServer, http: httpx.Client, url: str, dry_run_secret: str
) -> None:
    c = citizen_at(population.seed, 9)
    unknown = citizen_at(population.seed, population.size + 9)
    cases = [
        (unknown.personal_id, unknown.full_name, birth_text(unknown.date_of_birth), None),  # unknown ID
        (c.personal_id, "Trần Thị Khác", birth_text(c.date_of_birth), None),  # wrong name
        (c.personal_id, c.full_name, birth_text(c.date_of_birth + dt.timedelta(days=1)), None),  # wrong date
        (c.personal_id, c.full_name, None, str(c.date_of_birth.year + 1)),  # wrong year
    ]
    answers = []
    for pid, name, born, year in cases:
        response = _post(http, url, envelope(VERIFY, request_fields(VERIFY, pid, name), birth=born, year=year),
                         "province-08", dry_run_secret)
        answers.append((response.status_code, dict(response.headers), response.content))
    statuses = {a[0] for a in answers}
    bodies = {a[2] for a in answers}
    headers = {tuple(sorted((k, v) for k, v in a[1].items() if k not in ("date",))) for a in answers}
    assert statuses == {200} and len(bodies) == 1 and len(headers) == 1
    assert b"<dc:TonTai>false</dc:TonTai>" in bodies.pop()


# -- one service under both faces ------------------------------------------------------------


def test_a_face_check_is_audited_like_a_native_one_and_the_ledger_counts_both(
    population: PopulationServer, http: httpx.Client, url: str, dry_run_secret: str
) -> None:
    c = citizen_at(population.seed, 11)
    before = http.get("/admin/ledger", headers=population.admin).json()["counts"]["audit_entries"]
    fields = request_fields(VERIFY, c.personal_id, c.full_name, MaYeuCau="REQ-AUDIT-1", MaDVC="1.000046", MaCanBo="cb7")
    assert _post(http, url, envelope(VERIFY, fields, birth=birth_text(c.date_of_birth)), "province-12",
                 dry_run_secret).status_code == 200
    native = http.post("/citizens/verify", headers=population.auth(http, "province-12"),
                       json={"personal_id": c.personal_id, "full_name": c.full_name,
                             "date_of_birth": c.date_of_birth.isoformat(), "purpose": "native check"})
    assert native.json() == {"match": True}
    entries: list[dict] = []
    for _ in range(50):  # the audit writer flushes every 50 ms
        entries = http.get("/admin/audit", params={"subject": c.personal_id}, headers=population.admin).json()["entries"]
        if len(entries) >= 2:
            break
        time.sleep(0.05)
    by_purpose = {e["purpose"]: e for e in entries}
    face = by_purpose["1.000046/REQ-AUDIT-1/cb7"]
    assert (face["caller"], face["role"], face["action"], face["result"]) == ("province-12", "commune_officer",
                                                                             "verify", "match")
    assert by_purpose["native check"]["caller"] == "province-12"
    after = http.get("/admin/ledger", headers=population.admin).json()["counts"]["audit_entries"]
    assert after >= before + 2


def test_a_resent_request_gets_the_same_answer_and_each_access_is_audited(
    population: PopulationServer, http: httpx.Client, url: str, dry_run_secret: str
) -> None:
    # At-least-once delivery through a gateway: a re-sent call (same MaYeuCau) has the same
    # effect — the same answer — and the register records every access, as it must.
    c = citizen_at(population.seed, 12)
    body = envelope(LOOKUP, request_fields(LOOKUP, c.personal_id, MaYeuCau="REQ-RESENT"))
    first, again = (_post(http, url, body, "portal", dry_run_secret) for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.content == again.content
    entries: list[dict] = []
    for _ in range(50):  # the audit writer flushes every 50 ms
        entries = [e for e in http.get("/admin/audit", params={"subject": c.personal_id},
                                       headers=population.admin).json()["entries"] if "REQ-RESENT" in e["purpose"]]
        if len(entries) >= 2:
            break
        time.sleep(0.05)
    assert [(e["action"], e["result"]) for e in entries] == [("lookup", "found")] * 2


# -- bad input: every class answers a Client fault naming the element, never a 5xx -----------

_BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
                   b'<lolz>&lol2;</lolz>')
_XXE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&xxe;'
        b"</soapenv:Body></soapenv:Envelope>")


def _deep(levels: int) -> bytes:
    return (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            + b"<a>" * levels + b"</a>" * levels + b"</soapenv:Body></soapenv:Envelope>")


def _good(**extra: str | None) -> bytes:
    c = citizen_at(11, 1)
    return envelope(VERIFY, request_fields(VERIFY, c.personal_id, c.full_name, **extra), birth="19800101")


@pytest.mark.parametrize(
    ("body", "status", "code", "element"),
    [
        (b"not xml at all", 400, "malformed_xml", None),
        (b"<soapenv:Envelope", 400, "malformed_xml", None),
        (_BILLION_LAUGHS, 400, "forbidden_dtd", None),
        (_XXE, 400, "forbidden_dtd", None),
        (_BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
         .encode("utf-16"), 400, "forbidden_dtd", None),
        # An external parameter entity, which libxml2 loads whatever load_dtd says: no file is
        # read (an existing one would break the internal subset: malformed_xml).
        ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY % f SYSTEM "file:///etc/passwd"> %f;]>'
         "<x/>".encode("utf-16"), 400, "forbidden_dtd", None),
        (_deep(20), 400, "too_deep", None),
        (_deep(300), 400, "malformed_xml", None),
        (_good().replace(b"<soapenv:Header/>", b"<soapenv:Header>" + b"<h>" * 15 + b"</h>" * 15 + b"</soapenv:Header>"),
         400, "too_deep", None),  # a well-formed call under a deep Header  # past libxml2's own limit, as the axis refuses it
        (b"<x " + b"a" * 70_000 + b"/>", 413, "body_too_large", None),
        (b"<Envelope/>", 400, "missing_element", "Envelope"),
        (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>', 400, "missing_element", "Body"),
        (envelope("XoaCongDan", {"MaYeuCau": "1"}), 400, "unknown_operation", "XoaCongDan"),
        (_good(MaYeuCau=None), 400, "missing_field", "MaYeuCau"),
        (_good(HoVaTen=None), 400, "missing_field", "HoVaTen"),
        (_good(MaTichHop="037"), 400, "invalid_field", "MaTichHop"),
        (_good(MaDVC=""), 400, "invalid_field", "MaDVC"),
        (_good(MaCanBo="x" * 65), 400, "invalid_field", "MaCanBo"),
        (_good(SoDinhDanh="0123"), 400, "invalid_personal_id", "SoDinhDanh"),
        (_good(SoDinhDanh="999045000001"), 400, "invalid_personal_id", "SoDinhDanh"),
        (_good().replace(b"<dan:MaDVC>", b"<dan:Khac>1</dan:Khac><dan:MaDVC>"), 400, "unknown_field", "Khac"),
        (_good().replace(b"<dan:MaDVC>", b"<dan:MaDVC>1</dan:MaDVC><dan:MaDVC>"), 400, "invalid_field", "MaDVC"),
        (_good().replace(b"19800101", b"19801301"), 400, "invalid_field", "NgayThangNamSinh/NgayThangNam"),
        (_good().replace(b"19800101", b"1980-01-01"), 400, "invalid_field", "NgayThangNamSinh/NgayThangNam"),
        (_good().replace(b"<dan:NgayThangNam>19800101</dan:NgayThangNam>", b"<dan:Nam>80</dan:Nam>"), 400,
         "invalid_field", "NgayThangNamSinh/Nam"),
        (_good().replace(b"</dan:NgayThangNam>", b"</dan:NgayThangNam><dan:Nam>1980</dan:Nam>"), 400,
         "invalid_field", "NgayThangNamSinh"),
        (_good().replace(b"<dan:HoVaTen>", b"<dan:HoVaTen><dan:Ho>A</dan:Ho>"), 400, "invalid_field", "HoVaTen"),
        (_good().replace(b"<dan:MaDVC>", b"text<dan:MaDVC>"), 400, "invalid_field", VERIFY),  # between fields
        (_good().replace(b"</dan:NgayThangNam>", b"</dan:NgayThangNam>text"), 400, "invalid_field", "NgayThangNamSinh"),
        # Text beside the operation, or beside the Header and the Body: a Body's entries are elements.
        (_good().replace(b"<soapenv:Body>", b"<soapenv:Body>text"), 400, "invalid_field", "Body"),
        (_good().replace(b"<soapenv:Body>", b"<soapenv:Body><![CDATA[text]]>"), 400, "invalid_field", "Body"),
        (_good().replace(b"</soapenv:Body>", b"</soapenv:Body>text"), 400, "invalid_field", "Envelope"),
        (_good().replace(b"<soapenv:Header/>", b"text<soapenv:Header/>"), 400, "invalid_field", "Envelope"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_messages_are_client_faults_naming_the_element(
    http: httpx.Client, url: str, dry_run_secret: str, body: bytes, status: int, code: str, element: str | None
) -> None:
    response = _post(http, url, body, "province-04", dry_run_secret)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/xml")
    fault = _fault(response)
    assert (fault["faultcode"], fault["code"], fault["element"]) == ("soapenv:Client", code, element)
    assert fault["faultstring"] and "Traceback" not in response.text


def test_a_malformed_id_carries_the_rule_and_legacy_code(http: httpx.Client, url: str, dry_run_secret: str) -> None:
    fault = _fault(_post(http, url, _good(SoDinhDanh="0123"), "province-04", dry_run_secret))
    assert fault["legacy"] == "302" and "format rule" in (fault["faultstring"] or "")


@pytest.mark.parametrize(
    ("overrides", "status", "code", "element"),
    [
        ({"Content-Type": "application/json"}, 415, "unsupported_media_type", "Content-Type"),
        ({"Timestamp": None}, 401, "missing_header", "Timestamp"),
        ({"Timestamp": "yesterday"}, 401, "invalid_header", "Timestamp"),
        ({"Timestamp": str(int(time.time() * 1000) - 3_600_000)}, 401, "stale_timestamp", "Timestamp"),
        ({"Authorization": None}, 401, "missing_header", "Authorization"),
        ({"Authorization": "Bearer abc"}, 401, "invalid_header", "Authorization"),
        ({"Authorization": "Basic !!!"}, 401, "invalid_header", "Authorization"),
        ({"Authorization": "Basic cHJvdmluY2UtMDQ6MDAwMA=="}, 401, "invalid_signature", "Authorization"),
        ({"X-Road-Client": None}, 401, "missing_header", "X-Road-Client"),
        ({"X-Road-Client": "VN/GOV/000.00.00.H26/province-05"}, 403, "client_mismatch", "X-Road-Client"),
        ({"ApiKey": None}, 401, "missing_header", "ApiKey"),
    ],
)
def test_bad_headers_are_refused_before_the_message_is_read(
    http: httpx.Client, url: str, dry_run_secret: str, overrides: dict, status: int, code: str, element: str
) -> None:
    response = _post(http, url, b"<unread/>", "province-04", dry_run_secret, **overrides)
    assert response.status_code == status, response.text
    fault = _fault(response)
    assert (fault["faultcode"], fault["code"], fault["element"]) == ("soapenv:Client", code, element)


def test_an_unknown_client_and_a_wrong_secret_are_refused(http: httpx.Client, url: str, dry_run_secret: str) -> None:
    unknown = _fault(_post(http, url, _good(), "province-99", dry_run_secret, X_Road_Client="VN/GOV/x/province-99"))
    assert (unknown["code"], unknown["element"], unknown["legacy"]) == ("unknown_province", "Authorization", "108")
    wrong = _post(http, url, _good(), "province-04", "not-the-secret")
    assert wrong.status_code == 401 and _fault(wrong)["code"] == "invalid_signature"


def test_the_hash_covers_the_endpoint_url(http: httpx.Client, url: str, dry_run_secret: str) -> None:
    headers = signed_headers(url.replace("/c06/", "/other/"), "province-04", dry_run_secret)
    response = http.post(url, content=_good(), headers=headers)
    assert response.status_code == 401 and _fault(response)["code"] == "invalid_signature"


def test_zeep_raises_the_fault_with_its_detail(population: PopulationServer, dry_run_secret: str) -> None:
    client = zeep_client(population.url, "province-04", dry_run_secret)
    fields = {k: v for k, v in request_fields(VERIFY, "0123", "A").items() if v is not None}
    with pytest.raises(Fault) as raised:
        client.service.XacThucThongTinCongDan(**fields, NgayThangNamSinh={"NgayThangNam": "19800101"})
    assert raised.value.code == "soapenv:Client"
    assert raised.value.detail.find(f"{{{C06_NS}}}Loi/{{{C06_NS}}}PhanTu").text == "SoDinhDanh"


def test_a_path_or_method_the_face_lacks_is_a_fault_too(http: httpx.Client, url: str) -> None:
    missing = http.post(url.replace("CongDanService", "HoTichService"), content=_good())
    fault = _fault(missing)
    assert (missing.status_code, fault["faultcode"], fault["code"], fault["element"]) == (
        404, "soapenv:Client", "not_found", "path")
    bare = http.post(url.replace("/c06/CongDanService", "/c06"), content=_good())  # the face's root, no slash
    assert (bare.status_code, _fault(bare)["code"]) == (404, "not_found")
    wrong = http.put(url, content=_good())
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD, POST")
    assert _fault(wrong)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("extra", "status", "code", "element"),
    [
        (b"ApiKey: " + b"k" * 20_000 + b"\r\n", 431, "headers_too_large", "ApiKey"),
        (b"X-Bad: a\x7fb\r\n", 400, "invalid_http", None),
    ],
    ids=["head-over-the-cap", "bad-header-byte"],
)
def test_a_refusal_of_the_http_layer_is_a_fault_too(population: PopulationServer, extra: bytes, status: int, code: str,
                                                   element: str | None) -> None:
    """Refused before any handler runs (mocks.core.protocol), and still in the face's form."""
    raw = (f"POST {ENDPOINT_PATH} HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml\r\n".encode() + extra
           + b"Content-Length: 6\r\n\r\n<x/>\r\n")
    got, headers, body = exchange(population.url, raw)
    assert got == status and headers["content-type"].startswith("text/xml") and headers["connection"] == "close"
    fault = _fault(httpx.Response(got, content=body))
    assert (fault["faultcode"], fault["code"], fault["element"]) == ("soapenv:Client", code, element)


def test_a_caller_gone_mid_message_is_no_server_error(population: PopulationServer, url: str,
                                                      dry_run_secret: str) -> None:
    """A client that closes its connection before its message arrived is counted with the
    callers' mistakes, not as the service failing, and leaves no traceback."""
    before = requests_counted(population.url, ENDPOINT_PATH)
    abandon_body(population.url, ENDPOINT_PATH, signed_headers(url, "portal", dry_run_secret))
    after = wait_for_count(population.url, ENDPOINT_PATH, sum(before.values()))
    assert after.get("5xx", 0) == before.get("5xx", 0) and after.get("4xx", 0) == before.get("4xx", 0) + 1
    assert "Traceback" not in population.log.read_text(errors="replace")


def test_get_serves_only_the_wsdl(http: httpx.Client, url: str) -> None:
    wsdl = http.get(url, params="wsdl")
    assert wsdl.status_code == 200 and f'location="{url}"'.encode() in wsdl.content
    other = http.get(url)
    assert other.status_code == 400 and _fault(other)["code"] == "wsdl_only"


@pytest.mark.parametrize("host", ["a&b", "x<y", '127.0.0.1:1"/><evil x="', "host name"])
def test_a_host_header_that_is_no_authority_is_refused_not_put_into_the_wsdl(http: httpx.Client, url: str,
                                                                             host: str) -> None:
    """The WSDL's address is built from the Host header: markup there would be markup in it."""
    answer = http.get(url, params="wsdl", headers={"Host": host})
    assert (answer.status_code, _fault(answer)["code"], _fault(answer)["element"]) == (400, "invalid_header", "Host")
    assert b"evil" not in answer.content


# -- the shared gate: throttle and readiness -------------------------------------------------

BURST = 4


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory, start_population) -> Iterator[PopulationServer]:
    root = tmp_path_factory.mktemp("c06-gated")
    readiness = unready_readiness(root)
    with start_population(root / "data", size=300, readiness=readiness,
                          settings={"rate_limit_per_s": 1, "rate_limit_burst": BURST}) as server:
        yield server


def test_the_face_and_the_native_api_share_one_throttle_per_client(gated: PopulationServer, dry_run_secret: str) -> None:
    url = gated.url + ENDPOINT_PATH
    c = citizen_at(gated.seed, 1)
    body = envelope(VERIFY, request_fields(VERIFY, c.personal_id, c.full_name), birth=birth_text(c.date_of_birth))
    with gated.client() as http:
        token = gated.auth(http, "province-20")  # sign-in is not throttled
        statuses = [_post(http, url, body, "province-20", dry_run_secret).status_code for _ in range(BURST)]
        refused = _post(http, url, body, "province-20", dry_run_secret)
        native = http.post("/citizens/verify", headers=token, json={
            "personal_id": c.personal_id, "full_name": c.full_name, "date_of_birth": c.date_of_birth.isoformat(),
            "purpose": "x"})
        other = _post(http, url, body, "province-22", dry_run_secret)
    assert statuses == [200] * BURST
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    fault = _fault(refused)
    assert (fault["faultcode"], fault["code"]) == ("soapenv:Client", "rate_limited")
    assert native.status_code == 429  # the face spent the same client's bucket
    assert other.status_code == 200


def test_an_unready_province_gets_a_server_fault_with_retry_after(gated: PopulationServer, dry_run_secret: str) -> None:
    url = gated.url + ENDPOINT_PATH
    with gated.client() as http:
        response = _post(http, url, _good(), "province-11", dry_run_secret)
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    fault = _fault(response)
    assert (fault["faultcode"], fault["code"]) == ("soapenv:Server", "province_not_connected")


def test_zeep_can_load_the_packaged_wsdl_offline() -> None:
    from kernel.national.c06 import wsdl_path

    client = zeep.Client(str(wsdl_path()))
    assert {op for op in client.service._binding._operations} == {LOOKUP, VERIFY}


def test_an_injected_fault_on_the_face_is_a_soap_fault_with_retry_after(
    population: PopulationServer, http: httpx.Client, url: str, dry_run_secret: str
) -> None:
    rule = {"id": "c06-throttle", "kind": "error", "status": 429, "route": ENDPOINT_PATH, "method": "POST"}
    assert http.post(f"{population.url}/admin/faults", json=rule, headers=population.admin).status_code == 201
    try:
        refused = _post(http, url, _good(), "portal", dry_run_secret)
        assert refused.status_code == 429 and refused.headers["retry-after"], refused.text
        assert refused.headers["content-type"].startswith("text/xml") and _fault(refused)["code"] == "injected_fault"
    finally:
        assert http.delete(f"{population.url}/admin/faults/c06-throttle", headers=population.admin).status_code in (200, 204)
    assert _post(http, url, _good(), "portal", dry_run_secret).status_code == 200
