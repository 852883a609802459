"""Which communes go live and which officer plays which commune, on one worker or several."""

from __future__ import annotations

from collections import Counter

from kernel.roster import load_roster
from scenarios.communes import active_communes, officer_slots, provinces_of, slot_at
from scenarios.profile import Profile

ROSTER = load_roster()


def _profile(select: str = "all", per_province: int = 1, officers: int = 1) -> Profile:
    return Profile(name="t", duration_s=10, communes={"select": select, "per_province": per_province},
                   officers={"per_commune": officers})


def test_per_province_selection_takes_the_largest_communes_of_every_province() -> None:
    chosen = active_communes(_profile("per_province", per_province=3), ROSTER)
    assert len(chosen) == 3 * len(ROSTER.provinces)
    for province in ROSTER.provinces:
        mine = [c for c in chosen if c.province_code == province.code]
        rest = [c for c in ROSTER.communes_of(province.code) if c not in mine]
        assert len(mine) == 3
        assert min(c.size_weight for c in mine) >= max(c.size_weight for c in rest)
        # ties broken by code, so the choice is the same on every worker
        assert mine == sorted(mine, key=lambda c: (-c.size_weight, c.code))


def test_selecting_more_communes_than_a_province_has_takes_all_of_it() -> None:
    smallest = min(ROSTER.provinces, key=lambda p: len(p.commune_codes))
    chosen = active_communes(_profile("per_province", per_province=500), ROSTER)
    assert len(chosen) == len(ROSTER.communes)
    assert sum(c.province_code == smallest.code for c in chosen) == len(smallest.commune_codes)


def test_officer_slots_put_officer_one_of_every_commune_first() -> None:
    profile = _profile("per_province", per_province=1, officers=2)
    slots = officer_slots(profile, ROSTER)
    communes = active_communes(profile, ROSTER)
    assert len(slots) == 2 * len(communes) == 68
    assert [s.number for s in slots] == [1] * 34 + [2] * 34
    assert [s.commune for s in slots[:34]] == communes == [s.commune for s in slots[34:]]
    assert slots[0].account == f"{communes[0].code}.officer1" and slots[34].account == f"{communes[0].code}.officer2"


def test_a_partial_start_still_reaches_every_province() -> None:
    slots = officer_slots(_profile(officers=3), ROSTER)
    first = [slot_at(slots, i) for i in range(len(ROSTER.communes))]
    assert {s.commune.code for s in first} == {c.code for c in ROSTER.communes}
    assert {s.number for s in first} == {1}


def test_dealt_indices_map_to_every_slot_once_and_an_extra_user_wraps_onto_a_real_commune() -> None:
    slots = officer_slots(_profile("per_province", per_province=2, officers=3), ROSTER)
    assert Counter(slot_at(slots, i) for i in range(len(slots))) == Counter(slots)
    assert slot_at(slots, len(slots)) == slots[0]


def test_provinces_of_lists_each_province_once_in_roster_order() -> None:
    communes = [c for c in ROSTER.communes if c.province_code in ("79", "01")][::-1]
    assert [p.code for p in provinces_of(communes, ROSTER)] == ["01", "79"]
    assert provinces_of([], ROSTER) == []
