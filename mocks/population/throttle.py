"""Per-client token buckets, so one bulk scraper cannot starve the other client systems.

Each client system (``portal``, ``police``, ``province-NN``) has its own bucket of
``burst`` tokens refilled at ``rate_per_s``; a request takes one token or is refused
with the seconds until the next token (the ``Retry-After``). Buckets are keyed by the
authenticated ``client_id`` — never by IP, because all province systems may sit behind
one gateway (NGSP/LGSP) and share an address.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ThrottlePolicy", "ClientThrottle"]


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Sustained rate and burst per client; ``rate_per_s <= 0`` turns throttling off.

    The service takes both from ``ServiceSettings.rate_limit_per_s`` / ``rate_limit_burst``
    (the planted ``no_rate_limit`` weakness turns it off).
    """

    rate_per_s: float
    burst: int

    @property
    def enabled(self) -> bool:
        """Whether requests are throttled at all."""
        return self.rate_per_s > 0


class ClientThrottle:
    """Token buckets per client id (in memory; a restart refills every bucket)."""

    def __init__(self, policy: ThrottlePolicy, clock: Callable[[], float] = time.monotonic):
        self._rate = policy.rate_per_s
        self._burst = float(max(1, policy.burst))
        self._enabled = policy.enabled
        self._clock = clock
        # client_id -> [tokens, last refill time]; lists, not objects, to stay cheap per call.
        self._buckets: dict[str, list[float]] = {}

    def take(self, client_id: str, cost: int = 1) -> int:
        """Take ``cost`` tokens for ``client_id``: 0 if allowed, else whole seconds to wait (≥ 1).

        A call is allowed while one token is left; a costlier one (a batch) then leaves
        the bucket in debt, which later calls wait out, so the sustained rate holds
        whatever the batch size.
        """
        if not self._enabled:
            return 0
        now = self._clock()
        bucket = self._buckets.get(client_id)
        if bucket is None:
            self._buckets[client_id] = [self._burst - cost, now]
            return 0
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - cost
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def charge(self, client_id: str, cost: int) -> None:
        """Put ``cost`` more tokens on the bill of a call already let in (a batch's items after
        its first): never a refusal — the call was admitted — only debt later calls wait out.
        (Taking them with :meth:`take` refused an admitted batch whenever the admission had
        spent the last whole token: a one-item batch got 429 where ``/citizens/verify`` passed.)"""
        if not self._enabled or cost <= 0:
            return
        now = self._clock()
        bucket = self._buckets.setdefault(client_id, [self._burst, now])
        bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate) - cost
        bucket[1] = now
