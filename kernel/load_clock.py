"""The run's one clock: the instant the load's doors opened, shared through the run directory.

The load (the Locust master, or the single local process) starts its clock on Locust's
``test_start`` — one to two seconds after the process that launched it, which has had to
wait for Locust to import and, in distributed runs, for the workers to connect. Every
offset of the run is measured from that instant: the journal's events and per-second
series (``provenance.started_at``), the load's phases and the drill's fault schedule. The
load writes it to ``run_dir/load-start.json`` the moment it starts; a drill reads it
there before it places any fault, so a fault planned ``at_s: 8`` fires 8 s after the doors
open, not 8 s after the launch (it used to fire ≈ 1 s early on the load's clock).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["LOAD_START_FILE", "read_load_start", "write_load_start"]

LOAD_START_FILE = "load-start.json"


def write_load_start(run_dir: str | Path, at: float) -> Path:
    """Record ``at`` (epoch seconds, ``time.time()``) as the load's start; atomic, so a
    reader never sees half a file."""
    path = Path(run_dir) / LOAD_START_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps({"started_at": at}), encoding="utf-8")
    os.replace(partial, path)
    return path


def read_load_start(run_dir: str | Path) -> float | None:
    """The load's start (epoch seconds), or ``None`` while it has not started."""
    try:
        data = json.loads((Path(run_dir) / LOAD_START_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    at = data.get("started_at") if isinstance(data, dict) else None
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise ValueError(f"{Path(run_dir) / LOAD_START_FILE}: 'started_at' must be epoch seconds, got {at!r}")
    return float(at)
