"""Fuzz the C06 SOAP face with Hypothesis-generated XML: no input may give a 5xx, and
every answer is a SOAP envelope — the operation's answer or a Fault with its detail.

Three generators, each signed correctly so the message itself is what is fuzzed: random
element trees mixing the face's own names with strangers', well-formed calls with random
field values, and byte-level damage to a valid call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from kernel.national.c06 import C06_NS, ENDPOINT_PATH, REQUEST_FIELDS, SOAP_ENV_NS
from kernel.synthetic import citizen_at
from tests.mocks.population.c06_client import envelope, request_fields, signed_headers

if TYPE_CHECKING:
    from conftest import PopulationServer

pytestmark = pytest.mark.e2e

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
OPERATIONS = ("TraCuuThongTinCongDan", "XacThucThongTinCongDan")
# Text XML 1.0 can carry (no control characters, no surrogates).
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n "), max_size=40)
NAMES = st.sampled_from([
    *(f"{{{C06_NS}}}{n}" for n in (*REQUEST_FIELDS, *OPERATIONS, "NgayThangNam", "Nam", "Loi")),
    f"{{{SOAP_ENV_NS}}}Envelope", f"{{{SOAP_ENV_NS}}}Body", f"{{{SOAP_ENV_NS}}}Header", f"{{{SOAP_ENV_NS}}}Fault",
    "Envelope", "Body", "x", "{urn:other}MaYeuCau",
])


def _tree(depth: int) -> st.SearchStrategy[etree._Element]:
    def build(tag: str, text: str, children: list[etree._Element]) -> etree._Element:
        element = etree.Element(tag)
        element.text = text
        element.extend(children)
        return element

    children = st.lists(_tree(depth - 1), max_size=4) if depth > 0 else st.just([])
    return st.builds(build, NAMES, XML_TEXT, children)


def _envelopes() -> st.SearchStrategy[bytes]:
    def wrap(call: etree._Element, header: bool) -> bytes:
        root = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope")
        if header:
            etree.SubElement(root, f"{{{SOAP_ENV_NS}}}Header")
        etree.SubElement(root, f"{{{SOAP_ENV_NS}}}Body").append(call)
        return etree.tostring(root)

    return st.one_of(
        st.builds(lambda t: etree.tostring(t), _tree(4)),
        st.builds(wrap, _tree(3), st.booleans()),
    )


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.text[:300]
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("text/xml"), response.text[:300]
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    if response.status_code == 200:
        assert root.find(f"{{{SOAP_ENV_NS}}}Body/{{{C06_NS}}}XacThucThongTinCongDanResponse") is not None or \
            root.find(f"{{{SOAP_ENV_NS}}}Body/{{{C06_NS}}}TraCuuThongTinCongDanResponse") is not None
    else:
        fault = root.find(f"{{{SOAP_ENV_NS}}}Body/{{{SOAP_ENV_NS}}}Fault")
        assert fault is not None and fault.findtext("faultcode") in ("soapenv:Client", "soapenv:Server")
        assert fault.findtext(f"detail/{{{C06_NS}}}Loi/{{{C06_NS}}}MaLoi")


@pytest.fixture(scope="module")
def send(population: PopulationServer, dry_run_secret: str):
    url = population.url + ENDPOINT_PATH
    client = httpx.Client(timeout=10.0)
    statuses: list[int] = []

    def post(body: bytes) -> httpx.Response:
        response = client.post(url, content=body, headers=signed_headers(url, "police", dry_run_secret))
        statuses.append(response.status_code)
        _check(response)
        return response

    post.statuses = statuses  # type: ignore[attr-defined]
    yield post
    client.close()


def test_random_element_trees_get_faults_or_answers_never_errors(send) -> None:
    @FUZZ
    @given(body=_envelopes())
    def run(body: bytes) -> None:
        send(body)

    run()
    assert len(send.statuses) >= 100 and 400 in send.statuses


def test_well_formed_calls_with_random_values(send, population: PopulationServer) -> None:
    c = citizen_at(population.seed, 2)
    born = c.date_of_birth.strftime("%Y%m%d")

    # A valid call with up to three fields replaced by random text or left out, and a
    # random birth date: the empty change is a valid call, so answers are fuzzed too.
    @FUZZ
    @given(operation=st.sampled_from(OPERATIONS),
           changes=st.dictionaries(st.sampled_from(REQUEST_FIELDS[:-1]), st.one_of(st.none(), XML_TEXT), max_size=3),
           birth=st.one_of(st.just(born), st.none(), XML_TEXT), year=st.one_of(st.none(), XML_TEXT))
    def run(operation: str, changes: dict[str, str | None], birth: str | None, year: str | None) -> None:
        fields = request_fields(operation, c.personal_id, c.full_name, **changes)
        send(envelope(operation, fields, birth=birth, year=year if birth is None else None))

    before = len(send.statuses)
    run()
    assert 200 in send.statuses[before:]


def test_damaged_bytes_of_a_valid_call(send, population: PopulationServer) -> None:
    c = citizen_at(population.seed, 4)
    valid = envelope("XacThucThongTinCongDan", request_fields("XacThucThongTinCongDan", c.personal_id, c.full_name),
                     birth=c.date_of_birth.strftime("%Y%m%d"))
    assert send(valid).status_code == 200

    @FUZZ
    @given(edits=st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 2), st.binary(max_size=4)),
                          min_size=1, max_size=4))
    def run(edits: list[tuple[int, int, bytes]]) -> None:
        body = bytearray(valid)
        for at, kind, data in edits:
            at = min(at, len(body))
            if kind == 0:
                body[at:at] = data
            elif kind == 1:
                del body[at:at + 1 + len(data)]
            else:
                body[at:at + len(data)] = data
        send(bytes(body))

    run()
