"""The acknowledgement ledger: what a target acknowledged to the load, with the
idempotency key used — what drills reconcile against the target's own records.

Each load process writes its ledger to ``<run_dir>/ledgers/<node>.json`` at test stop (a
Locust worker ships it to the master as it grows, :meth:`AckLedger.take_fresh`, and the
master writes it); :meth:`AckLedger.merge` takes their union. (No Locust import here: the
CLI and the tests read ledgers without monkey-patching their own process.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kernel.atomic_file import atomic_write_text

__all__ = ["AckLedger", "RETRIED_DOSSIERS", "REPLAYED_DOSSIERS"]

#: Ledger kinds beside the acknowledged items, not reconciled themselves (each such dossier is
#: also under ``dossiers``): dossiers acknowledged only after a timed-out or refused attempt
#: with the same Idempotency-Key, and of those, the ones the portal answered as a replay — its
#: stored answer to an earlier attempt with that key, which had landed.
RETRIED_DOSSIERS = "dossiers_retried"
REPLAYED_DOSSIERS = "dossiers_replayed"


@dataclass
class AckLedger:
    """What the target acknowledged to this process: kind → {id: idempotency key}."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    #: What was recorded since the last :meth:`take_fresh` — kept only once :meth:`track_fresh`
    #: turned it on (a Locust worker, which ships its ledger to the master as it grows).
    fresh: dict[str, dict[str, str]] | None = None

    def record(self, kind: str, item_id: str, key: str = "") -> None:
        """Remember one acknowledged item."""
        self.entries.setdefault(kind, {})[item_id] = key
        if self.fresh is not None:
            self.fresh.setdefault(kind, {})[item_id] = key

    def track_fresh(self) -> None:
        """Keep what is recorded from now on apart too, for :meth:`take_fresh`."""
        if self.fresh is None:
            self.fresh = {}

    def take_fresh(self) -> dict[str, dict[str, str]]:
        """What was recorded since the last take (and forget it here; ``entries`` keeps all)."""
        taken, self.fresh = self.fresh or {}, {}
        return taken

    def put_back_fresh(self, taken: dict[str, dict[str, str]]) -> None:
        """Return a take that could not be shipped: the next take carries it, once. An item
        recorded again since keeps its newer key."""
        fresh = self.fresh if self.fresh is not None else {}
        for kind, items in taken.items():
            fresh[kind] = {**items, **fresh.get(kind, {})}
        self.fresh = fresh

    def counts(self) -> dict[str, int]:
        """Acknowledged items per kind."""
        return {kind: len(items) for kind, items in self.entries.items()}

    def dump(self, path: Path) -> None:
        """Write as JSON (one file per process; the run merges them), whole or not at all
        (:mod:`kernel.atomic_file`): a disk that fills or a crash mid-write keeps the ledger
        written before and leaves no cut-off file, which no reconciliation could read."""
        atomic_write_text(path, json.dumps(self.entries, ensure_ascii=False, sort_keys=True))

    @staticmethod
    def merge(paths: list[Path]) -> AckLedger:
        """Union of several processes' ledgers."""
        merged = AckLedger()
        for path in paths:
            for kind, items in json.loads(path.read_text(encoding="utf-8")).items():
                merged.entries.setdefault(kind, {}).update(items)
        return merged
