"""Checks against a tiny loopback target that refuses for reasons other than the attack.

A refusal that is not the target's verdict on the attack — a 429 from a throttle, a 5xx
from a service that is down, a 401 for the caller's own valid token, a 404 for a route
that is not there — proves nothing either way: such a check must be ERROR (could not
judge), never PASS. Each fake here is a real HTTP server on 127.0.0.1 that plays all
three services; next to each ERROR case, the same fake with a real defence (or a real
hole) shows the check still judges — PASS, or FAIL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drills.security import SecurityLimits, SecurityTarget, run_suite, select_checks
from drills.security.jwt_forge import make_token
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.pki import DryRunCA
from reports.security_scorecard import SecurityCheckResult
from tests.support import JsonHandler, loopback_http_server

LIMITS = SecurityLimits(check_timeout_s=10.0, request_timeout_s=2.0)
THE_ATTACK_WAS_NEVER_JUDGED = "the target never judged it"

# What the fake answers a sign-in: (wrong guesses this account has made so far, password right?) → status.
SignIn = Callable[[int, bool], int]


def honest(failures: int, right: bool) -> int:
    """Right password 200, wrong 401, never a lock."""
    return 200 if right else 401


def throttled(failures: int, right: bool) -> int:
    """Every sign-in from this address 429: an address throttle hides the account's lock."""
    return 429


def down(failures: int, right: bool) -> int:
    """The sign-in service is down."""
    return 503


def locks_after_3(failures: int, right: bool) -> int:
    """A real per-account lock: three wrong guesses judged 401, then 423 for every password."""
    return 423 if failures >= 3 else (200 if right else 401)


def throttled_then_locks(failures: int, right: bool) -> int:
    """An address throttle (429) still on from an earlier check, then the account's lock (423) at the 5th guess;
    the right password passes the throttle while unlocked (as the mocks' stuffing defence does)."""
    if failures >= 5:
        return 423
    return 200 if right else 429


