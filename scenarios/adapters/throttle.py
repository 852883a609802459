"""Honouring ``Retry-After``: a client the target throttled leaves it alone until told.

A target that answers 423 (account locked) or 429 (throttled) with ``Retry-After`` is
protecting itself; a client that signs in again at its next action turns a throttle into
a lockout and the report into a list of self-inflicted failures (issue #18: 57,645
``sign_in_throttled`` answers, then 6,874 ``account_locked`` from the retries). So:

* every such answer holds its account in a *throttled-until gate* for
  ``Retry-After`` × jitter (uniform 1.0–1.5, drawn per account, so the actors that were
  throttled together do not come back together), bounded by :data:`scenarios.retry_after.MAX_HOLD_S`;
* while an account is held, its token getter (``officer_token``, ``PopulationAdapter.token``,
  ``AxisAdapter.token``) answers ``None`` without a request — no sign-in is retried while a
  ``Retry-After`` is pending — and a persona with no token does not touch that system;
* an answer that throttles a request made *with* a token holds the token's account too
  (:meth:`GatedTokenCache.observe`), so the next action of every actor using it waits.

Waits never outlive the run: the gate sleeps nobody (a held actor skips its actions
until the gate opens, and Locust stops it at the end), and a citizen's retry waits with
:meth:`scenarios.schedule.Schedule.wait`, which ends when the run closes.

Only 423 and 429 count as *throttled by the target* (:data:`THROTTLE_STATUSES`); a 503
with ``Retry-After`` is honoured the same way by the clients but stays a failure in the
records: by the HTTP conventions of the services (``docs/CONTRACTS.md``) it means the
service or one it depends on is down — an outage, or a province not connected — which
the readiness matrix must show red, not excuse.
"""

from __future__ import annotations

from scenarios.adapters.http import Reply, TokenCache
from scenarios.retry_after import ThrottleGate

__all__ = ["GatedTokenCache"]


class GatedTokenCache(TokenCache):
    """A :class:`TokenCache` whose accounts the target can hold off (see the module docstring)."""

    def __init__(self, margin_s: float = 30.0, gate: ThrottleGate | None = None) -> None:
        super().__init__(margin_s)
        self.gate = gate or ThrottleGate()
        self._accounts: dict[str, str] = {}  # token → account, to hold the account a throttled request used
        self._token_of: dict[str, str] = {}  # account → its latest token (a refresh forgets the old one)

    def put(self, account: str, token: str, expires_in: float) -> None:
        """Remember ``account``'s token (and whose it is)."""
        old = self._token_of.get(account)
        if old is not None:
            self._accounts.pop(old, None)
        super().put(account, token, expires_in)
        self._accounts[token] = account
        self._token_of[account] = token

    def held(self, account: str) -> bool:
        """True while a Retry-After of ``account`` is pending: do not sign in, do not call."""
        return self.gate.remaining(account) > 0

    def note(self, account: str, reply: Reply) -> bool:
        """Hold ``account`` when ``reply`` asked to come back later; True if it did."""
        if reply.retry_after is None:
            return False
        self.gate.hold(account, reply.retry_after)
        return True

    def observe(self, token: str | None, reply: Reply) -> bool:
        """Hold the account ``token`` belongs to when ``reply`` asked to come back later."""
        account = self._accounts.get(token) if token is not None else None
        return account is not None and self.note(account, reply)
