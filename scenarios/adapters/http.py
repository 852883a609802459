"""The HTTP layer under the adapters: geventhttpclient pools shared through gateways.

Every simulated actor belongs to a commune, and a province's communes reach the national
systems through the provincial gateway (the LGSP) — so the load generator does the
same: one connection pool per (province, service) per worker, shared by all actors of
that province. This bounds sockets per process (34 × 3 pools × ``pool_size``) however
many actors a worker holds, which is what lets one worker hold 10,000+ officers under
the 20,000 file-descriptor limit.

Requests are reported to Locust with ``request_type`` = the service name, so Locust's
own statistics (and web UI) show ``portal | POST /dossiers`` rather than merging the
three services' ``/auth/token``.

Each pool is a geventhttpclient ``HTTPClient`` driven directly, the client Locust's own
``FastHttpSession`` wraps, and the request is reported on Locust's ``events.request``
exactly as that session reports it (same fields, failures as ``CatchResponseError``).
Going around the wrapper is what keeps the generator lean (#14): ``FastHttpSession`` puts a
user agent in front of the client — URL parsing and joining, header copies and merges, a
compatibility request and response object, a response context — that a pool which always
speaks to one host with known headers does not need. py-spy under the personas load put
that wrapper at ≈ 17 % of the generator's busy time (``bench/loadgen.py --only personas``;
BENCHMARKS.md has the ratio before and after). Nothing of HTTP itself is written here:
connections, request framing and response parsing are geventhttpclient's.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import orjson
from geventhttpclient.client import HTTPClient
from geventhttpclient.connectionpool import ConnectionPool
from geventhttpclient.url import URL
from locust.exception import CatchResponseError

from kernel.tls import TlsOptions, client_context
from scenarios.latency import mark_throttled, request_context
from scenarios.retry_after import parse_retry_after
from scenarios.schedule import current_schedule

__all__ = ["MAX_ANSWER_BYTES", "THROTTLE_STATUSES", "Reply", "ServiceSession", "TokenCache"]

#: The largest answer body read, whatever the target sends: the mocks' largest answers (a
#: worklist of 200 dossiers) are tens of kilobytes, and a target that streams a log file or a
#: gigabyte of error page must cost the generator a failure, not its memory. Read per call, so
#: a test may lower it.
MAX_ANSWER_BYTES = 8 * 1024 * 1024

#: Answers that mean "the target is protecting itself" when they carry a Retry-After: an
#: account locked (423) or a caller throttled (429). Recorded apart from failures
#: (scenarios.adapters.throttle says why a 503 is not among them).
THROTTLE_STATUSES: frozenset[int] = frozenset({423, 429})

_EMPTY: dict[str, Any] = {}


def _enable_nodelay() -> None:
    """Set TCP_NODELAY on the generator's sockets, and bind a source-bound pool's.

    geventhttpclient writes headers and a larger body in two sends; with Nagle on, the
    second waits for the server's delayed ACK and every such request gains ~40 ms of
    latency that belongs to neither system. A pool made by ``ServiceSession`` for a source
    address carries the address its connections must leave from (geventhttpclient has no
    source-address option).
    """
    original = ConnectionPool._create_tcp_socket
    if getattr(original, "_dientap_nodelay", False):
        return

    def create(self, family, socktype, protocol):  # noqa: ANN001 - geventhttpclient's signature
        sock = original(self, family, socktype, protocol)
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        source = getattr(self, _SOURCE_ATTRIBUTE, None)
        if source is not None and family == socket.AF_INET:
            sock.bind((source, 0))
        return sock

    setattr(create, "_dientap_nodelay", True)  # noqa: B010 - a marker on a function, which mypy types without attributes
    setattr(ConnectionPool, "_create_tcp_socket", create)  # noqa: B010 - a monkeypatch; mypy refuses assigning a method


_SOURCE_ATTRIBUTE = "_dientap_source"


_enable_nodelay()


@dataclass(slots=True)
class Reply:
    """What an adapter call returns: status, parsed JSON body, and whether it succeeded."""

    status: int
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    error_code: str | None = None
    content: bytes = b""  # the raw body: adapters of XML shapes parse it themselves
    # The target answered a keyed request with the response it stored for that key the first
    # time (``Idempotent-Replayed: true``): proof that an earlier attempt with the same key landed.
    replayed: bool = False

    @property
    def transport_error(self) -> bool:
        """No HTTP answer at all (reset, timeout, refused)."""
        return self.status == 0

    @property
    def throttled(self) -> bool:
        """Throttled by the target: 423 or 429 with a Retry-After (come back later, not broken)."""
        return self.status in THROTTLE_STATUSES and self.retry_after is not None


#: A pooled connection idle longer than this is closed rather than reused. Servers close
#: idle keep-alive connections on their own clock (uvicorn after 5 s by default, the mocks
#: after 30 s); a request written as that close happens gets no answer
#: (``HTTPConnectionClosed``) — 9 of 452,571 requests at golive ×10, all on officers'
#: per-commune connections, idle 30–60 s between actions. Not reusing a connection idle
#: past the shortest common keep-alive costs a loopback handshake instead.
IDLE_REUSE_S = 4.0


@dataclass(slots=True)
class _Pool:
    """One connection pool and what decides whether its idle connections may be reused."""

    client: HTTPClient
    in_flight: int = 0
    last_done: float = field(default_factory=time.monotonic)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around one request: counted in flight, and its end is the pool's last use."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.last_done = time.monotonic()


class ServiceSession:
    """One service's connection pools with Locust reporting and the recorder's context.

    Without ``source_of`` every request of the province shares one pool. With it (a
    loopback target, ``kernel.source_addresses``) each source address — a commune, or
    the province's own systems — gets a pool of its own bound to that address, made on
    first use: per-address rules of the target then see the country's offices, not one
    generator. Idle connections are the server's to close, so the sockets held track
    the communes active in the last keep-alive interval.
    """

    def __init__(
        self, environment: Any, service: str, base_url: str, *, pool_size: int = 10, timeout_s: float = 30.0,
        source_of: Callable[[str, str | None], str] | None = None, tls: TlsOptions | None = None,
    ):
        self.service = service
        self.base_url = base_url
        url = URL(base_url)
        self._url = url
        self._prefix = url.path.rstrip("/")  # a target mounted under a path keeps it on every request
        self._fire = environment.events.request.fire
        self._pool_size = pool_size
        self._timeout_s = timeout_s
        self._source_of = source_of
        # One context for every pool of the service (building one reads the CA bundle).
        self._tls = client_context(tls) if url.scheme == "https" else None
        self._by_source: dict[str, _Pool] = {}
        self._shared = _Pool(self._new_client(None))

    def _new_client(self, source: str | None) -> HTTPClient:
        tls: dict[str, Any] = {}
        if self._tls is not None:
            context = self._tls
            # geventhttpclient builds a context per pool unless handed a factory; ours returns
            # the service's one, already holding its CA, client certificate and verification.
            tls = {"ssl_context_factory": lambda **_ignored: context, "insecure": not context.check_hostname}
        client = HTTPClient.from_url(
            self._url, concurrency=self._pool_size, network_timeout=self._timeout_s,
            connection_timeout=min(self._timeout_s, 10.0), block_size=_BLOCK_SIZE, **tls,
        )
        if source is not None:
            setattr(client._connection_pool, _SOURCE_ATTRIBUTE, source)  # read by create() above
        return client

    def _pool_for(self, province: str, commune: str | None) -> _Pool:
        if self._source_of is None:
            pool = self._shared
            source = None
        else:
            source = self._source_of(province, commune)
            found = self._by_source.get(source)
            pool = found if found is not None else self._by_source.setdefault(source, _Pool(self._new_client(source)))
        if not pool.in_flight and time.monotonic() - pool.last_done > IDLE_REUSE_S:
            # Its idle connections may be closing at the server: the next request opens a
            # fresh one (a closed geventhttpclient pool cannot be reopened, so a new client).
            pool.client.close()
            pool.client = self._new_client(source)
        return pool

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        province: str,
        commune: str | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        expect: tuple[int, ...] = (200, 201),
        intended_start: float | None = None,
        check: Callable[[dict[str, Any]], str | None] | None = None,
        read: Callable[[Reply], str | None] | None = None,
    ) -> Reply:
        """Send one request; statuses in ``expect`` count as success in Locust's stats,
        unless ``check(body)`` names a problem with an otherwise successful answer.

        ``read(reply)`` is for answers that are not JSON (SOAP): called with every answer
        before it is reported, it may fill the reply's data and error code, and sets
        ``reply.ok`` false when the body holds no result (reported under the error code it
        set, or under the problem it returns)."""
        hdrs = dict(headers or _EMPTY)
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if json is not None:
            data = orjson.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        # Every request of a scheduled actor carries its intended start (scenarios.schedule).
        schedule = current_schedule()
        if intended_start is None and schedule is not None:
            intended_start = schedule.intended
        context = request_context(self.service, province, commune=commune, intended_start=intended_start)
        pool = self._pool_for(province, commune)
        started_at = time.time()
        began = time.perf_counter()
        status = 0
        content = b""
        retry_header: Any = None
        replayed = False
        error: Exception | None = None
        too_large = False
        with pool.busy():
            try:
                # The socket timeout bounds each read, not the answer: a target dripping a byte
                # a second would hold the actor for as long as it liked. The whole exchange gets
                # the request timeout.
                with gevent.Timeout(self._timeout_s, _AnswerDeadline(self._timeout_s)), \
                        pool.client.request(method, self._prefix + path, body=data, headers=hdrs) as response:
                    status = response.status_code
                    content, too_large = _bounded_body(response, MAX_ANSWER_BYTES)
                    if status in (423, 429, 503):
                        retry_header = response.get("retry-after")
                    elif "Idempotency-Key" in hdrs:
                        replayed = response.get("idempotent-replayed") == "true"
            # Any failure to get an answer is the request's outcome, never the actor's crash —
            # what Locust's FastHttpSession does too (reset, refused, timeout, a malformed answer).
            except Exception as exc:  # noqa: BLE001
                error, status, content = exc, 0, b""
        elapsed_ms = (time.perf_counter() - began) * 1000
        body: dict[str, Any] = {}
        if content and not too_large:
            try:
                parsed = orjson.loads(content)
                body = parsed if isinstance(parsed, dict) else {"items": parsed}
            except orjson.JSONDecodeError:
                body = {}
        ok = status in expect and not too_large
        error_code = _error_code(body, failed=not ok)
        problem = check(body) if ok and check is not None else None
        if isinstance(retry_header, list):  # the header sent twice: the first, as before
            retry_header = retry_header[0] if retry_header else None
        retry_after = parse_retry_after(retry_header)
        reply = Reply(status=status, ok=ok, data=body, retry_after=retry_after, error_code=error_code, content=content,
                      replayed=replayed)
        if too_large:
            problem = f"answer larger than {MAX_ANSWER_BYTES} bytes"
        elif read is not None and status:
            was_ok = reply.ok
            problem = read(reply) or problem
            if was_ok and not reply.ok and problem is None:
                problem = f"HTTP {status} {reply.error_code or 'unreadable answer'}"
            ok, error_code = reply.ok, reply.error_code
        failure: str | None
        if ok and problem is None:
            failure = None
        elif problem is not None:
            failure = problem
        elif reply.throttled:
            # Still a failure to Locust (its statistics know no third outcome, and a refused
            # request is not a success), under its own message so its failure table keeps
            # them apart; dientap's records count it as throttled, not failed (the context mark).
            failure = f"throttled by target ({status} {error_code or 'throttled'}, Retry-After {retry_after:g})"
            mark_throttled(context)
        elif status:
            failure = f"HTTP {status} {error_code or ''}".strip()
        else:
            # One name for every timeout — the socket's on a read, or the whole answer's — so
            # Locust's failure table keeps one row for them whichever fired first.
            reason = "TimeoutError" if isinstance(error, TimeoutError) else type(error).__name__
            failure = f"no response ({reason})" if error is not None else "no response"
        self._fire(
            request_type=self.service, name=name, response_time=elapsed_ms, response_length=len(content),
            exception=CatchResponseError(failure) if failure is not None else None,
            context=context, start_time=started_at, response=None, url=path,
        )
        if schedule is not None:
            schedule.request_done(time.perf_counter() - began)
        return reply


#: geventhttpclient reads a response in blocks of this size; the mocks' largest everyday
#: answers (worklists, inboxes) are a few kilobytes, so most arrive in one read.
_BLOCK_SIZE = 16 * 1024


class _AnswerDeadline(TimeoutError):
    """No complete answer within the request timeout (raised in the requesting greenlet)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"no complete answer within {timeout_s:g} s")


