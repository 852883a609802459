"""Which network addresses each commune's traffic came from (``GET /admin/peers``).

Per-address defences (the stuffing detector, a WAF's rate limits) judge traffic by its
socket peer, so a rehearsal is only faithful if the communes arrive from addresses of
their own, as on go-live day. This audit lets a test — or an operator — see what the
portal saw: for each commune, the peer addresses of its officers' requests and of the
dossiers submitted to it. Memory is bounded: communes are the roster's 3,321, and each
keeps at most ``MAX_ADDRESSES`` addresses (further ones are only counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PeerAudit", "MAX_ADDRESSES"]

MAX_ADDRESSES = 8


@dataclass(slots=True)
class _CommunePeers:
    addresses: set[str] = field(default_factory=set)
    requests: int = 0
    overflow: int = 0  # requests from addresses beyond MAX_ADDRESSES


class PeerAudit:
    """Peer addresses seen per commune, since the service started."""

    def __init__(self) -> None:
        self._communes: dict[str, _CommunePeers] = {}

    def record(self, commune: str, peer: str) -> None:
        """Count one request of ``commune`` from ``peer`` (a roster commune code)."""
        entry = self._communes.get(commune)
        if entry is None:
            entry = self._communes[commune] = _CommunePeers()
        entry.requests += 1
        if peer not in entry.addresses:
            if len(entry.addresses) < MAX_ADDRESSES:
                entry.addresses.add(peer)
            else:
                entry.overflow += 1

    def report(self) -> dict[str, object]:
        """The ``GET /admin/peers`` body: per commune, its addresses and request count."""
        communes = {
            code: {"addresses": sorted(e.addresses), "requests": e.requests, "overflow_requests": e.overflow}
            for code, e in sorted(self._communes.items())
        }
        addresses = {a for e in self._communes.values() for a in e.addresses}
        return {"communes": communes, "communes_seen": len(communes), "distinct_addresses": len(addresses)}
