"""Procedure catalogue: code format, agency codes, fees, determinism."""

from __future__ import annotations

import re

import pytest

from kernel.roster import load_roster
from mocks.portal.catalogue import MAX_FEE_VND, MIN_FEE_VND, PROCEDURE_CODE_PATTERN, catalogue_of, find_procedure

ALL_PROVINCES = [p.code for p in load_roster().provinces]


@pytest.mark.parametrize("province", ALL_PROVINCES)
def test_codes_embed_the_province_agency_code(province):
    agency = load_roster().province(province).agency_code
    procedures = catalogue_of(province)
    assert 15 <= len(procedures) <= 25
    for p in procedures:
        assert PROCEDURE_CODE_PATTERN.fullmatch(p.code), p.code
        assert re.fullmatch(r"[0-9]\.[0-9]{6}\." + re.escape(agency), p.code)
    assert len({p.code for p in procedures}) == len(procedures)


def test_hanoi_catalogue_has_the_documented_example_shape():
    codes = {p.code for p in catalogue_of("01")}
    assert "1.011442.000.00.00.H26" in codes
    assert find_procedure("01", "1.011442.000.00.00.H26").name == "Cấp giấy phép xây dựng nhà ở riêng lẻ"


def test_fees_are_zero_or_within_payment_limits_and_some_are_due():
    fees = [p.fee_vnd for p in catalogue_of("79")]
    assert all(f == 0 or MIN_FEE_VND <= f <= MAX_FEE_VND for f in fees)
    assert any(f > 0 for f in fees) and any(f == 0 for f in fees)


def test_names_keep_their_diacritics():
    assert "Đăng ký khai sinh" in {p.name for p in catalogue_of("01")}


def test_procedure_of_another_province_is_not_found():
    assert find_procedure("79", "1.011442.000.00.00.H26") is None


def test_unknown_province_raises_key_error():
    with pytest.raises(KeyError):
        catalogue_of("99")
