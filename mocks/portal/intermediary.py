"""A mock payment intermediary (the NAPAS-like party behind PayGov).

When the portal creates a payment, the intermediary "collects" it and, after a
configurable delay, calls the portal back over real HTTP: ``POST /payments/callback``
with a JSON body signed by HMAC-SHA256 in the ``X-Paygov-Signature`` header
(``sha256=<hex>``). The key is derived from the dry-run secret, so only a party that
knows it can forge a callback. Delivery is at-least-once — failed or 5xx deliveries are
retried with capped backoff, at most ``max_attempts`` times (≈ 4½ minutes by default, so
the loop always ends); a payment still undelivered stays pending and is re-scheduled when
the portal next starts, so a portal outage only delays the callback — and the portal's
callback handler is idempotent.

It lives inside the portal process (its own asyncio tasks and HTTP client) so a
dry run needs no extra service; it talks to the portal only through HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import ssl

import httpx
import orjson

__all__ = ["SIGNATURE_HEADER", "callback_key", "sign", "signature_valid", "PaymentIntermediary"]

SIGNATURE_HEADER = "X-Paygov-Signature"
_log = logging.getLogger(__name__)


def callback_key(secret: str) -> bytes:
    """The HMAC key shared by the intermediary and the portal."""
    return hmac.new(secret.encode(), b"dientap|paygov-callback", hashlib.sha256).digest()


def sign(key: bytes, body: bytes) -> str:
    """The signature header value of ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_valid(key: bytes, body: bytes, header: str | None) -> bool:
    """Constant-time check of a callback's signature header."""
    if not header:
        return False
    return hmac.compare_digest(sign(key, body).encode(), header.strip().encode())


class PaymentIntermediary:
    """Schedules signed, retried payment callbacks to the portal."""

    def __init__(self, key: bytes, delay_s: float, *, max_attempts: int = 30, timeout_s: float = 2.0,
                 verify: ssl.SSLContext | bool = True):
        self._key = key
        self._verify = verify
        self.delay_s = delay_s
        self.max_attempts = max_attempts
        self._timeout = httpx.Timeout(timeout_s)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0

    def schedule(self, callback_url: str, payment_id: str, dossier_code: str, amount_vnd: int) -> None:
        """Collect the payment and call back after ``delay_s`` (returns at once)."""
        task = asyncio.get_running_loop().create_task(
            self._deliver(callback_url, payment_id, dossier_code, amount_vnd)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        """Callbacks not yet delivered."""
        return len(self._tasks)

    async def _deliver(self, url: str, payment_id: str, dossier_code: str, amount_vnd: int) -> None:
        await asyncio.sleep(self.delay_s)
        body = orjson.dumps(
            {
                "payment_id": payment_id,
                "dossier_code": dossier_code,
                "amount_vnd": amount_vnd,
                "status": "paid",
                "transaction_ref": "NP" + hashlib.sha256(payment_id.encode()).hexdigest()[:14].upper(),
                "paid_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            }
        )
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(self._key, body)}
        if self._client is None:
            # No keep-alive: a callback is rare, and a connection the portal's own client holds
            # open to the portal would keep the server's graceful shutdown waiting for it.
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False, verify=self._verify,
                                             limits=httpx.Limits(max_keepalive_connections=0))
        attempt = 0
        while attempt < self.max_attempts:
            try:
                resp = await self._client.post(url, content=body, headers=headers)
                if resp.status_code < 500:
                    self.delivered += 1
                    if resp.status_code >= 400:
                        _log.warning("payment callback %s refused: %s %s", payment_id, resp.status_code, resp.text[:200])
                    return
            except httpx.HTTPError as exc:
                _log.info("payment callback %s attempt %d failed: %s", payment_id, attempt + 1, type(exc).__name__)
            await asyncio.sleep(min(10.0, 0.2 * 2 ** min(attempt, 10)))
            attempt += 1
        # Given up for now; the payment stays pending and is re-scheduled at the next start.
        _log.warning("payment callback %s not delivered after %d attempts", payment_id, self.max_attempts)

    async def aclose(self) -> None:
        """Cancel undelivered callbacks (they stay pending in the store) and close the client."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