@dataclass
class FakeTarget:
    """How the fake answers: sign-ins by ``sign_in``, some routes as given, everything else ``otherwise``."""

    sign_in: SignIn = honest
    otherwise: int = 429
    routes: dict[tuple[str, str], tuple[int, object]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        if method == "POST" and path == "/auth/token":
            return self._token(body)
        if (method, path) in self.routes:
            return self.routes[(method, path)]
        return self.otherwise, {"error": {"code": "refused", "message": f"answered {self.otherwise}"}}

    def _token(self, body: bytes) -> tuple[int, object]:
        try:
            login = json.loads(body)
            account = next(login[k] for k in ("personal_id", "account", "client_id", "agency_code") if k in login)
            secret = login.get("password", login.get("client_secret"))
        except (ValueError, StopIteration, TypeError):
            return 422, {"error": {"code": "invalid_body", "message": "not a sign-in"}}
        right = isinstance(account, str) and secret == derive_password(DEFAULT_DRY_RUN_SECRET, account)
        status = self.sign_in(self.failures.get(str(account), 0), right)
        if not right:
            self.failures[str(account)] = self.failures.get(str(account), 0) + 1
        if status != 200:
            return status, {"error": {"code": f"sign_in_{status}", "message": "refused"}}
        now = int(time.time())
        claims = {"sub": account, "role": "citizen", "jti": f"j{time.time_ns()}", "iat": now, "nbf": now,
                  "exp": now + 900, "aud": "any", "iss": "any"}
        return 200, {"access_token": make_token({"alg": "HS256"}, claims, b"k"), "token_type": "Bearer"}


def _handler(fake: FakeTarget) -> type[JsonHandler]:
    class Fake(JsonHandler):
        def _any(self) -> None:
            status, body = fake.answer(self.command, self.path.split("?", 1)[0], self.read_body())
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status in (423, 429, 503):
                self.send_header("Retry-After", "60")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _any

    return Fake


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pki")
    DryRunCA.load_or_create(path)
    return path


@pytest.fixture
def run_against(pki: Path) -> Iterator[Callable[[str, FakeTarget], SecurityCheckResult]]:
    def run(check_id: str, fake: FakeTarget) -> SecurityCheckResult:
        with loopback_http_server(_handler(fake)) as url:
            target = SecurityTarget(name="tiny fake", kind="file", urls=dict.fromkeys(("portal", "population", "axis"),
                                                                                      url),
                                    admin_token="fake-admin-token", pki_dir=pki, population_size=3000)
            return run_suite(target, select_checks([check_id]), limits=LIMITS).checks[0]

    yield run


LOCK_CHECKS = ("auth.lockout", "spoof.forwarded-for-lockout", "auth.credential-stuffing")


@pytest.mark.parametrize("sign_in", [throttled, down], ids=["sign-in throttled (429)", "sign-in down (503)"])
@pytest.mark.parametrize("check_id", LOCK_CHECKS)
def test_a_throttled_or_failing_sign_in_is_no_lock(run_against, check_id: str, sign_in: SignIn) -> None:
    # Before the fix: 429/503 at the first guess counted as the lock (or the stuffing defence): PASS.
    result = run_against(check_id, FakeTarget(sign_in=sign_in))
    assert result.verdict == "ERROR", f"{check_id}: {result.verdict}: {result.summary}"
    assert "could not run" in result.summary


@pytest.mark.parametrize(("check_id", "sign_in", "verdict"), [
    ("auth.lockout", locks_after_3, "PASS"),
    ("auth.lockout", throttled_then_locks, "PASS"),
    ("auth.lockout", honest, "FAIL"),
    ("spoof.forwarded-for-lockout", locks_after_3, "PASS"),
    ("spoof.forwarded-for-lockout", throttled_then_locks, "PASS"),
    ("spoof.forwarded-for-lockout", honest, "FAIL"),
])
def test_lock_checks_still_judge_a_lock_behind_an_address_throttle(run_against, check_id: str, sign_in: SignIn,
                                                                  verdict: str) -> None:
    result = run_against(check_id, FakeTarget(sign_in=sign_in))
    assert result.verdict == verdict, f"{check_id}: {result.summary}"


def test_stuffing_is_detected_only_after_the_burst_began(run_against) -> None:
    result = run_against("auth.credential-stuffing", FakeTarget(sign_in=locks_after_3))
    # Each account is tried twice, so no account locks: the burst is never throttled.
    assert result.verdict == "FAIL" and "never throttled" in result.summary


DOCUMENT_CHECKS = ("integrity.tampered-package", "integrity.untrusted-ca", "integrity.certificate-validity",
                   "integrity.signer-not-sender", "input.xml-entities")


@pytest.mark.parametrize("status", [429, 401, 404])
@pytest.mark.parametrize("check_id", DOCUMENT_CHECKS)
def test_a_package_refused_without_being_judged_passes_nothing(run_against, check_id: str, status: int) -> None:
    # Before the fix: "refused 429" (or 401, 404) counted as the axis refusing the forgery: PASS.
    fake = FakeTarget(routes={("POST", "/documents"): (status, {"error": {"code": "no", "message": "no"}})})
    result = run_against(check_id, fake)
    assert result.verdict == "ERROR", f"{check_id}: {result.verdict}: {result.summary}"
    assert THE_ATTACK_WAS_NEVER_JUDGED in result.summary


@pytest.mark.parametrize(("status", "verdict"), [(422, "PASS"), (201, "FAIL")])
def test_document_checks_still_judge_the_axis_answer(run_against, status: int, verdict: str) -> None:
    fake = FakeTarget(routes={("POST", "/documents"): (status, {"document_id": "d1"})})
    result = run_against("integrity.tampered-package", fake)
    assert result.verdict == verdict, result.summary


def test_error_bodies_are_not_judged_by_a_throttle(run_against) -> None:
    # Before the fix: twelve 429s were "12 error answers, all 4xx JSON without traces": PASS.
    result = run_against("exposure.error-bodies", FakeTarget(otherwise=429))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def test_mass_assignment_is_not_refused_by_a_throttle(run_against) -> None:
    # Before the fix: "status: refused 429" for each property was a PASS.
    procedures = (200, {"procedures": [{"code": "1.000001.000.00.00.H26"}]})
    result = run_against("authz.mass-assignment", FakeTarget(otherwise=429, routes={("GET", "/procedures"): procedures}))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def test_token_claims_need_each_service_to_accept_its_own_token(run_against) -> None:
    # Before the fix: a target refusing every token (401) refused the other services' too: PASS.
    result = run_against("auth.token-claims", FakeTarget(otherwise=401))
    assert result.verdict == "ERROR" and "refused its own valid token" in result.summary, result.summary
