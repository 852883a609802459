"""Checks against a tiny loopback target that refuses for reasons other than the attack.

A refusal that is not the target's verdict on the attack — a 429 from a throttle, a 5xx
from a service that is down, a 401 for the caller's own valid token, a 404 for a route
that is not there — proves nothing either way: such a check must be ERROR (could not
judge), never PASS. Each fake here is a real HTTP server on 127.0.0.1 that plays all
three services; next to each ERROR case, the same fake with a real defence (or a real
hole) shows the check still judges — PASS, or FAIL.
"""

from __future__ import annotations

import base64
import json
import re
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


@dataclass(frozen=True)
class Call:
    """One request as a route of the fake sees it."""

    query: str
    caller: str | None  # the ``sub`` of the bearer token the fake issued, if one was sent
    body: bytes
    content_type: str = ""


Answer = tuple[int, object]
# A route answers as given, or by the call (who asks, with what).
Route = Answer | Callable[[Call], Answer]


def _caller(authorization: str | None) -> str | None:
    """The ``sub`` of a token the fake issued (the admin token and forgeries name no one)."""
    parts = (authorization or "").removeprefix("Bearer ").split(".")
    try:
        sub = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))).get("sub")
    except (IndexError, ValueError, AttributeError):
        return None
    return sub if isinstance(sub, str) else None


def refusal(status: int) -> Answer:
    return status, {"error": {"code": "refused", "message": f"answered {status}"}}


@dataclass
class FakeTarget:
    """How the fake answers: sign-ins by ``sign_in``, some routes as given (``/x/*``: any ``/x/<one segment>``),
    everything else ``otherwise``. With ``transport_rules``, first as a hardened service: 413 for a body over
    1 MiB, 405 for PUT/PATCH/DELETE, 415 for a POST that is not JSON (XML to ``/documents``)."""

    sign_in: SignIn = honest
    otherwise: int = 429
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    transport_rules: bool = False

    def answer(self, method: str, path: str, call: Call) -> Answer:
        if self.transport_rules:
            expected_type = "application/xml" if path == "/documents" else "application/json"
            if len(call.body) > 1024 * 1024:
                return refusal(413)
            if method in ("PUT", "PATCH", "DELETE"):
                return refusal(405)
            if method == "POST" and not call.content_type.startswith(expected_type):
                return refusal(415)
        if method == "POST" and path == "/auth/token":
            return self._token(call.body)
        route = self.routes.get((method, path)) or self.routes.get((method, path.rsplit("/", 1)[0] + "/*"))
        if route is None:
            return refusal(self.otherwise)
        return route(call) if callable(route) else route

    def _token(self, body: bytes) -> Answer:
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
            path, _, query = self.path.partition("?")
            call = Call(query, _caller(self.headers.get("Authorization")), self.read_body(),
                        self.headers.get("Content-Type", ""))
            status, body = fake.answer(self.command, path, call)
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
def run_against(pki: Path) -> Iterator[Callable[..., SecurityCheckResult]]:
    def run(check_id: str, fake: FakeTarget, limits: SecurityLimits = LIMITS) -> SecurityCheckResult:
        with loopback_http_server(_handler(fake)) as url:
            target = SecurityTarget(name="tiny fake", kind="file", urls=dict.fromkeys(("portal", "population", "axis"),
                                                                                      url),
                                    admin_token="fake-admin-token", pki_dir=pki, population_size=3000)
            return run_suite(target, select_checks([check_id]), limits=limits).checks[0]

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


EMPTY_INBOX: Answer = (200, {"deliveries": [], "next_cursor": None})
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
    fake = FakeTarget(routes={("POST", "/documents"): (status, {"document_id": "d1"}), ("GET", "/inbox"): EMPTY_INBOX})
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


# -- per-probe judgement of input.injection ----------------------------------------------


def _procedures(call: Call) -> Answer:
    """Published procedures for a real province filter; any other filter refused (no lenient filter)."""
    if re.fullmatch(r"province=\d{2}", call.query):
        return 200, {"procedures": [{"code": "1.000001.000.00.00.H26"}]}
    return refusal(422)


