"""The portal's process-wide state: store, group-commit writer, tokens, throttle and clients.

One :class:`Portal` lives in ``app.state.portal``; the route modules are thin handlers
over it. It also owns the small helpers every handler needs (who is calling, clock,
dossier code allocation) and the startup/shutdown work (re-schedule pending payment
callbacks, close HTTP clients).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response

from mocks.core.errors import ApiError
from mocks.core.http import json_response
from mocks.core.settings import ServiceSettings
from mocks.core.store import GroupCommit, WalCheckpointer, open_database
from mocks.core.tokens import TokenIssuer, bearer_claims
from mocks.portal.accounts import LoginThrottle, StuffingDetector
from mocks.portal.attachments import AttachmentFetcher
from mocks.portal.idempotency import IdempotencyGuard
from mocks.portal.identity import PopulationClient
from mocks.portal.intermediary import PaymentIntermediary, callback_key
from mocks.portal.peers import PeerAudit
from mocks.portal.store import PortalStore

__all__ = ["Caller", "Portal", "portal_of", "now_iso", "VN_TZ"]

log = logging.getLogger("dientap.mocks.portal")
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")  # dossier codes carry the Vietnamese date


_now_cache: list = [0, ""]  # [millisecond, its ISO text]


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds."""
    # Formatting costs twenty times reading the clock, and a busy portal stamps ten
    # records in the same millisecond: format each millisecond once.
    ms = time.time_ns() // 1_000_000
    if ms != _now_cache[0]:
        _now_cache[0] = ms
        _now_cache[1] = (
            dt.datetime.fromtimestamp(ms // 1000, dt.UTC).replace(microsecond=ms % 1000 * 1000).isoformat(timespec="milliseconds")
        )
    return _now_cache[1]


class Caller(NamedTuple):
    """The authenticated caller of a request (from its bearer token); a tuple, built for
    every request."""

    subject: str  # personal ID number (citizen) or officer account
    role: str  # "citizen" | "officer"
    commune: str | None
    province: str | None
    jti: str
    exp: float

    @property
    def is_officer(self) -> bool:
        """True for a commune officer."""
        return self.role == "officer"


class Portal:
    """Everything the portal handlers share, for one process."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.vulnerable = settings.vulnerable
        self.conn = open_database(Path(settings.data_dir) / "portal.db")
        self.store = PortalStore(self.conn)
        self.writer = GroupCommit(self.conn)
        self.checkpointer: WalCheckpointer | None = None
        self.tokens = TokenIssuer(settings.dry_run_secret, "dientap-portal", "portal", settings.token_ttl_s, self.conn)
        self.throttle = LoginThrottle(settings.lockout_threshold, settings.lockout_seconds)
        self.peers = PeerAudit()
        self.stuffing = StuffingDetector(
            settings.stuffing_threshold, settings.stuffing_min_accounts, settings.stuffing_window_s, settings.stuffing_block_s
        )
        self.idempotency = IdempotencyGuard(self.store)
        self.population = PopulationClient(
            settings.population_url, settings.dry_run_secret, settings.upstream_timeout_s,
            ca_file=str(settings.upstream_ca_file) if settings.upstream_ca_file else None,
            client_cert=(str(settings.upstream_client_cert), str(settings.upstream_client_key))
            if settings.upstream_client_cert and settings.upstream_client_key else None,
            max_response_bytes=settings.upstream_max_response_bytes,
            trust_answers="trust_population_answers" in settings.vulnerable,
        )
        self.attachments = AttachmentFetcher(
            settings.attachment_allowlist, settings.attachment_max_bytes, settings.attachment_timeout_s,
            ca_file=str(settings.upstream_ca_file) if settings.upstream_ca_file else None,
            fetch_any="ssrf_fetch_any" in settings.vulnerable,
        )
        self.callback_key = callback_key(settings.dry_run_secret)
        self.intermediary = PaymentIntermediary(self.callback_key, settings.payment_callback_delay_s,
                                                verify=_callback_tls(settings))
        self._sequences: dict[str, int] = {}
        self._latest_date = ""  # yymmdd of the latest dossier code

    # -- callers ----------------------------------------------------------------------
    def caller(self, request: Request) -> Caller:
        """The authenticated caller (401 without a valid, unrevoked token)."""
        claims = bearer_claims(request, self.tokens)
        caller = Caller(
            subject=claims["sub"],
            role=claims.get("role", ""),
            commune=claims.get("commune"),
            province=claims.get("province"),
            jti=claims["jti"],
            exp=claims["exp"],
        )
        if caller.commune:
            self.record_peer(request, caller.commune)
        return caller

    def record_peer(self, request: Request, commune: str) -> None:
        """Note the socket peer of a request that belongs to ``commune`` (``GET /admin/peers``)."""
        self.peers.record(commune, request.client.host if request.client else "unknown")

    def citizen(self, request: Request) -> Caller:
        """The calling citizen (403 for an officer token)."""
        caller = self.caller(request)
        if caller.role != "citizen":
            raise ApiError(403, "citizens_only", "this operation is for citizens signed in with their ID number")
        return caller

    def officer(self, request: Request) -> Caller:
        """The calling commune officer (403 for a citizen token)."""
        caller = self.caller(request)
        if not caller.is_officer:
            raise ApiError(403, "officers_only", "this operation is for commune officers")
        return caller

    # -- dossier codes ----------------------------------------------------------------
    def next_dossier_code(self, commune_code: str) -> str:
        """Allocate ``<commune>-<yymmdd>-<seq>`` (call inside the unit of work that inserts it).

        Units of work run one after another on the event loop, so the in-memory counter
        needs no lock; it starts from the highest code already stored for that day. A
        commune's codes rise in submission order — the worklist reads them in code order
        (:mod:`mocks.portal.store`) — so the date never goes back while the portal runs,
        even if the clock does, and a commune that has used a day's 999,999 numbers is
        refused until midnight.
        """
        today = dt.datetime.now(VN_TZ)  # formatted by hand: strftime costs more than the rest of this
        date = f"{today.year % 100:02d}{today.month:02d}{today.day:02d}"
        if date < self._latest_date:  # the clock went back; "yymmdd" sorts as dates do
            date = self._latest_date
        self._latest_date = date
        prefix = f"{commune_code}-{date}-"
        seq = self._sequences.get(prefix)
        if seq is None:
            if len(self._sequences) > 50_000:  # yesterday's prefixes are not needed any more
                self._sequences.clear()
            seq = self.store.max_sequence(prefix)
        if seq >= 999_999:
            raise ApiError(
                503, "dossier_numbers_exhausted", f"commune {commune_code} has used every dossier number for today",
                "commune_code", {"Retry-After": "3600"},
            )  # fmt: skip
        seq += 1
        self._sequences[prefix] = seq
        return f"{prefix}{seq:06d}"

    # -- lifecycle --------------------------------------------------------------------
    def callback_url(self, host: str, port: int) -> str:
        """Where the intermediary calls the portal back (https when the portal serves TLS)."""
        if host in ("", "::") or host.startswith("0."):  # a wildcard bind is reachable on loopback
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.settings.tls_cert_file else "http"
        return f"{scheme}://{host}:{port}/payments/callback"

    async def startup(self) -> None:
        """Checkpoint off the event loop; re-schedule callbacks of payments still pending."""
        self.checkpointer = WalCheckpointer(self.conn)
        pending = self.store.pending_payments()
        if pending and not self.settings.port:
            log.warning("%d pending payments not re-scheduled: the port is not known at startup", len(pending))
            return
        for p in pending:
            url = self.callback_url(self.settings.host, self.settings.port)
            self.intermediary.schedule(url, p.id, p.dossier_code, p.amount_vnd)
        if pending:
            log.info("re-scheduled %d pending payment callbacks", len(pending))

    async def shutdown(self) -> None:
        """Stop callbacks, close HTTP clients and the database."""
        await self.intermediary.aclose()
        await self.population.aclose()
        await self.attachments.aclose()
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.conn.close()

    # -- ledger -----------------------------------------------------------------------
    def ledger(self) -> dict[str, Mapping[str, object]]:
        """Counts and ids of acknowledged dossiers, paid payments and feedback."""
        ids = self.store.ledger_ids()
        return {"counts": {k: len(v) for k, v in ids.items()}, "ids": ids}

    def store_sizes(self) -> dict[str, int]:
        """Row counts for the store-size gauge (cheap: no id lists)."""
        c = self.conn
        return {
            "dossiers": c.execute("SELECT COUNT(*) FROM dossiers").fetchone()[0],
            "payments": c.execute("SELECT COUNT(*) FROM payments").fetchone()[0],
            "feedback": c.execute("SELECT COUNT(*) FROM feedback").fetchone()[0],
        }


def portal_of(request: Request) -> Portal:
    """The :class:`Portal` of the app serving ``request``."""
    return request.app.state.portal


async def read_peers(request: Request) -> Response:
    """``GET /admin/peers``: the peer addresses each commune's traffic came from."""
    return json_response(portal_of(request).peers.report())


def _callback_tls(settings: ServiceSettings) -> ssl.SSLContext | bool:
    """How the intermediary's callbacks trust the portal: over https, the portal's own
    certificate and nothing else (it calls itself back; pinning the served leaf needs no
    CA), showing the portal's client certificate when one is configured (mutual TLS)."""
    if settings.tls_cert_file is None:
        return True
    context = ssl.create_default_context(cafile=str(settings.tls_cert_file))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the trust anchor
    if settings.upstream_client_cert and settings.upstream_client_key:
        context.load_cert_chain(str(settings.upstream_client_cert), str(settings.upstream_client_key))
    return context
