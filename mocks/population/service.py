"""Request handlers of the population mock and the state they share.

Every data request goes through the same gate, in this order: bearer token (401) →
role known (403) → province connected per the readiness profile (503) → per-client
throttle (429) → input rules (422) → look-up (404). Every request past the gate (and,
for verify, with a well-formed JSON body; for a batch, each item) is audited, failures included, with the error
code as the result. Unauthenticated or throttled requests are not: there is no trusted
caller to record, and the metrics count them.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from kernel.personal_id import PersonalIdError, validate_personal_id
from mocks.core.errors import ApiError
from mocks.core.faults import enter_scope
from mocks.core.http import json_response, read_json
from mocks.core.readiness import ReadinessProfile
from mocks.core.settings import ServiceSettings
from mocks.core.store import open_database
from mocks.core.tokens import TokenIssuer, bearer_token
from mocks.population.audit import AuditAction, AuditLog
from mocks.population.clients import ClientRegistry, LegacyCode, legacy_headers
from mocks.population.matching import VerifyOutcome, verify_identity
from mocks.population.models import PURPOSE_MAX, TokenRequest, VerifyBatchRequest, VerifyRequest
from mocks.population.roles import ROLE_FIELDS, Role, citizen_view
from mocks.population.store import CitizenRecord, CitizenStore
from mocks.population.throttle import ClientThrottle, ThrottlePolicy

__all__ = ["PopulationService", "Caller", "AUDIT_LIMIT_MAX"]

log = logging.getLogger("dientap.mocks.population")

AUDIT_LIMIT_MAX = 1000
# An unready province is "not yet connected", not briefly overloaded: retry in minutes.
_NOT_CONNECTED_RETRY_S = "60"
_TOKEN_ISSUER = "dientap-population"
_TOKEN_AUDIENCE = "population"
_CALLER_CACHE_LIMIT = 10_000
_PURPOSE_ONLY = b"purpose="


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client system behind a request."""

    client_id: str
    role: Role
    province_code: str | None