#: A commune worklist holding none of the attacker's dossiers.
WORKLIST: Answer = (200, {"items": [], "next_cursor": None})


def stuffing_defence(failures: int, right: bool) -> int:
    """As the mocks after auth.credential-stuffing: every failed sign-in from this address 429, right ones pass."""
    return 200 if right else 429


@pytest.mark.parametrize("status", [429, 401], ids=["throttled", "own token refused"])
def test_injection_payloads_refused_unread_are_no_refusal(run_against, status: int) -> None:
    # Before the fix: 200+ probes answered 429 (or 401 to the caller's own token) were "all 4xx": PASS.
    fake = FakeTarget(otherwise=status, routes={("GET", "/procedures"): _procedures, ("GET", "/dossiers"): WORKLIST})
    result = run_against("input.injection", fake)
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def test_injection_takes_a_throttled_failed_sign_in_as_a_refusal(run_against) -> None:
    # The hardened suite's order: after auth.credential-stuffing a payload sent as a password is one more failed
    # sign-in, refused 429. A blanket "429 is ERROR" would turn this, and the hardened suite, to ERROR.
    fake = FakeTarget(sign_in=stuffing_defence, otherwise=422,
                      routes={("GET", "/procedures"): _procedures, ("GET", "/dossiers"): WORKLIST})
    result = run_against("input.injection", fake)
    assert result.verdict == "PASS", result.summary



@pytest.mark.parametrize("ledger", [refusal(429), refusal(503), (200, {"ids": {}})],
                         ids=["throttled", "down", "no counts"])
def test_a_ledger_that_could_not_be_read_is_named_with_its_reason_not_as_a_missing_token(run_against,
                                                                                         ledger: Answer) -> None:
    # The fake holds an admin token; before the fix an unread ledger was noted "(no admin token)".
    fake = FakeTarget(sign_in=stuffing_defence, otherwise=422,
                      routes={("GET", "/procedures"): _procedures, ("GET", "/dossiers"): WORKLIST,
                              ("GET", "/admin/ledger"): ledger})
    result = run_against("input.injection", fake)
    answered = f"answered {ledger[0]}" if ledger[0] != 200 else "answered no counts"
    assert result.verdict == "PASS", result.summary
    assert f"portal: ledger not compared (GET /admin/ledger {answered})" in result.summary, result.summary
    assert "no admin token" not in result.summary


def test_a_ledger_read_is_compared_and_not_noted(run_against) -> None:
    fake = FakeTarget(sign_in=stuffing_defence, otherwise=422,
                      routes={("GET", "/procedures"): _procedures, ("GET", "/dossiers"): WORKLIST,
                              ("GET", "/admin/ledger"): (200, {"counts": {"dossiers": 3}})})
    result = run_against("input.injection", fake)
    assert result.verdict == "PASS" and "ledger not compared" not in result.summary, result.summary


# -- a check must reach the code it judges -----------------------------------------------


def test_error_bodies_need_a_probe_that_reaches_a_handler(run_against) -> None:
    # A gateway that 404s all but sign-in: before the fix "error answers, all 4xx JSON without traces": PASS.
    result = run_against("exposure.error-bodies", FakeTarget(otherwise=404))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary
    assert "population, axis: every malformed request answered 401 or 404" in result.summary


# -- lists and neighbours that could not be read -----------------------------------------

CODE = "00001-000001-000100"
DOCUMENT = "d" * 32


def one_dossier() -> dict[tuple[str, str], Route]:
    """A portal holding one dossier, CODE: its submitter reads it and its commune's officers move it, no one else."""
    submitted: dict[str, str] = {}

    def submit(call: Call) -> Answer:
        submitted.setdefault("owner", call.caller or "")
        submitted.setdefault("commune", json.loads(call.body)["commune_code"])
        return 201, {"code": CODE, "status": 1}

    def read(call: Call) -> Answer:
        return (200, {"code": CODE, "status": 1}) if call.caller == submitted.get("owner") else refusal(404)

    def move(call: Call) -> Answer:
        own_officer = (call.caller or "").startswith(f"{submitted.get('commune')}.officer")
        return (200, {"code": CODE, "status": 2}) if own_officer else refusal(404)

    return {("GET", "/procedures"): _procedures, ("POST", "/dossiers"): submit, ("GET", f"/dossiers/{CODE}"): read,
            ("POST", f"/dossiers/{CODE}/transitions"): move, ("POST", f"/dossiers/{CODE}/payments"): refusal(404)}


