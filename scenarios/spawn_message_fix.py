"""Locust's workers rebuild Locust's whole argument parser once per option of every spawn
message; :func:`install_default_args_cache` makes them build it once per process.

Locust 2.47.0 (``locust/runners.py``, ``WorkerRunner.worker``, the ``"spawn"`` message)
picks the master's own options out of each spawn message with
``{k: v for k, v in job["parsed_options"].items() if k not in argument_parser.default_args_dict()}``.
``default_args_dict()`` builds and parses Locust's full argument parser, and the
comprehension calls it once per option the master sends, so each spawn message holds the
worker's event loop — 58 ms a message with Locust's own options alone, 0.1 ms with this
cache (``bench/spawn_messages.py``; a dientap run's master sends more options) — once a
second while users spawn. Profiled (py-spy) over the spawn of a soak (19,960 users over 80 s, two workers),
that comprehension was 15 % of a worker's samples, and both workers' scheduling lag passed
the 500-ms limit that distrusts a run. The defaults depend only on Locust's own parser
(the function ignores config files by construction), so computing them once per process
gives the same answer; the cached mapping is read-only, as Locust's two callers only test
membership.

The fix replaces the module attribute the runner looks up at each call; idempotent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from locust import argument_parser

__all__ = ["install_default_args_cache"]


def install_default_args_cache() -> bool:
    """Cache ``locust.argument_parser.default_args_dict`` for this process; True if this call
    installed it, False if it was already in place."""
    current = argument_parser.default_args_dict
    if getattr(current, "dientap_cached", False):
        return False

    @functools.cache
    def default_args_dict() -> Mapping[str, Any]:
        return MappingProxyType(current())

    default_args_dict.dientap_cached = True  # type: ignore[attr-defined]
    setattr(argument_parser, "default_args_dict", default_args_dict)  # noqa: B010 - a monkeypatch of Locust's module
    return True