class PopulationService:
    """State and handlers of one population mock instance (bound to one event loop)."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.db_path: Path = settings.data_dir / "population.db"
        self.clients = ClientRegistry(settings.dry_run_secret)
        self.issuer = TokenIssuer(
            settings.dry_run_secret,
            _TOKEN_ISSUER,
            _TOKEN_AUDIENCE,
            settings.token_ttl_s,
            accept_unsigned="jwt_alg_none" in settings.vulnerable,
            check_claims="token_claims_unchecked" not in settings.vulnerable,
        )
        rate = 0.0 if "no_rate_limit" in settings.vulnerable else settings.rate_limit_per_s
        self.throttle_policy = ThrottlePolicy(rate, settings.rate_limit_burst)  # as in force (GET /admin/limits)
        self.throttle = ClientThrottle(self.throttle_policy)
        # Its own file: audit writes then never grow the citizens' WAL, which every
        # look-up's read transaction would otherwise have to search.
        self.audit = AuditLog(settings.data_dir / "audit.db", open_database)
        # Planted weaknesses for security drills: explicit flags, one small branch each.
        self.unmasked = "unmasked_population" in settings.vulnerable
        self.verify_leak = "verify_leak" in settings.vulnerable
        self.audit_skips_verify = "audit_skips_verify" in settings.vulnerable
        self.trust_role_header = "trust_role_header" in settings.vulnerable
        self.not_connected: frozenset[str] = frozenset()
        self._store: CitizenStore | None = None
        self._callers: dict[str, Caller] = {}
        self._citizens = 0

    # -- lifecycle ---------------------------------------------------------------------

    def apply_readiness(self, profile: ReadinessProfile) -> None:
        """Provinces whose population connection is not ready get 503 (see module doc)."""
        self.not_connected = frozenset(
            code for code, flags in profile.provinces.items() if not flags.population_connected
        )

    async def startup(self) -> None:
        """Open and seed the database (once per seed/size), start the audit flusher."""
        store = CitizenStore(open_database(self.db_path))
        report = store.seed(self.settings.seed, self.settings.population_size)
        self._citizens = store.count()
        self._store = store
        if report.seeded:
            log.warning(
                "population seeded: %d citizens (seed %d) in %.2f s", report.size, report.seed, report.seconds
            )
        await self.audit.start()

    async def shutdown(self) -> None:
        """Flush the audit log and close the databases."""
        await self.audit.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def ledger(self) -> dict[str, object]:
        """What the service acknowledged: citizens held and audit entries recorded."""
        return {
            "counts": {"citizens": self._citizens, "audit_entries": self.audit.count},
            "ids": {},
        }

    def store_sizes(self) -> dict[str, int]:
        """Store sizes for the metrics gauge (queued audit entries show write lag)."""
        return {
            "citizens": self._citizens,
            "audit_entries": self.audit.count,
            "audit_pending": self.audit.pending,
        }

    @property
    def store(self) -> CitizenStore:
        """The citizen store (available once :meth:`startup` ran)."""
        if self._store is None:
            raise ApiError(503, "starting", "the population database is still starting", None, {"Retry-After": "1"})
        return self._store

    # -- the gate ----------------------------------------------------------------------

    async def _caller(self, request: Request) -> Caller:
        caller = self._authenticate(request)
        await self.admit(request, caller)
        return caller

    async def admit(self, request: Request, caller: Caller) -> None:
        """The gate after authentication, for every face: the caller's province scope (for
        scoped faults), its readiness (503) and its throttle (429)."""
        if caller.province_code is not None:
            await enter_scope(request, province=caller.province_code)
            if caller.province_code in self.not_connected:
                raise _not_connected(caller.province_code)
        self._throttle(caller)

    def caller_of_system(self, client_id: str) -> Caller:
        """The caller a face authenticated as ``client_id`` by its own scheme (401 if no such client)."""
        system = self.clients.system(client_id)
        return Caller(system.client_id, system.role, system.province_code)

    def _throttle(self, caller: Caller) -> None:
        wait = self.throttle.take(caller.client_id)
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"client {caller.client_id!r} is over its limit of {self.settings.rate_limit_per_s:g} requests/s",
                None,
                {"Retry-After": str(wait)},
            )

    def _authenticate(self, request: Request) -> Caller:
        # The issuer checks the token on every call (it caches the signature check and
        # re-checks expiry and revocation), so only the claims → Caller step is cached here.
        token = bearer_token(request)
        claims = self.issuer.verify(token)
        caller = self._callers.get(token)
        if caller is None:
            caller = _caller_of(claims)
            if len(self._callers) >= _CALLER_CACHE_LIMIT:
                self._callers.clear()
            self._callers[token] = caller
        return caller

    # -- handlers ----------------------------------------------------------------------

    async def issue_token(self, request: Request) -> Response:
        """``POST /auth/token``: client-credentials grant."""
        body = await read_json(request, TokenRequest)
        system = self.clients.authenticate(body.client_id, body.client_secret)
        if system.province_code is not None:
            await enter_scope(request, province=system.province_code)
            if system.province_code in self.not_connected:
                raise _not_connected(system.province_code)
            token, expires_in = self.issuer.issue(system.client_id, system.role, province=system.province_code)
        else:
            token, expires_in = self.issuer.issue(system.client_id, system.role)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})

    async def get_citizen(self, request: Request) -> Response:
        """``GET /citizens/{personal_id}?purpose=``: the citizen, as the caller's role may see it."""
        caller = await self._caller(request)
        claimed = request.headers.get("x-role", "")
        if self.trust_role_header and claimed in ROLE_FIELDS:  # planted weakness: the client names its role
            caller = Caller(caller.client_id, Role(claimed), caller.province_code)
        view = self.lookup_view(caller, request.path_params["personal_id"], _purpose_param(request))
        if view is None:
            raise ApiError(404, "citizen_not_found", "no citizen with this personal ID number", "personal_id",
                           legacy_headers(LegacyCode.NOT_FOUND))
        return json_response(view)

    def lookup_view(
        self, caller: Caller, subject: str, purpose: str | None, *,
        full_name: str | None = None, birth: dt.date | int | None = None,
    ) -> dict[str, object] | None:
        """The citizen ``subject`` as ``caller``'s role may see it, audited; ``None`` if unknown.

        A face whose look-up carries the caller's knowledge of the citizen (the SOAP face's
        ``HoVaTen`` and ``NgayThangNamSinh``) passes it as ``full_name``/``birth``: a claim
        that does not match answers ``None`` too (audited ``mismatch``), so the answer never
        tells an unknown ID from a wrong claim. A broken input rule raises (audited).
        """
        try:
            _check_purpose(purpose)
            record = self._find(subject)
        except ApiError as exc:
            self.audit.record(caller.client_id, caller.role, subject, purpose or "", AuditAction.LOOKUP, exc.code)
            raise
        assert purpose is not None  # _check_purpose refused None  # nosec B101
        if record is None:
            self.audit.record(caller.client_id, caller.role, subject, purpose, AuditAction.LOOKUP, "not_found")
            return None
        if (full_name is not None or birth is not None) and not _claim_holds(record, full_name, birth):
            self.audit.record(caller.client_id, caller.role, subject, purpose, AuditAction.LOOKUP, "mismatch")
            return None
        self.audit.record(caller.client_id, caller.role, subject, purpose, AuditAction.LOOKUP, "found")
        return citizen_view(record, caller.role, unmasked=self.unmasked)

    def _find(self, personal_id: str) -> CitizenRecord | None:
        """The citizen, ``None`` if unknown, 422 if the number breaks a structural rule.

        The look-up runs first: every seeded ID is valid by construction (a property the
        tests check), so a hit needs no validation, and the rules only run to tell a
        malformed number (422) from an unknown one (404).
        """
        record = self.store.lookup(personal_id) if len(personal_id) == 12 else None
        if record is None:
            _check_personal_id(personal_id, "personal_id")
        return record

    async def verify(self, request: Request) -> Response:
        """``POST /citizens/verify``: match or no match, and nothing else."""
        caller = await self._caller(request)
        body = await read_json(request, VerifyRequest)
        return json_response(self._verify_one(caller, body, audited=not self.audit_skips_verify))

    async def verify_batch(self, request: Request) -> Response:
        """``POST /citizens/verify-batch``: up to 100 verifications, answered in order.

        Each item is checked and audited exactly as ``/citizens/verify`` would; an item
        that breaks an input rule gets ``match: false`` and the rule instead of failing
        the whole batch. The batch costs the caller one throttle token per item.
        """
        caller = await self._caller(request)
        body = await read_json(request, VerifyBatchRequest)
        # Admitted at one token (by _caller); the other items are billed as debt, never refused.
        self.throttle.charge(caller.client_id, len(body.items) - 1)
        results: list[dict[str, object]] = []
        for i, item in enumerate(body.items):
            try:
                results.append(self._verify_one(caller, item))
            except ApiError as exc:
                field = f"items[{i}].{exc.field}" if exc.field else f"items[{i}]"
                results.append({"match": False, "error": {"code": exc.code, "message": exc.message, "field": field}})
        return json_response({"results": results})

    def _verify_one(self, caller: Caller, item: VerifyRequest, *, audited: bool = True) -> dict[str, object]:
        """Match or no match for one item, audited; a broken input rule raises (audited too).

        ``audited=False`` is the planted ``audit_skips_verify`` weakness only."""
        outcome = self.verify_claim(caller, item.personal_id, item.full_name, item.date_of_birth, item.purpose,
                                    audited=audited)
        if self.verify_leak and not outcome.match:
            return {"match": False, "mismatched_fields": list(outcome.mismatched)}
        return {"match": outcome.match}

    def verify_claim(
        self, caller: Caller, personal_id: str, full_name: str, birth: dt.date | int, purpose: str | None,
        *, audited: bool = True,
    ) -> VerifyOutcome:
        """Does ``personal_id`` belong to ``full_name`` born on ``birth`` (a date, or a year
        alone)? Audited; a broken input rule raises (audited too)."""
        try:
            _check_purpose(purpose)
            record = self._find(personal_id)
        except ApiError as exc:
            self.audit.record(caller.client_id, caller.role, personal_id, purpose or "", AuditAction.VERIFY, exc.code)
            raise
        assert purpose is not None  # _check_purpose refused None  # nosec B101
        # An unknown ID is a plain "no match": same status, same body, so verify cannot
        # be used to learn which ID numbers exist.
        outcome = verify_identity(record, full_name, birth)
        result = "match" if outcome.match else "mismatch"
        if audited:
            self.audit.record(caller.client_id, caller.role, personal_id, purpose, AuditAction.VERIFY, result)
        return outcome

    async def read_audit(self, request: Request) -> Response:
        """``GET /admin/audit?subject=&caller=&limit=``: newest-first audit entries."""
        params = request.query_params
        subject = _bounded_param(params.get("subject"), "subject")
        caller = _bounded_param(params.get("caller"), "caller")
        limit = _limit(params.get("limit"))
        entries = await self.audit.query(subject=subject, caller=caller, limit=limit)
        return json_response({"entries": entries, "count": len(entries)})


