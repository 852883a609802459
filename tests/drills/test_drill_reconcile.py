"""Reconciliation: Jepsen's queue-checker vocabulary over acknowledged ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from drills.reconcile import (
    LOSSY_AXIS_ONE_IN,
    AckLedger,
    TargetHoldings,
    classify,
    merge_load_ledgers,
    passes,
    predicted_lossy_drops,
    reconcile,
)
from mocks.axis.app import DEFAULT_LOSSY_ONE_IN


def test_ok_lost_unexpected_recovered_are_counted_separately() -> None:
    acknowledged = {"D1": "k1", "D2": "k2", "D3": "k3", "D4": "k4"}
    row = classify("dossiers", acknowledged, held_first=["D1", "D2", "X9"], held_settled=["D1", "D2", "D3", "X9"])
    assert (row.ok, row.lost, row.duplicated, row.unexpected, row.recovered) == (2, 1, 0, 1, 1)
    assert row.lost_ids == ["D4"]


def test_one_key_acknowledged_under_two_ids_is_a_duplicate() -> None:
    acknowledged = {"D1": "same-key", "D2": "same-key", "D3": "other"}
    row = classify("dossiers", acknowledged, ["D1", "D2", "D3"])
    assert (row.ok, row.lost, row.duplicated) == (3, 0, 1)
    assert not passes([row])


def test_an_id_held_twice_is_a_duplicate_and_receipts_without_keys_are_not() -> None:
    row = classify("receipts", {"a#01#00004": "", "b#01#00004": ""}, ["a#01#00004", "a#01#00004", "b#01#00004"])
    assert (row.ok, row.duplicated) == (2, 1)


def test_passes_only_with_zero_lost_and_zero_duplicated() -> None:
    clean = classify("documents", {"A": "m1"}, ["A"])
    lost = classify("documents", {"A": "m1", "B": "m2"}, ["A"])
    assert passes([clean]) and not passes([clean, lost])
    assert passes([lost], max_lost=1)


def test_missing_items_are_looked_up_again_after_the_settle_time() -> None:
    ledger = AckLedger({"payments": {"P1": "k1", "P2": "k2"}, "dossiers": {"D1": "k"}})
    looks = [
        TargetHoldings(ids={"payments": ["P1"], "dossiers": ["D1"]}),
        TargetHoldings(ids={"payments": ["P1", "P2"], "dossiers": ["D1"]}),
    ]
    slept: list[float] = []
    rows, _notes = reconcile(ledger, lambda: looks.pop(0), settle_s=3.0, sleep=slept.append)
    by_kind = {r.item_kind: r for r in rows}
    assert slept == [3.0]
    assert (by_kind["payments"].ok, by_kind["payments"].recovered, by_kind["payments"].lost) == (1, 1, 0)
    assert by_kind["dossiers"].ok == 1


def test_nothing_missing_means_no_second_look() -> None:
    ledger = AckLedger({"dossiers": {"D1": "k"}})
    calls: list[int] = []

    def fetch() -> TargetHoldings:
        calls.append(1)
        return TargetHoldings(ids={"dossiers": ["D1"]})

    reconcile(ledger, fetch, settle_s=3.0, sleep=lambda s: None)
    assert len(calls) == 1


def test_load_ledgers_merge_with_what_the_drill_traffic_was_acknowledged(tmp_path: Path) -> None:
    (tmp_path / "ledgers").mkdir()
    (tmp_path / "ledgers" / "worker-0.json").write_text(json.dumps({"dossiers": {"D1": "k1"}}), encoding="utf-8")
    (tmp_path / "ledgers" / "worker-1.json").write_text(json.dumps({"dossiers": {"D2": "k2"}}), encoding="utf-8")
    ledger = merge_load_ledgers(tmp_path, [{"documents": {"X": "m"}}])
    assert ledger.entries == {"dossiers": {"D1": "k1", "D2": "k2"}, "documents": {"X": "m"}}


def test_lossy_prediction_uses_the_axis_rule() -> None:
    assert LOSSY_AXIS_ONE_IN == DEFAULT_LOSSY_ONE_IN
    documents = {f"doc{i}": f"000.00.00.H26,2025/07/01,{i}/UBND" for i in range(2000)}
    predicted = predicted_lossy_drops(documents)
    expected = sorted(d for d, m in documents.items()
                      if int.from_bytes(hashlib.sha256(m.encode()).digest()[:8], "big") % 50 == 0)
    assert predicted == expected
    assert 20 <= len(predicted) <= 60  # about one in fifty


def test_every_lost_duplicated_and_unexpected_item_is_named_within_a_bound() -> None:
    from drills.reconcile import MAX_LISTED_IDS

    acknowledged = {f"D{i:04d}": f"k{i}" for i in range(MAX_LISTED_IDS + 5)}
    acknowledged["E1"] = "k1"  # key k1 acknowledged under D0001 and E1
    held = [f"X{i:04d}" for i in range(MAX_LISTED_IDS + 7)] + ["D0001", "D0001", "D0001", "E1"]
    row = classify("dossiers", acknowledged, held)
    assert row.lost == MAX_LISTED_IDS + 4 and row.lost_ids == sorted(set(acknowledged) - set(held))[:MAX_LISTED_IDS]
    assert row.unexpected == MAX_LISTED_IDS + 7 and row.unexpected_ids == [f"X{i:04d}" for i in range(MAX_LISTED_IDS)]
    assert row.duplicated == 3 and row.duplicated_ids == [
        "E1 (key k1, also D0001)", "D0001 (held 3×: copy 2)", "D0001 (held 3×: copy 3)"]
    assert row.named(2) == [
        f"lost {row.lost} (first 2 of {row.lost}): D0000, D0002 …",
        "duplicated 3 (first 2 of 3): E1 (key k1, also D0001), D0001 (held 3×: copy 2) …",
        f"unexpected {row.unexpected} (first 2 of {row.unexpected}): X0000, X0001 …",
    ]
