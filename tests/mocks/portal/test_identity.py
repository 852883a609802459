"""The population client: match, mismatch, and every way the check can be unavailable.

A tiny stub HTTP server stands in for the population service's token and verify
endpoints; the end-to-end tests run the real population mock.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from dientap.credentials import derive_password
from mocks.portal.identity import Applicant, IdentityUnavailable, PopulationClient

from .stub_http import StubServer

ALICE = Applicant("001090123456", "Nguyễn Văn An", "1990-05-01")


class StubPopulation:
    """Answers /auth/token and /citizens/verify like the population service; records calls."""

    def __init__(self, verify_status=200, match=True, reject_first_token=False):
        self.verify_status = verify_status
        self.match = match
        self.reject_first_token = reject_first_token
        self.token_requests = 0
        self.verify_bodies: list[dict] = []

    def __call__(self, method, path, headers, body):
        if path == "/auth/token":
            if json.loads(body) != {"client_id": "portal", "client_secret": derive_password("s", "portal")}:
                return 401, b'{"error":{"code":"invalid_client_secret"}}'
            self.token_requests += 1
            return 200, json.dumps({"access_token": f"t{self.token_requests}", "expires_in": 900}).encode()
        assert (method, path) == ("POST", "/citizens/verify")
        if self.reject_first_token and headers["authorization"] == "Bearer t1":
            return 401, b'{"error":{"code":"invalid_token"}}'
        self.verify_bodies.append(json.loads(body))
        if self.verify_status != 200:
            return self.verify_status, b'{"error":{"code":"x"}}'
        return 200, json.dumps({"match": self.match}).encode()


def _run_against(stub: StubPopulation, *applicants: Applicant) -> list[bool]:
    async def go():
        async with StubServer(stub) as server:
            client = PopulationClient(server.url, "s", timeout_s=1.0)
            try:
                return [await client.verify(a, purpose="test") for a in applicants]
            finally:
                await client.aclose()

    return asyncio.run(go())


def test_match_sends_the_applicant_and_purpose_and_caches_the_token():
    stub = StubPopulation()
    assert _run_against(stub, ALICE, ALICE) == [True, True]
    assert stub.token_requests == 1
    assert stub.verify_bodies[0] == {
        "personal_id": "001090123456", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-01", "purpose": "test",
    }  # fmt: skip


def test_mismatch_and_unknown_id_are_no_match():
    assert _run_against(StubPopulation(match=False), ALICE) == [False]
    assert _run_against(StubPopulation(verify_status=404), ALICE) == [False]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_mean_unavailable(status):
    with pytest.raises(IdentityUnavailable, match=f"answered {status}"):
        _run_against(StubPopulation(verify_status=status), ALICE)


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