def _claim_holds(record: CitizenRecord, full_name: str | None, birth: dt.date | int | None) -> bool:
    """Whether the parts of a claim that were given match ``record``."""
    outcome = verify_identity(record, full_name if full_name is not None else record.full_name,
                              birth if birth is not None else dt.date.fromisoformat(record.date_of_birth))
    return outcome.match


def _caller_of(claims: dict) -> Caller:
    """The caller a token's claims describe (401 if malformed, 403 if the role is not ours)."""
    client_id = claims.get("sub")
    role = claims.get("role")
    province = claims.get("province")
    if not isinstance(client_id, str) or not isinstance(role, str):
        raise ApiError(401, "invalid_token", "token lacks a subject or role", "Authorization",
                       legacy_headers(LegacyCode.AUTHENTICATION))
    if role not in ROLE_FIELDS:
        raise ApiError(403, "role_not_allowed",
                       f"role {role[:40]!r} may not read the population database; "
                       f"allowed roles: {', '.join(ROLE_FIELDS)}", "Authorization")
    return Caller(client_id, Role(role), province if isinstance(province, str) else None)


# -- input rules ---------------------------------------------------------------------


def _not_connected(province: str) -> ApiError:
    return ApiError(
        503,
        "province_not_connected",
        f"province {province} is not yet connected to the population database (readiness profile)",
        None,
        {"Retry-After": _NOT_CONNECTED_RETRY_S},
    )