def one_document(unreadable_inbox: int) -> dict[tuple[str, str], Route]:
    """An axis holding one document, DOCUMENT: its recipients read, find and acknowledge it; no one else does,
    and any other agency's inbox answers ``unreadable_inbox``."""
    sent: dict[str, object] = {}

    def post(call: Call) -> Answer:
        sent.setdefault("sender", call.caller)
        sent.setdefault("package", call.body)
        return 201, {"document_id": DOCUMENT}

    def addressed(call: Call) -> bool:
        package = sent.get("package")
        return (call.caller is not None and call.caller != sent.get("sender") and isinstance(package, bytes)
                and call.caller.encode() in package)

    def read(call: Call) -> Answer:
        return (200, {"document_id": DOCUMENT}) if addressed(call) else refusal(404)

    def inbox(call: Call) -> Answer:
        if not addressed(call):
            return refusal(unreadable_inbox)
        return 200, {"deliveries": [{"document_id": DOCUMENT, "delivery_id": 7, "kind": "document"}],
                     "next_cursor": None}

    def ack(call: Call) -> Answer:
        return (200, {"already_acked": False}) if addressed(call) else refusal(404)

    return {("POST", "/documents"): post, ("GET", f"/documents/{DOCUMENT}"): read, ("GET", "/inbox"): inbox,
            ("POST", f"/documents/{DOCUMENT}/receipts"): refusal(404), ("POST", "/inbox/7/ack"): ack}


def test_neighbouring_codes_not_answered_are_not_closed(run_against) -> None:
    # Before the fix: 20 neighbouring codes answered 429 (or 5xx) were "20 neighbouring codes closed": PASS.
    result = run_against("authz.bola-dossier", FakeTarget(otherwise=429, routes=one_dossier()))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def test_an_unreadable_worklist_hides_nothing(run_against) -> None:
    # Before the fix: the dossier was "not in" a worklist answered 503 (or 429): PASS.
    result = run_against("authz.officer-other-commune", FakeTarget(otherwise=503, routes=one_dossier()))
    assert result.verdict == "ERROR" and "worklist answered" in result.summary, result.summary


def test_an_unreadable_inbox_hides_nothing(run_against) -> None:
    # Before the fix: the document was "not in" Z's inbox answered 429 (or 5xx): PASS.
    fake = FakeTarget(otherwise=404, routes=one_document(unreadable_inbox=429))
    result = run_against("authz.axis-agency-isolation", fake)
    assert result.verdict == "ERROR" and "Z's inbox answered 429" in result.summary, result.summary


# -- wrong FAIL instead of ERROR ---------------------------------------------------------


def test_audit_trail_needs_the_accesses_served(run_against) -> None:
    # Before the fix: four throttled look-ups were "4 of 4 accesses are not in the audit log": FAIL, after 5 s.
    fake = FakeTarget(otherwise=429, routes={("GET", "/admin/audit"): (200, {"entries": []})})
    result = run_against("exposure.audit-trail", fake)
    assert result.verdict == "ERROR" and "look-up 1 answered 429, not served" in result.summary, result.summary


OPENAPI: Answer = (200, {"paths": {"/procedures": {"get": {}}}})


