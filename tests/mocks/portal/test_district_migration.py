"""The go-live-night migration job on a real portal store (mocks/portal/district_migration.py):
batched, idempotent, journaled, found by the landing commune's worklist; and the planted
``lossy_migration`` defect dropping and duplicating exactly the dossiers its rule names."""

from __future__ import annotations

from collections import Counter

import pytest

from drills import golive_reconcile
from kernel.districts import District, district_tier, landing_commune
from mocks.core.store import open_database
from mocks.portal.district_migration import (
    LOSSY_MIGRATION_ONE_IN,
    ensure_journal,
    lossy_fate,
    migrate_batch,
    worklist_rows,
)
from mocks.portal.store import DossierRow, PortalStore

AT = "2025-06-30T23:00:00+07:00"


def _dossier(code: str, unit: str, province: str, status: int = 1) -> DossierRow:
    return DossierRow(code=code, commune_code=unit, province_code=province, procedure_code="1.000001.000.00.00.H01",
                      owner_id="001190000001", channel=2, applicant={"full_name": "Nguyễn Văn A"}, fields={},
                      fee_vnd=0, status=status, created_at=AT, updated_at=AT)


@pytest.fixture
def store(tmp_path) -> PortalStore:
    store = PortalStore(open_database(tmp_path / "portal.db"))
    ensure_journal(store.conn)
    return store


def _file(store: PortalStore, district: District, count: int) -> list[str]:
    codes = [f"{district.unit_code}-250630-{n:06d}" for n in range(1, count + 1)]
    with store.conn:
        for code in codes:
            store.insert_dossier(store.conn, _dossier(code, district.unit_code, district.province_code), "citizen")
    return codes


def _batch(store: PortalStore, size: int, *, lossy: bool = False) -> dict:
    with store.conn:
        return migrate_batch(store.conn, size, lossy=lossy)


def _worklist(store: PortalStore, commune: str, *, status: int | None = None, limit: int = 200) -> list[str]:
    codes, cursor = [], 0
    for _ in range(100):
        rows = worklist_rows(store, commune, status, cursor, limit)
        codes += [d.code for _, d in rows]
        if len(rows) < limit:
            return codes
        cursor = rows[-1][0]
    raise AssertionError("the worklist never ended")


def test_batches_move_every_dossier_once_to_its_landing_commune_and_a_rerun_moves_nothing(store) -> None:
    tier = district_tier()
    first, second = tier.districts[0], tier.districts[40]
    codes = _file(store, first, 23) + _file(store, second, 10)
    answers = []
    while True:
        answer = _batch(store, 7)
        if answer["batch"] is None:
            break
        answers.append(answer)
    assert [a["batch"] for a in answers] == [1, 2, 3, 4, 5]
    assert [len(a["moved"]) for a in answers] == [7, 7, 7, 7, 5]
    assert [a["remaining"] for a in answers] == [26, 19, 12, 5, 0]
    moved = [item["code"] for a in answers for item in a["moved"]]
    assert sorted(moved) == sorted(codes) and len(set(moved)) == len(codes)
    for item in (item for a in answers for item in a["moved"]):
        district = tier.by_unit(item["from_unit"])
        assert item["to_commune"] == landing_commune(item["code"], district.successors)
        assert store.dossier(item["code"]).commune_code == item["to_commune"]
        assert store.history(item["code"])[-1]["actor"] == "migration"
    assert _batch(store, 7) == {"batch": None, "moved": [], "remaining": 0}  # idempotent: nothing left to move
    journal = store.conn.execute("SELECT code, count(*) FROM district_migrations GROUP BY code").fetchall()
    assert sorted(journal) == sorted((code, 1) for code in codes)


def test_a_dossier_moved_meanwhile_is_not_moved_again(store) -> None:
    district = district_tier().districts[3]
    (code,) = _file(store, district, 1)
    with store.conn:  # another writer got there first (compare-and-set on the unit)
        store.conn.execute("UPDATE dossiers SET commune_code = ? WHERE code = ?", (district.successors[0], code))
    assert _batch(store, 10) == {"batch": None, "moved": [], "remaining": 0}


def test_the_landing_commune_s_worklist_pages_through_its_own_and_its_migrated_dossiers(store) -> None:
    district = district_tier().districts[0]
    codes = _file(store, district, 60)
    _batch(store, 100)
    target = Counter(landing_commune(c, district.successors) for c in codes).most_common(1)[0][0]
    migrated = sorted(c for c in codes if landing_commune(c, district.successors) == target)
    own = [f"{target}-250701-{n:06d}" for n in range(1, 6)]
    with store.conn:
        for code in own:
            store.insert_dossier(store.conn, _dossier(code, target, district.province_code), "citizen")
    assert _worklist(store, target) == own + migrated  # own range first, then the migrated ones
    assert _worklist(store, target, limit=2) == own + migrated  # the cursor crosses from one part to the other
    with store.conn:
        store.set_status(store.conn, migrated[0], 1, 2, "officer", "accepted", AT)
    assert _worklist(store, target, status=2) == [migrated[0]]
    others = set(district.successors) - {target}
    assert all(not set(_worklist(store, c)) & set(migrated) for c in others)


def test_the_planted_lossy_migration_drops_and_duplicates_exactly_the_dossiers_its_rule_names(store) -> None:
    district = district_tier().districts[7]
    codes = _file(store, district, 120)
    while _batch(store, 25, lossy=True)["batch"] is not None:
        pass
    dropped = sorted(c for c in codes if lossy_fate(c) == "dropped")
    doubled = sorted(c for c in codes if lossy_fate(c) == "duplicated")
    assert dropped and doubled
    seen = Counter(code for commune in district.successors for code in _worklist(store, commune))
    assert sorted(c for c in codes if seen[c] == 0) == dropped
    assert sorted(c for c in codes if seen[c] == 2) == doubled
    # The drill's checker predicts the same dossiers from the acknowledged codes.
    assert golive_reconcile.predicted_migration_drops(codes) == dropped
    assert golive_reconcile.predicted_migration_duplicates(codes) == doubled


def test_the_drill_and_the_portal_agree_on_the_planted_figure() -> None:
    assert golive_reconcile.LOSSY_MIGRATION_ONE_IN == LOSSY_MIGRATION_ONE_IN
