"""The throttled-until gate: when a client may touch a target again after ``Retry-After``.

Locust-free (the adapters' :class:`scenarios.adapters.throttle.GatedTokenCache` stands on it,
and the tests drive it with an injected clock). Why the clients wait, and for whom, is in
:mod:`scenarios.adapters.throttle`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import re
import time
from collections.abc import Callable
from typing import Final

__all__ = ["RETRY_JITTER", "MAX_HOLD_S", "MAX_RETRY_WAIT_S", "parse_retry_after", "retry_wait", "ThrottleGate"]

#: Retry-After is multiplied by a factor drawn uniformly from this range: never earlier than
#: the target asked, and spread over half as long again so the throttled come back apart.
RETRY_JITTER: Final = (1.0, 1.5)
#: The longest an account is held, whatever Retry-After says (a garbled or hostile value must
#: not park an actor for days); an hour is longer than every shipped profile but the soak.
MAX_HOLD_S: Final = 3600.0
#: The longest a citizen's journey waits to retry; told to come back later than this, the
#: citizen gives up the visit (the open model brings other citizens) rather than retry early.
MAX_RETRY_WAIT_S: Final = 30.0


#: delta-seconds (RFC 9110 §10.2.3: digits; a fraction is accepted, as some gateways send one).
_DELAY = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """The delay a ``Retry-After`` header asks for, in seconds, or None when it says nothing usable.

    Both forms of the header count: delta-seconds and an HTTP-date (a gateway that throttles
    with a date is as much throttling as one that sends seconds; ignoring it would send the
    client straight back, turning the throttle into a lockout). A date already past is 0.
    Negative, non-finite and garbled values are no Retry-After at all."""
    if value is None:
        return None
    text = value.strip()
    if _DELAY.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # the asctime form carries no zone: HTTP-dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now())


def retry_wait(retry_after: float, rng: random.Random, jitter: tuple[float, float] = RETRY_JITTER) -> float:
    """How long to wait after a ``Retry-After`` of ``retry_after`` seconds: × uniform jitter."""
    low, high = jitter
    return max(0.0, retry_after) * rng.uniform(low, high)


class ThrottleGate:
    """Throttled-until times per key (an account, a client system, an agency code).

    The jitter of a key's n-th hold is drawn from ``Random(f"{key}:{n}")``: seeded per
    actor, reproducible, and without a ``Random`` object kept per account (33,000 officers).
    """

    __slots__ = ("_clock", "_held", "_jitter", "_max_hold_s")

    def __init__(self, *, jitter: tuple[float, float] = RETRY_JITTER, max_hold_s: float = MAX_HOLD_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[str, tuple[float, int]] = {}  # key → (held until, holds so far)
        self._jitter = jitter
        self._max_hold_s = max_hold_s
        self._clock = clock

    def hold(self, key: str, retry_after: float) -> float:
        """Hold ``key`` for ``retry_after`` × jitter (bounded); returns the seconds held.
        A later hold never shortens an earlier one."""
        until, holds = self._held.get(key, (0.0, 0))
        wait = min(retry_wait(retry_after, random.Random(f"{key}:{holds}"), self._jitter), self._max_hold_s)
        self._held[key] = (max(until, self._clock() + wait), holds + 1)
        return wait

    def remaining(self, key: str) -> float:
        """Seconds ``key`` is still held (0 when free)."""
        entry = self._held.get(key)
        if entry is None:
            return 0.0
        left = entry[0] - self._clock()
        if left <= 0:
            del self._held[key]  # forget opened gates: memory stays bounded by the throttled
            return 0.0
        return left
