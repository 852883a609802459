"""The master's book of role indices: which indices of each role are in use, who holds each,
and the lowest free one, for :mod:`scenarios.dealing`.

Kept apart from the messaging because it is the part with the invariants: every index below
a role's size dealt at most once at a time; a give-back counts only from the index's holder;
a departed holder's indices all free at once; and the lowest free index found without a scan
(``bench/dealing.py``: national's 26,568 officers in 0.04 s, where a scan took 21 s).
"""

from __future__ import annotations

import heapq
import math
import threading

__all__ = ["IndexBook"]


class IndexBook:
    """Indices in use per role, and who holds each; hands out the lowest free one."""

    def __init__(self) -> None:
        self._taken: dict[str, dict[int, str]] = {}  # role → index → holder ("" in process)
        # holder → its (role, index) pairs: the master checks the holders before every deal,
        # so that check must cost the number of workers, not the number of players.
        self._held: dict[str, set[tuple[str, int]]] = {}
        # The lowest free index without a scan (a scan made dealing national's 26,568
        # officers cost the master 22 s of CPU): every index from _fresh[role] up was never
        # dealt; below it, the free ones are in the heap _freed[role].
        self._fresh: dict[str, int] = {}
        self._freed: dict[str, list[int]] = {}
        self._sizes: dict[str, int] = {}  # role → how many indices it has (kept across tests)
        self._lock = threading.Lock()

    def set_size(self, role: str, size: int) -> None:
        """``role`` has ``size`` indices, 0 … size-1: :meth:`take_if_free` deals none past them."""
        with self._lock:
            self._sizes[role] = size

    def size(self, role: str) -> int | None:
        """The size of ``role``, when told."""
        with self._lock:
            return self._sizes.get(role)

    def dealt_so_far(self, role: str) -> int:
        """Every index of ``role`` below this was dealt at least once since the book was cleared."""
        with self._lock:
            return self._fresh.get(role, 0)

    def take(self, role: str, holder: str = "") -> int:
        """The lowest index of ``role`` not in use, now held by ``holder`` (past the role's
        size if every index below it is in use)."""
        with self._lock:
            index = self._take(role, holder, math.inf)
        assert index is not None  # noqa: S101 - no bound, so always an index
        return index

    def take_if_free(self, role: str, holder: str = "") -> int | None:
        """Like :meth:`take`, but None when every index below the role's size is in use."""
        with self._lock:
            return self._take(role, holder, self._sizes.get(role, math.inf))

    def _take(self, role: str, holder: str, size: float) -> int | None:
        freed = self._freed.setdefault(role, [])
        lowest = freed[0] if freed else self._fresh.get(role, 0)
        if lowest >= size:
            return None
        if freed:
            heapq.heappop(freed)
        else:
            self._fresh[role] = lowest + 1
        self._taken.setdefault(role, {})[lowest] = holder
        self._held.setdefault(holder, set()).add((role, lowest))
        return lowest

    def give_back(self, role: str, index: int, holder: str | None = None) -> None:
        """``index`` of ``role`` is free again — unless ``holder`` is given and does not hold
        it (a late give-back from a worker whose indices went to another). Unknown indices
        are ignored."""
        with self._lock:
            owner = self._taken.get(role, {}).get(index)
            if owner is not None and (holder is None or owner == holder):
                self._free(role, index, owner)

    def give_back_all(self, holder: str) -> int:
        """Free every index ``holder`` holds (it left the run); how many were freed."""
        with self._lock:
            held = list(self._held.get(holder, ()))
            for role, index in held:
                self._free(role, index, holder)
            return len(held)

    def _free(self, role: str, index: int, holder: str) -> None:
        del self._taken[role][index]
        heapq.heappush(self._freed.setdefault(role, []), index)
        held = self._held[holder]
        held.discard((role, index))
        if not held:
            del self._held[holder]

    def holders(self) -> set[str]:
        """Everyone holding an index of any role."""
        with self._lock:
            return set(self._held)

    def clear(self) -> None:
        """Forget every index (a new test starts); the sizes stay."""
        with self._lock:
            self._taken.clear()
            self._held.clear()
            self._fresh.clear()
            self._freed.clear()

    def in_use(self, role: str) -> set[int]:
        """The indices of ``role`` in use."""
        with self._lock:
            return set(self._taken.get(role, {}))
