"""The population client: match, mismatch, coalescing, and every way the check can be
unavailable.

A tiny stub HTTP server stands in for the population service's token and verify-batch
endpoints; the end-to-end tests run the real population mock.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from kernel.credentials import derive_password
from mocks.portal.identity import (
    VERIFY_BATCH_MAX,
    Applicant,
    IdentityUnavailable,
    PopulationClient,
    _trusting_outcomes,
)
from mocks.portal.upstream import UpstreamResponse

from .stub_http import StubServer

ALICE = Applicant("001090123456", "Nguyễn Văn An", "1990-05-01")


def _applicant(i: int, name: str = "Nguyễn Văn An") -> Applicant:
    return Applicant(f"0010901{i:05d}", name, "1990-05-01")


class StubPopulation:
    """Answers /auth/token and /citizens/verify-batch like the population service; records calls.

    An item matches when ``match`` says so and its name does not start with "Sai"; an
    ID number ending in 999 gets an item error, as a malformed one would.
    """

    def __init__(self, verify_status=200, match=True, reject_first_token=False, body=None):
        self.verify_status = verify_status
        self.match = match
        self.reject_first_token = reject_first_token
        self.body = body
        self.token_requests = 0
        self.verify_bodies: list[dict] = []

    def __call__(self, method, path, headers, body):
        if path == "/auth/token":
            if json.loads(body) != {"client_id": "portal", "client_secret": derive_password("s", "portal")}:
                return 401, b'{"error":{"code":"invalid_client_secret"}}'
            self.token_requests += 1
            return 200, json.dumps({"access_token": f"t{self.token_requests}", "expires_in": 900}).encode()
        assert (method, path) == ("POST", "/citizens/verify-batch")
        if self.reject_first_token and headers["authorization"] == "Bearer t1":
            return 401, b'{"error":{"code":"invalid_token"}}'
        request = json.loads(body)
        self.verify_bodies.append(request)
        if self.verify_status != 200:
            return self.verify_status, b'{"error":{"code":"x"}}'
        if self.body is not None:
            return 200, self.body
        results = []
        for i, item in enumerate(request["items"]):
            if item["personal_id"].endswith("999"):
                results.append({"match": False, "error": {"code": "invalid_personal_id", "message": "birthplace rule",
                                                          "field": f"items[{i}].personal_id"}})
            else:
                results.append({"match": self.match and not item["full_name"].startswith("Sai")})
        return 200, json.dumps({"results": results}).encode()


def _run_against(stub: StubPopulation, *applicants: Applicant, together: bool = False) -> list[bool]:
    async def go():
        async with StubServer(stub) as server:
            client = PopulationClient(server.url, "s", timeout_s=1.0)
            try:
                if together:
                    return list(await asyncio.gather(*(client.verify(a, purpose="test") for a in applicants)))
                return [await client.verify(a, purpose="test") for a in applicants]
            finally:
                await client.aclose()

    return asyncio.run(go())


def test_match_sends_the_applicant_and_purpose_and_caches_the_token():
    stub = StubPopulation()
    assert _run_against(stub, ALICE, ALICE) == [True, True]
    assert stub.token_requests == 1
    assert stub.verify_bodies[0] == {"items": [
        {"personal_id": "001090123456", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-01", "purpose": "test"},
    ]}  # fmt: skip


def test_mismatch_and_a_refused_item_are_no_match():
    assert _run_against(StubPopulation(match=False), ALICE) == [False]
    assert _run_against(StubPopulation(), Applicant("001090123999", "Nguyễn Văn An", "1990-05-01")) == [False]


def test_checks_waiting_together_go_in_one_call_and_answers_keep_their_order():
    stub = StubPopulation()
    applicants = [_applicant(i, "Sai Tên" if i % 3 == 0 else "Nguyễn Văn An") for i in range(10)]
    assert _run_against(stub, *applicants, together=True) == [i % 3 != 0 for i in range(10)]
    assert len(stub.verify_bodies) == 1
    assert [item["personal_id"] for item in stub.verify_bodies[0]["items"]] == [a.personal_id for a in applicants]


def test_more_checks_than_one_batch_holds_are_split():
    stub = StubPopulation()
    applicants = [_applicant(i) for i in range(VERIFY_BATCH_MAX + 5)]
    assert _run_against(stub, *applicants, together=True) == [True] * len(applicants)
    assert sorted(len(b["items"]) for b in stub.verify_bodies) == [5, VERIFY_BATCH_MAX]


@pytest.mark.parametrize("status", [500, 502, 503, 429, 404, 422])
def test_errors_of_the_whole_call_mean_unavailable(status):
    with pytest.raises(IdentityUnavailable, match=f"answered {status}"):
        _run_against(StubPopulation(verify_status=status), ALICE)


def test_an_unavailable_call_fails_every_check_in_it():
    async def go():
        async with StubServer(StubPopulation(verify_status=503)) as server:
            client = PopulationClient(server.url, "s", timeout_s=1.0)
            try:
                return await asyncio.gather(*(client.verify(_applicant(i)) for i in range(4)), return_exceptions=True)
            finally:
                await client.aclose()

    outcomes = asyncio.run(go())
    assert [type(o) for o in outcomes] == [IdentityUnavailable] * 4


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b'{"results": [{"match": true}, {"match": true}]}', "2 of 1 checks"), (b"not json", "unreadable"),
     (b'{"results": 7}', "unreadable"), (b'{"results": [{"match": "true"}]}', "without a boolean match"),
     (b'{"results": [{"match": 1}]}', "without a boolean match"), (b'{"results": [true]}', "without a boolean"),
     (b'{"results": [{"match": true}]}' + b" " * 300_000, "larger than 262144 bytes")],
)  # fmt: skip
def test_an_answer_that_does_not_fit_the_question_is_unavailable(body, reason):
    with pytest.raises(IdentityUnavailable, match=reason):
        _run_against(StubPopulation(body=body), ALICE)


def test_refused_token_is_renewed_once():
    stub = StubPopulation(reject_first_token=True)
    assert _run_against(stub, ALICE) == [True]
    assert stub.token_requests == 2


def _verify_at(url: str, timeout_s: float) -> bool:
    async def go():
        client = PopulationClient(url, "s", timeout_s=timeout_s)
        try:
            return await client.verify(ALICE)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_connection_refused_is_unavailable():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(IdentityUnavailable, match="unreachable: cannot connect"):
        _verify_at(f"http://127.0.0.1:{port}", 0.5)


def test_silent_server_times_out_as_unavailable():
    with socket.socket() as silent:  # listens (the kernel completes the handshake) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with pytest.raises(IdentityUnavailable, match=r"no response within 0.2 s"):
            _verify_at(f"http://127.0.0.1:{port}", 0.2)


def test_no_population_url_is_unavailable():
    with pytest.raises(IdentityUnavailable, match="population_url"):
        _verify_at(None, 0.2)


@pytest.mark.parametrize(
    ("content_type", "believed"),
    [("application/json", True), ("application/json; charset=utf-8", True), ("text/html", False), ("", False)],
)
def test_only_a_json_answer_is_read(content_type, believed):
    answer = UpstreamResponse(200, b'{"results": [{"match": true}]}', content_type)
    if believed:
        assert PopulationClient._outcomes(answer, 1) == [True]
    else:
        with pytest.raises(IdentityUnavailable, match="not JSON"):
            PopulationClient._outcomes(answer, 1)


def test_the_planted_trusting_reader_believes_what_the_strict_one_refuses():
    # trust_population_answers: any Content-Type, a truthy "match", extra results cut off.
    for body, content_type in ((b'{"results": [{"match": "true"}]}', "application/json"),
                               (b'{"results": [{"match": true}]}', "text/html"),
                               (b'{"results": [{"match": true}, {"match": true}]}', "application/json")):
        assert _trusting_outcomes(UpstreamResponse(200, body, content_type), 1) == [True]