@pytest.mark.parametrize(("status", "routes"), [
    (503, {}), (429, {("GET", "/openapi.json"): OPENAPI}),
], ids=["openapi.json down", "probes throttled"])
def test_route_inventory_is_not_judged_by_a_throttle(run_against, status: int, routes: dict) -> None:
    # Before the fix: "publishes no OpenAPI inventory (429)" or "OPTIONS /procedures: 429, not a 405": FAIL.
    result = run_against("exposure.route-inventory", FakeTarget(otherwise=status, routes=routes))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def test_jwt_tampering_needs_the_valid_token_judged(run_against) -> None:
    # Before the fix: the baseline 429 (or 5xx) was taken as accepted, then "… answered 429, expected 401": FAIL.
    result = run_against("auth.jwt-tampering", FakeTarget(otherwise=429))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


SCRAPE_LIMITS = SecurityLimits(check_timeout_s=10.0, request_timeout_s=2.0, scrape_max_requests=50)


def throttle(*, refuses_everyone: bool) -> Route:
    """A population throttle that refuses the scraper (province-04) from its 5th look-up on — and, if
    ``refuses_everyone``, every other client from then on too."""
    scraped = [0]

    def answer(call: Call) -> Answer:
        if call.caller == "province-04":
            scraped[0] += 1
        if scraped[0] >= 5 and (refuses_everyone or call.caller == "province-04"):
            return refusal(429)
        return 200, {"personal_id": "0" * 12}

    return answer


def test_scraping_a_service_that_is_down_is_no_finding(run_against) -> None:
    # Before the fix: 50 look-ups answered 503 were "never throttled": FAIL.
    result = run_against("abuse.population-scraping", FakeTarget(otherwise=503), SCRAPE_LIMITS)
    assert result.verdict == "ERROR" and "scraper look-up #1 answered 503" in result.summary, result.summary


@pytest.mark.parametrize(("refuses_everyone", "verdict"), [(False, "PASS"), (True, "FAIL")])
def test_scraping_judges_the_legitimate_caller_while_the_scraper_is_refused(run_against, refuses_everyone: bool,
                                                                           verdict: str) -> None:
    # A throttle refusing every client shows only in the legitimate caller's look-ups after the scraper's
    # refusal: the check waits for them (within the target's Retry-After), not for a fixed second.
    fake = FakeTarget(otherwise=404, routes={("GET", "/citizens/*"): throttle(refuses_everyone=refuses_everyone)})
    result = run_against("abuse.population-scraping", fake, SCRAPE_LIMITS)
    assert result.verdict == verdict, result.summary
    if verdict == "PASS":
        assert "(3 while the scraper was refused)" in result.summary


# -- controls and reads that were not answered -------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_token_claims_need_the_valid_token_judged(run_against, status: int) -> None:
    # Before the fix: each service's own token throttled (or failing) was taken as accepted, then
    # "portal: a population token answered 429, expected 401": FAIL.
    result = run_against("auth.token-claims", FakeTarget(otherwise=status))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def reads_then(first: int, later: int) -> Route:
    """A read of a missing dossier answered ``first`` the first time, ``later`` from then on."""
    calls = [0]

    def answer(call: Call) -> Answer:
        calls[0] += 1
        return refusal(first if calls[0] == 1 else later)

    return answer


@pytest.mark.parametrize(("first", "later", "verdict"), [
    (429, 429, "ERROR"), (404, 503, "ERROR"), (404, 401, "PASS"), (404, 404, "FAIL"),
], ids=["control read throttled", "read after logout failing", "revoked", "not revoked"])
def test_logout_is_judged_on_reads_that_were_answered(run_against, first: int, later: int, verdict: str) -> None:
    # Before the fix: a 429 (or 503) on either read was "the token still works after logout": FAIL.
    routes = {("POST", "/auth/logout"): (200, {}), ("GET", "/dossiers/00000-000000-000000"): reads_then(first, later)}
    result = run_against("auth.logout-revokes", FakeTarget(routes=routes))
    assert result.verdict == verdict, result.summary
    if verdict == "ERROR":
        assert THE_ATTACK_WAS_NEVER_JUDGED in result.summary