def _bounded_body(response: Any, limit: int) -> tuple[bytes, bool]:
    """The answer's body, at most ``limit`` bytes: (body, whether more was announced or sent).

    A body cut off leaves its connection mid-message, which geventhttpclient then closes
    rather than hands back to the pool."""
    announced = response.content_length
    if announced is not None and announced > limit:
        return b"", True
    parts: list[bytes] = []
    size = 0
    while chunk := response.read(_BLOCK_SIZE):
        size += len(chunk)
        if size > limit:
            return b"", True
        parts.append(chunk)
    return b"".join(parts), False


class TokenCache:
    """Bearer tokens by account, refreshed shortly before they expire."""

    def __init__(self, margin_s: float = 30.0):
        self._tokens: dict[str, tuple[str, float]] = {}
        self._margin = margin_s

    def get(self, account: str) -> str | None:
        """A still-valid token of ``account``, or None."""
        entry = self._tokens.get(account)
        if entry is None or entry[1] - self._margin <= time.monotonic():
            return None
        return entry[0]

    def put(self, account: str, token: str, expires_in: float) -> None:
        """Remember ``account``'s token for ``expires_in`` seconds."""
        self._tokens[account] = (token, time.monotonic() + expires_in)

    def drop(self, account: str) -> None:
        """Forget a token (after logout or a 401)."""
        self._tokens.pop(account, None)


def _error_code(body: dict[str, Any], *, failed: bool) -> str | None:
    """The rule a refusal names, in each JSON shape's error form: the native face's
    ``{"error": {"code"}}``; for a failed request also the integration adapter's ``reason``
    and the SDK's ``ErrorCode`` (of a ``"FAIL"``), so Locust's failure table tells the
    national faces' refusals apart as it does the native ones."""
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        return code if isinstance(code, str) else None
    if not failed:
        return None
    reason = body.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    sdk = body.get("ErrorCode")
    if body.get("status") == "FAIL" and isinstance(sdk, (str, int)) and not isinstance(sdk, bool):
        return str(sdk)
    return None
