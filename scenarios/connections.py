"""Keep-alive fix for geventhttpclient, and shared connection pools.

The trap (``../shared/PERF-NOTES.md``): geventhttpclient 2.6.1 checks whether a pooled
idle socket is still alive with ``select.select([sock], [], [], 0)``. ``select()`` cannot
take file descriptors ≥ 1024 and raises ``ValueError``; the pool reads that as "dead
socket", closes it and opens a new TCP connection. So once a process holds more than
~1,000 sockets, *every* request reconnects (22,457 connections for 28,746 requests at
5,000 users).

:func:`install_keepalive_fix` replaces the check with one built on the *original*
(un-monkey-patched) ``select.poll``, which has no descriptor limit. Calling the original
poll with a zero timeout never blocks, so it is safe inside gevent; gevent's patched
``poll`` would instead park the greenlet on the hub for a zero-length wait. The fix is
applied only when a probe shows the installed geventhttpclient has the bug, and only once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import resource
import select as _stdlib_select
import socket as _stdlib_socket
from collections.abc import Callable
from typing import Any

import gevent.monkey
from geventhttpclient import __version__ as GEVENTHTTPCLIENT_VERSION
from geventhttpclient.client import HTTPClientPool
from geventhttpclient.connectionpool import ConnectionPool

__all__ = ["GEVENTHTTPCLIENT_VERSION", "install_keepalive_fix", "keepalive_fix_installed", "OfficePools"]

logger = logging.getLogger(__name__)

# Registered poll events that mean "not an idle, healthy keep-alive socket": data or EOF
# waiting (POLLIN/POLLPRI), peer hang-up, error, or an invalid descriptor.
_NOT_IDLE = (
    _stdlib_select.POLLIN | _stdlib_select.POLLPRI | _stdlib_select.POLLERR | _stdlib_select.POLLHUP | _stdlib_select.POLLNVAL
)
_poll_factory: Callable[[], Any] = gevent.monkey.get_original("select", "poll")
_original_check = ConnectionPool._is_socket_alive
_installed = False


def _is_socket_alive_poll(self: ConnectionPool, sock: Any) -> bool:
    """``poll()``-based replacement of ``ConnectionPool._is_socket_alive``."""
    if sock is None:
        return False
    try:
        fd = sock.fileno()
        if fd < 0:
            return False
        poller = _poll_factory()
        poller.register(fd, _NOT_IDLE)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _check_has_bug(check: Callable[[Any, Any], bool] | None = None) -> bool | None:
    """Probe ``check`` (default: the pool's current one) with an idle, healthy socket
    whose fd is ≥ 1024.

    Returns True (bug present), False (check works) or None (cannot probe: the
    open-file limit is ≤ 1024, so descriptors never reach the broken range anyway).
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft <= 1025:
        return None
    left, right = _stdlib_socket.socketpair()
    high_fd = -1
    try:
        high_fd = fcntl.fcntl(left.fileno(), fcntl.F_DUPFD, 1024)
        probe = _stdlib_socket.socket(fileno=high_fd)
        high_fd = -1  # owned by probe now
        try:
            pool = object.__new__(ConnectionPool)  # the check uses no instance state
            return not (check or ConnectionPool._is_socket_alive)(pool, probe)
        finally:
            probe.close()
    finally:
        if high_fd >= 0:
            os.close(high_fd)
        left.close()
        right.close()


def install_keepalive_fix() -> bool:
    """Patch geventhttpclient's keep-alive check when it is broken; idempotent.

    Returns True when the poll-based check is in place (now or from an earlier call),
    False when the installed version does not need it (or the probe could not run).
    Logs once what it did, naming the geventhttpclient version.
    """
    global _installed
    if _installed:
        return True
    has_bug = _check_has_bug()
    if not has_bug:
        logger.info(
            "geventhttpclient %s: keep-alive check %s; not patched",
            GEVENTHTTPCLIENT_VERSION,
            "works for fds >= 1024" if has_bug is False else "not probed (open-file limit <= 1024)",
        )
        return False
    setattr(ConnectionPool, "_is_socket_alive", _is_socket_alive_poll)  # noqa: B010 - a monkeypatch; mypy refuses assigning a method
    _installed = True
    logger.info(
        "geventhttpclient %s: select()-based keep-alive check fails for fds >= 1024; "
        "replaced with a poll()-based check",
        GEVENTHTTPCLIENT_VERSION,
    )
    return True


def keepalive_fix_installed() -> bool:
    """Whether :func:`install_keepalive_fix` patched the pool in this process."""
    return _installed


def _uninstall_for_tests() -> None:
    """Restore the original check (tests prove the fix matters by comparing)."""
    global _installed
    setattr(ConnectionPool, "_is_socket_alive", _original_check)  # noqa: B010 - a monkeypatch; mypy refuses assigning a method
    _installed = False


class OfficePools:
    """Shared ``HTTPClientPool``\\ s, one per key (e.g. (service, commune office)).

    Thousands of actors each holding sockets to three services would pass the process's
    file-descriptor limit (20,000 here). Actors of one office share one pool, like an
    office behind one gateway: pass ``client_pool=pools.get((service, commune))`` to
    ``FastHttpSession`` or set it on a ``FastHttpUser``. ``concurrency`` bounds the
    sockets per pool (and so per office and service).
    """

    def __init__(self, concurrency: int = 2, **client_args: Any) -> None:
        self.concurrency = concurrency
        self.client_args = client_args
        self._pools: dict[tuple[str, ...], HTTPClientPool] = {}

    def get(self, key: tuple[str, ...]) -> HTTPClientPool:
        """The pool for ``key``, created on first use."""
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = HTTPClientPool(concurrency=self.concurrency, **self.client_args)
        return pool

    def __len__(self) -> int:
        return len(self._pools)

    def close(self) -> None:
        """Close every pool's sockets."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