@pytest.mark.parametrize("check_id", ["input.injection", "input.size-type-method"])
def test_an_unreadable_worklist_is_no_unchanged_count(run_against, check_id: str) -> None:
    # Every probe refused as a hardened service would, but the commune worklist answers 503. Before the fix the
    # attacker's dossiers went "from None to None" (or "None" created by the 415 submission): PASS.
    fake = FakeTarget(otherwise=422, transport_rules=True,
                      routes={("GET", "/procedures"): _procedures, ("GET", "/dossiers"): refusal(503)})
    result = run_against(check_id, fake)
    assert result.verdict == "ERROR" and "the commune worklist answered 503" in result.summary, result.summary


def unjudged_except_for_the_owner(route: Route) -> Route:
    """``route`` for whoever it serves (200), 429 for everyone it would refuse."""
    def answer(call: Call) -> Answer:
        status, body = route(call) if callable(route) else route
        return (status, body) if status == 200 else refusal(429)

    return answer


def throttled_owner(route: Route) -> Route:
    """``route`` for everyone but the dossier's submitter, who is throttled (429)."""
    def answer(call: Call) -> Answer:
        status, body = route(call) if callable(route) else route
        return refusal(429) if status == 200 else (status, body)

    return answer


@pytest.mark.parametrize(("check_id", "method", "path", "wrap"), [
    ("authz.bola-dossier", "GET", f"/dossiers/{CODE}", unjudged_except_for_the_owner),
    ("authz.bola-dossier", "POST", f"/dossiers/{CODE}/transitions", unjudged_except_for_the_owner),
    ("authz.bola-dossier", "POST", f"/dossiers/{CODE}/payments", unjudged_except_for_the_owner),
    ("authz.bola-dossier", "GET", f"/dossiers/{CODE}", throttled_owner),
    ("authz.officer-other-commune", "GET", f"/dossiers/{CODE}", unjudged_except_for_the_owner),
], ids=["B's read", "B's change", "B's pay", "A's read after", "foreign officer's read"])
def test_a_throttled_dossier_request_is_no_finding(run_against, check_id: str, method: str, path: str,
                                                   wrap: Callable[[Route], Route]) -> None:
    # Before the fix: "B's GET /dossiers/{code} answered 429" (or "A's dossier status is None after B's
    # attempts"): FAIL, for a request the portal never judged.
    routes = one_dossier()
    routes[(method, path)] = wrap(routes[(method, path)])
    result = run_against(check_id, FakeTarget(otherwise=404, routes=routes))
    assert result.verdict == "ERROR" and THE_ATTACK_WAS_NEVER_JUDGED in result.summary, result.summary


def test_an_unreadable_inbox_holds_no_forged_delivery(run_against) -> None:
    # Before the fix: the forged document was refused 422 and "not delivered" to an inbox answered 503: PASS.
    fake = FakeTarget(routes={("POST", "/documents"): (422, {"error": {"code": "bad_signature", "message": "no"}}),
                              ("GET", "/inbox"): refusal(503)})
    result = run_against("integrity.tampered-package", fake)
    assert result.verdict == "ERROR" and "inbox answered 503" in result.summary, result.summary


def replays_then(status: int) -> Route:
    """The axis storing a document and answering its byte-for-byte replay with the same id; the same message id
    with another body answered ``status``."""
    first: list[bytes] = []

    def answer(call: Call) -> Answer:
        first.append(call.body) if not first else None
        return (201, {"document_id": DOCUMENT}) if call.body == first[0] else refusal(status)

    return answer


@pytest.mark.parametrize(("status", "verdict"), [(429, "ERROR"), (409, "PASS")])
def test_a_throttled_replay_is_no_refusal(run_against, status: int, verdict: str) -> None:
    # Before the fix: the changed package answered 429 was "another 4xx", a refusal: PASS.
    inbox = (200, {"deliveries": [{"document_id": DOCUMENT, "delivery_id": 7, "kind": "document"}],
                   "next_cursor": None})
    fake = FakeTarget(otherwise=404, routes={("POST", "/documents"): replays_then(status), ("GET", "/inbox"): inbox})
    result = run_against("abuse.document-replay", fake)
    assert result.verdict == verdict, result.summary
