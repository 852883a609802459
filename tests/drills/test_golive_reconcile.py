"""The go-live-night checker (drills/golive_reconcile.py): each in-flight dossier in exactly one
successor worklist; lost and duplicated ones named by their code."""

from __future__ import annotations

from drills.golive_reconcile import ITEM_KIND, classify_landings, in_flight
from kernel.districts import district_tier


def test_in_flight_keeps_only_dossiers_filed_at_a_district_unit() -> None:
    unit = district_tier().districts[0].unit_code
    acked = {f"{unit}-250630-000001": "k1", "00004-250630-000001": "k2", "99999-250630-000001": "k3"}
    assert in_flight(acked) == {f"{unit}-250630-000001": unit}


def test_each_dossier_is_ok_lost_or_duplicated_and_named() -> None:
    district = district_tier().districts[2]
    a, b, c = district.successors[:3]
    unit = district.unit_code
    ok, lost, twice, elsewhere = (f"{unit}-250630-00000{n}" for n in range(1, 5))
    stranger = district_tier().districts[100].successors[0]
    assert stranger not in district.successors
    flying = {ok: unit, lost: unit, twice: unit, elsewhere: unit}
    worklists = {a: [ok, twice, "00004-250701-000001"], b: [twice], c: [], stranger: [elsewhere]}
    row = classify_landings(flying, worklists)
    assert row.item_kind == ITEM_KIND
    assert (row.ok, row.lost, row.duplicated, row.unexpected) == (1, 2, 1, 0)
    # Found only outside its district's successors is not a landing: lost, like one found nowhere.
    assert row.lost_ids == sorted([lost, elsewhere])
    assert row.duplicated_ids == [twice]


def test_nothing_in_flight_is_all_zero() -> None:
    row = classify_landings({}, {"00004": ["00004-250701-000001"]})
    assert (row.ok, row.lost, row.duplicated) == (0, 0, 0)
