"""The synthesized district tier (kernel/districts.py): the stated rule, checked against the roster data."""

from __future__ import annotations

from collections import Counter

import pytest

from kernel.districts import DistrictTier, district_tier, landing_commune
from kernel.roster import load_roster


def test_the_tier_has_one_district_per_synthesized_agency_code() -> None:
    roster, tier = load_roster(), district_tier()
    assert len(tier) == 208  # the figure of 1 July 2025, from roster.closed_district_agency_codes
    for province in roster.provinces:
        assert [d.agency_code for d in tier.of_province(province.code)] == list(province.closed_district_agency_codes)


def test_each_province_s_old_communes_are_cut_into_contiguous_disjoint_runs() -> None:
    roster, tier = load_roster(), district_tier()
    for province in roster.provinces:
        olds = sorted({old for c in roster.communes_of(province.code) for old in c.old_codes})
        runs = [d.old_communes for d in tier.of_province(province.code)]
        assert [code for run in runs for code in run] == olds  # contiguous, in order, every one once
        sizes = [len(run) for run in runs]
        assert max(sizes) - min(sizes) <= 1, (province.code, sizes)  # near-equal


def test_successors_are_the_splits_of_the_district_s_old_communes_within_its_province() -> None:
    roster, tier = load_roster(), district_tier()
    for district in tier.districts:
        own = set(roster.province(district.province_code).commune_codes)
        expected = sorted({new for old in district.old_communes for new in roster.old_commune_splits.get(old, ()) if new in own})
        assert list(district.successors) == expected and expected, district.agency_code


def test_unit_codes_are_unique_and_collide_with_no_commune_code_old_or_new() -> None:
    roster, tier = load_roster(), district_tier()
    units = [d.unit_code for d in tier.districts]
    assert len(set(units)) == len(units)
    assert all(len(u) == 5 and u.isdigit() and u.startswith("9") for u in units)
    assert not set(units) & (set(roster.old_commune_splits) | {c.code for c in roster.communes})
    first = tier.districts[0]
    assert tier.by_unit(first.unit_code) is first and tier.by_agency(first.agency_code) is first
    assert tier.by_unit("00004") is None and tier.by_agency("000.00.00.H26") is None


def test_successor_agencies_are_the_successor_communes_committees() -> None:
    roster, district = load_roster(), district_tier().districts[5]
    assert district_tier().successor_agencies(district, roster) == tuple(
        roster.commune(c).agency_code for c in district.successors)


def test_a_dossier_lands_at_one_successor_the_same_every_time_and_dossiers_spread_over_all() -> None:
    district = district_tier().districts[0]
    codes = [f"{district.unit_code}-250630-{n:06d}" for n in range(1, 2001)]
    landings = [landing_commune(code, district.successors) for code in codes]
    assert landings == [landing_commune(code, district.successors) for code in codes]  # deterministic
    assert set(landings) == set(district.successors)
    counts = Counter(landings)
    assert max(counts.values()) < 3 * min(counts.values())  # even enough: no commune takes them all
    with pytest.raises(ValueError, match="no successor"):
        landing_commune(codes[0], ())


def test_the_tier_is_built_from_any_roster() -> None:
    assert len(DistrictTier(load_roster())) == len(district_tier())
