"""Where a mock's memory goes under load: with this directory first on PYTHONPATH and
DIENTAP_TRACEMALLOC_DIR set, each mock process (``python -m mocks serve SERVICE``) starts
tracemalloc DIENTAP_TRACEMALLOC_AFTER seconds after it starts (default 30: after its
start-up, so only what the load makes it allocate is traced, and start-up stays fast) and
writes a snapshot every DIENTAP_TRACEMALLOC_EVERY seconds (default 60) to
``<dir>/<service>-<pid>-<n>.snapshot``. Compare two with ``bench/leakhunt/compare.py``.

With DIENTAP_LEAKHUNT_GC_EVERY=N instead (or as well), each mock runs a full collection
(``gc.collect()``) every N seconds: if its memory then stays low, what grew was garbage in
reference cycles waiting for a full collection, not data something holds.

With DIENTAP_LEAKHUNT_GARBAGE=DIR, each mock instead runs a full collection every
DIENTAP_LEAKHUNT_GC_EVERY seconds (default 10) with ``gc.DEBUG_SAVEALL`` and writes a census
of what it found unreachable — the count of each type — to ``<dir>/<service>-<pid>.garbage``:
the objects that live in reference cycles, i.e. what only a full collection frees — and,
for each type named in DIENTAP_LEAKHUNT_CYCLE_OF (comma-separated), one cycle through it.

Used to find the portal's growth in a soak (BENCHMARKS.md "Soak"); no part of any run.
"""

import gc
import os
import sys
import threading
import time
import tracemalloc

_DIR = os.environ.get("DIENTAP_TRACEMALLOC_DIR")


def _trace(service: str) -> None:
    time.sleep(float(os.environ.get("DIENTAP_TRACEMALLOC_AFTER", "30")))
    tracemalloc.start(int(os.environ.get("DIENTAP_TRACEMALLOC_FRAMES", "10")))
    every = float(os.environ.get("DIENTAP_TRACEMALLOC_EVERY", "60"))
    n = 0
    while True:
        time.sleep(every)
        n += 1
        tracemalloc.take_snapshot().dump(os.path.join(_DIR, f"{service}-{os.getpid()}-{n}.snapshot"))


def _collect(every_s: float) -> None:
    while True:
        time.sleep(every_s)
        gc.collect()


def _census(service: str, directory: str, every_s: float) -> None:
    import collections

    out = os.path.join(directory, f"{service}-{os.getpid()}.garbage")
    gc.set_debug(gc.DEBUG_SAVEALL)
    n = 0
    while True:
        time.sleep(every_s)
        n += 1
        gc.collect()
        counts = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        kinds = os.environ.get("DIENTAP_LEAKHUNT_CYCLE_OF", "").split(",")
        cycles = [c for c in (_a_cycle(gc.garbage, kind) for kind in kinds if kind) if c]
        gc.garbage.clear()
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"# collection {n}: {sum(counts.values())} unreachable objects\n")
            fh.writelines(f"{c:8d} {name}\n" for name, c in counts.most_common(40))
            fh.writelines("  a cycle: " + " -> ".join(c) + "\n" for c in cycles)


def _a_cycle(garbage: list, kind: str) -> list[str]:
    """One reference cycle through an unreachable object of type ``kind``, as type names
    (breadth first over the referents among the garbage, back to the start)."""
    ids = {id(o) for o in garbage}
    start = next((o for o in garbage if type(o).__qualname__ == kind), None)
    if start is None:
        return []
    parents: dict[int, tuple[int, object]] = {}
    queue = [start]
    seen = {id(start)}
    while queue:
        node = queue.pop(0)
        for ref in gc.get_referents(node):
            if id(ref) == id(start):
                path = [type(node).__qualname__]
                at = id(node)
                while at in parents:
                    at, obj = parents[at]
                    path.append(type(obj).__qualname__)
                return [kind, *reversed(path[:-1]), kind] if len(path) > 1 else [kind, type(node).__qualname__, kind]
            if id(ref) in ids and id(ref) not in seen:
                seen.add(id(ref))
                parents[id(ref)] = (id(node), node)
                queue.append(ref)
    return []


_ARGV = sys.orig_argv  # the command line as given; no thread at all in other processes (Locust's gevent)
_MOCK = _ARGV[1:4] == ["-m", "mocks", "serve"]
if _DIR and _MOCK:
    threading.Thread(target=_trace, args=(_ARGV[4],), daemon=True, name="tracemalloc-dump").start()
if os.environ.get("DIENTAP_LEAKHUNT_GARBAGE") and _MOCK:
    threading.Thread(target=_census, args=(_ARGV[4], os.environ["DIENTAP_LEAKHUNT_GARBAGE"],
                                           float(os.environ.get("DIENTAP_LEAKHUNT_GC_EVERY", "10"))),
                     daemon=True, name="leakhunt-census").start()
elif os.environ.get("DIENTAP_LEAKHUNT_GC_EVERY") and _MOCK:
    every = float(os.environ["DIENTAP_LEAKHUNT_GC_EVERY"])
    threading.Thread(target=_collect, args=(every,), daemon=True, name="leakhunt-gc").start()
