"""Where a mock's memory goes under load: with this directory first on PYTHONPATH and
DIENTAP_TRACEMALLOC_DIR set, each mock process (``python -m mocks serve SERVICE``) starts
tracemalloc DIENTAP_TRACEMALLOC_AFTER seconds after it starts (default 30: after its
start-up, so only what the load makes it allocate is traced, and start-up stays fast) and
writes a snapshot every DIENTAP_TRACEMALLOC_EVERY seconds (default 60) to
``<dir>/<service>-<pid>-<n>.snapshot``. Compare two with ``bench/leakhunt/compare.py``.

With DIENTAP_LEAKHUNT_GC_EVERY=N instead (or as well), each mock runs a full collection
(``gc.collect()``) every N seconds: if its memory then stays low, what grew was garbage in
reference cycles waiting for a full collection, not data something holds.

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


_ARGV = sys.orig_argv  # the command line as given; no thread at all in other processes (Locust's gevent)
_MOCK = _ARGV[1:4] == ["-m", "mocks", "serve"]
if _DIR and _MOCK:
    threading.Thread(target=_trace, args=(_ARGV[4],), daemon=True, name="tracemalloc-dump").start()
if os.environ.get("DIENTAP_LEAKHUNT_GC_EVERY") and _MOCK:
    every = float(os.environ["DIENTAP_LEAKHUNT_GC_EVERY"])
    threading.Thread(target=_collect, args=(every,), daemon=True, name="leakhunt-gc").start()
