"""kernel.ack_ledger: what the target acknowledged, per process, merged for reconciliation."""

from __future__ import annotations

import json
from pathlib import Path

from kernel.ack_ledger import AckLedger


def test_a_ledger_round_trips_through_its_file_with_the_idempotency_keys(tmp_path: Path) -> None:
    ledger = AckLedger()
    ledger.record("dossiers", "H26.00004-250701-0001", "run-1-k1")
    ledger.record("dossiers", "H26.00004-250701-0002", "run-1-k2")
    ledger.record("receipts", "doc-9:000.00.00.H26")
    path = tmp_path / "ledgers" / "local.json"
    ledger.dump(path)
    assert json.loads(path.read_text(encoding="utf-8")) == ledger.entries
    assert AckLedger.merge([path]).entries == ledger.entries
    assert ledger.counts() == {"dossiers": 2, "receipts": 1}


def test_recording_an_item_again_keeps_one_entry_with_the_latest_key() -> None:
    ledger = AckLedger()
    ledger.record("payments", "P1", "k-first")
    ledger.record("payments", "P1", "k-retry")
    assert ledger.entries == {"payments": {"P1": "k-retry"}}


def test_merge_is_the_union_of_every_process_ledger(tmp_path: Path) -> None:
    w0, w1 = AckLedger(), AckLedger()
    w0.record("dossiers", "D1", "k1")
    w0.record("documents", "X1", "kx")
    w1.record("dossiers", "D2", "k2")
    paths = [tmp_path / "worker-0.json", tmp_path / "worker-1.json"]
    w0.dump(paths[0])
    w1.dump(paths[1])
    merged = AckLedger.merge(paths)
    assert merged.entries == {"dossiers": {"D1": "k1", "D2": "k2"}, "documents": {"X1": "kx"}}
    assert AckLedger.merge([]).counts() == {}
