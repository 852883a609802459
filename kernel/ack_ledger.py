"""The acknowledgement ledger: what a target acknowledged to the load, with the
idempotency key used — what drills reconcile against the target's own records.

Each load process writes its ledger to ``<run_dir>/ledgers/<node>.json`` at test stop;
:meth:`AckLedger.merge` takes their union. (No Locust import here: the CLI and the tests
read ledgers without monkey-patching their own process.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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

    def record(self, kind: str, item_id: str, key: str = "") -> None:
        """Remember one acknowledged item."""
        self.entries.setdefault(kind, {})[item_id] = key

    def counts(self) -> dict[str, int]:
        """Acknowledged items per kind."""
        return {kind: len(items) for kind, items in self.entries.items()}

    def dump(self, path: Path) -> None:
        """Write as JSON (one file per process; the run merges them)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.entries, ensure_ascii=False, sort_keys=True), encoding="utf-8")

    @staticmethod
    def merge(paths: list[Path]) -> AckLedger:
        """Union of several processes' ledgers."""
        merged = AckLedger()
        for path in paths:
            for kind, items in json.loads(path.read_text(encoding="utf-8")).items():
                merged.entries.setdefault(kind, {}).update(items)
        return merged
