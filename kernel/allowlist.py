"""The target allowlist: load, drill and attack traffic goes only to hosts the user allowed.

The default allowlist is loopback only (127.0.0.0/8, ::1, ``localhost``). A user adds
hosts explicitly (``--allow-host`` / ``DIENTAP_ALLOW_HOSTS`` / ``allow_hosts:`` in the
targets file); nothing is ever added implicitly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from kernel.errors import TargetNotAllowed

__all__ = ["Allowlist", "host_problem", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any literal loopback address (no DNS look-up)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_problem(text: str) -> str | None:
    """Why ``text`` is not a host to put on the allowlist, or None: a name or an address, as a
    URL's host is compared with it — ``https://staging`` or ``staging:443`` never matches one,
    and the run would then be refused as off the allowlist, blaming the targets file."""
    host = text.strip()
    try:
        ipaddress.ip_address(host.strip("[]"))  # an IPv6 address has colons of its own
        return None
    except ValueError:
        pass
    if not host or any(c in host for c in "/:@[]") or any(c.isspace() for c in host):
        return f"{text!r} is not a host; give a name or an address, no scheme or port"
    return None


class Allowlist:
    """Hosts that traffic may go to. Loopback is always allowed; others must be named."""

    def __init__(self, extra_hosts: Iterable[str] = ()):
        self.extra_hosts = frozenset(h.strip().lower().strip("[]") for h in extra_hosts if h.strip())

    def allows(self, host: str) -> bool:
        """Whether ``host`` (name or literal address) is on the list."""
        host = host.strip("[]").lower()
        return is_loopback_host(host) or host in self.extra_hosts

    def check_url(self, url: str, *, what: str = "target") -> str:
        """Return ``url`` unchanged if its host is allowed, else raise :class:`TargetNotAllowed`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetNotAllowed(f"{what} URL {url!r} is not an http(s) URL with a host")
        if not self.allows(parts.hostname):
            raise TargetNotAllowed(
                f"{what} host {parts.hostname!r} is not on the allowlist (default: loopback only); "
                f"add it explicitly with --allow-host {parts.hostname} if you own that system"
            )
        return url
