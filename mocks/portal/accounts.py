"""Portal accounts and sign-in rules: citizens, commune officers, and per-account lockout.

* A citizen's account is their personal ID number; an officer's is
  ``<commune code>.officer<n>`` for ``n`` in ``1..officers_per_commune`` of a 2025
  commune. Every password is ``derive_password(dry_run_secret, account)``.
* Failed sign-ins are counted **per account**, never per IP: after ``threshold``
  failures within ``window_s`` the account is locked for ``window_s`` seconds
  (HTTP 423 with ``Retry-After``), whatever address the guesses come from.
* Unknown accounts are counted and locked exactly like real ones, and fail with the
  same status and body as a wrong password, so the API cannot be used to enumerate
  accounts.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kernel.credentials import derive_password
from kernel.roster import Commune, load_roster

__all__ = ["CommuneOfficer", "LoginThrottle", "officer_of", "password_matches"]

_OFFICER_ACCOUNT = re.compile(r"(\d{5})\.officer([1-9]\d{0,2})")


@dataclass(frozen=True, slots=True)
class CommuneOfficer:
    """An officer account of a commune's Public Administrative Service Centre."""

    account: str
    commune: Commune
    number: int


def officer_of(account: str, officers_per_commune: int) -> CommuneOfficer | None:
    """The officer named by ``account``, or ``None`` if no such account exists."""
    m = _OFFICER_ACCOUNT.fullmatch(account)
    if not m:
        return None
    number = int(m.group(2))
    if number > officers_per_commune:
        return None
    try:
        commune = load_roster().commune(m.group(1))
    except KeyError:
        return None
    return CommuneOfficer(account, commune, number)


def password_matches(secret: str, account: str, password: str) -> bool:
    """Constant-time comparison with the account's derived password."""
    return hmac.compare_digest(derive_password(secret, account).encode(), password.encode())


@dataclass(slots=True)
class _Attempts:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failed sign-ins per account and locks an account after too many.

    ``max_accounts`` bounds memory under a spraying attack: when reached, entries that
    are neither locked nor recently failing are forgotten first.
    """

    def __init__(
        self,
        threshold: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_accounts: int = 200_000,
    ):
        self.threshold = threshold
        self.window_s = window_s
        self._clock = clock
        self._max_accounts = max_accounts
        self._accounts: dict[str, _Attempts] = {}

    def retry_after(self, account: str) -> int | None:
        """Seconds until ``account`` may try again, or ``None`` if it is not locked."""
        entry = self._accounts.get(account)
        if entry is None or not entry.locked_until:
            return None
        remaining = entry.locked_until - self._clock()
        if remaining <= 0:
            del self._accounts[account]  # lock served: start afresh
            return None
        return max(1, int(remaining + 0.999))

    def record_failure(self, account: str) -> int | None:
        """Count a failed sign-in; return the lock's ``Retry-After`` if this one locks it."""
        now = self._clock()
        entry = self._accounts.get(account)
        if entry is None:
            if len(self._accounts) >= self._max_accounts:
                self._evict(now)
            entry = self._accounts[account] = _Attempts()
        cutoff = now - self.window_s
        entry.failures = [t for t in entry.failures if t > cutoff]
        entry.failures.append(now)
        if len(entry.failures) >= self.threshold:
            entry.locked_until = now + self.window_s
            entry.failures.clear()
            return max(1, int(self.window_s + 0.999))
        return None

    def record_success(self, account: str) -> None:
        """A correct password resets the account's failure count."""
        self._accounts.pop(account, None)

    def _evict(self, now: float) -> None:
        cutoff = now - self.window_s
        stale = [
            a for a, e in self._accounts.items() if e.locked_until <= now and not any(t > cutoff for t in e.failures)
        ]
        for a in stale:
            del self._accounts[a]
        if len(self._accounts) >= self._max_accounts:
            # Still full of live entries: drop the oldest half rather than grow without bound.
            for a in list(self._accounts)[: self._max_accounts // 2]:
                del self._accounts[a]


class StuffingDetector:
    """Cross-account defence against credential stuffing and password spraying.

    Per-account lockout cannot see an attacker who tries many accounts a few times each.
    This counts failed sign-ins per *network peer* (the socket address — never a
    client-supplied header) over a sliding window; once one address has failed on
    ``min_accounts`` distinct accounts and ``threshold`` times in all, its failed
    sign-ins are answered 429 with ``Retry-After`` (after a short tarpit) until
    ``block_s`` has passed without new trips. Sign-ins with the right password still go
    through: an office behind a shared address keeps working while the guessing slows
    to a crawl. ``max_peers`` bounds memory.
    """

    def __init__(
        self,
        threshold: int,
        min_accounts: int,
        window_s: float,
        block_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_peers: int = 10_000,
    ):
        self.threshold = threshold
        self.min_accounts = min_accounts
        self.window_s = window_s
        self.block_s = block_s
        self._clock = clock
        self._max_peers = max_peers
        self._failures: dict[str, list[tuple[float, str]]] = {}
        self._blocked_until: dict[str, float] = {}

    def blocked_for(self, peer: str) -> int | None:
        """Seconds the peer's failed sign-ins stay throttled, or ``None``."""
        until = self._blocked_until.get(peer)
        if until is None:
            return None
        remaining = until - self._clock()
        if remaining <= 0:
            del self._blocked_until[peer]
            return None
        return max(1, int(remaining + 0.999))

    def record_failure(self, peer: str, account: str) -> int | None:
        """Count a failed sign-in; return ``Retry-After`` when the peer is (now) throttled."""
        now = self._clock()
        if peer not in self._failures and len(self._failures) >= self._max_peers:
            self._failures.clear()  # an address flood: start afresh rather than grow
        recent = [(t, a) for t, a in self._failures.get(peer, ()) if t > now - self.window_s]
        recent.append((now, account))
        self._failures[peer] = recent[-4 * self.threshold :]
        if len(recent) >= self.threshold and len({a for _, a in recent}) >= self.min_accounts:
            self._blocked_until[peer] = now + self.block_s
        return self.blocked_for(peer)
