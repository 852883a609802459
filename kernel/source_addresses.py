"""Loopback source addresses: each commune's traffic leaves from its own 127.x address.

On go-live day the national portal sees 3,321 commune offices, each behind its own
address. A load generator on one machine sends everything from 127.0.0.1, so any
per-address rule of the target (a stuffing detector, a WAF rate limit, a lockout keyed
by address) sees one attacker instead of a country. The whole of 127.0.0.0/8 is local
on Linux, so against a loopback target every commune's connections bind to an address
of their own, derived from the commune code alone — the generator, the mocks' audit and
the tests agree on it without sharing state:

* commune ``NNNNN`` → ``127.10+(n>>16).(n>>8 & 255).(n & 255)`` (n = int(code), codes < 10⁵);
* a province's own systems (its agency, its gateway's catalogue look-ups) →
  ``127.9.0.<province code>``.

127.0.0.1 itself is never handed out, so harness-wide traffic (probes, admin calls)
stays apart from the communes'.
"""

from __future__ import annotations

__all__ = ["commune_source", "province_source", "source_for"]

_COMMUNE_BASE = 10  # second octet of the first commune address block
_PROVINCE_PREFIX = "127.9.0."


def commune_source(commune_code: str) -> str:
    """The loopback address commune ``commune_code``'s traffic leaves from."""
    n = int(commune_code)
    if not 0 < n < 100_000:
        raise ValueError(f"commune code {commune_code!r}: expected 5 digits, 00001-99999")
    return f"127.{_COMMUNE_BASE + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def province_source(province_code: str) -> str:
    """The loopback address province ``province_code``'s own systems send from."""
    n = int(province_code)
    if not 0 < n < 100:
        raise ValueError(f"province code {province_code!r}: expected 2 digits, 01-99")
    return f"{_PROVINCE_PREFIX}{n}"


def source_for(province: str, commune: str | None) -> str:
    """The commune's address when the traffic belongs to a commune, else the province's."""
    return commune_source(commune) if commune else province_source(province)