def _purpose_param(request: Request) -> str | None:
    """The ``purpose`` query parameter.

    Fast path for the usual query string ``purpose=...`` alone: decoded exactly as
    Starlette would (latin-1, then percent-decoding as UTF-8), without building the
    whole QueryParams multidict — that parse was the largest cost of a look-up.
    """
    raw: bytes = request.scope["query_string"]
    if raw.startswith(_PURPOSE_ONLY) and b"&" not in raw:
        return unquote_plus(raw[len(_PURPOSE_ONLY):].decode("latin-1"), encoding="utf-8", errors="replace")
    return request.query_params.get("purpose")


def _check_purpose(purpose: str | None) -> None:
    if purpose is None:
        raise ApiError(422, "missing_field", "query parameter 'purpose' is required (why the look-up is made; audited)",
                       "purpose")
    if not purpose.strip() or len(purpose) > PURPOSE_MAX:
        raise ApiError(422, "invalid_field", f"purpose must be 1–{PURPOSE_MAX} characters, not blank", "purpose")


def _check_personal_id(value: str, field: str) -> None:
    try:
        validate_personal_id(value)
    except PersonalIdError as exc:
        raise ApiError(422, "invalid_personal_id", f"{exc.rule} rule: {exc}", field,
                       legacy_headers(LegacyCode.DATA_TYPE_INVALID)) from None


def _bounded_param(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not value or len(value) > 64:
        raise ApiError(422, "invalid_field", f"{name} must be 1–64 characters", name)
    return value


def _limit(value: str | None) -> int:
    if value is None:
        return 100
    if not (value.isascii() and value.isdigit() and len(value) <= 4) or not 1 <= int(value) <= AUDIT_LIMIT_MAX:
        raise ApiError(422, "invalid_field", f"limit must be a whole number from 1 to {AUDIT_LIMIT_MAX}", "limit")
    return int(value)
