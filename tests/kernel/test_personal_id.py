import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.personal_id import PersonalIdError, make_personal_id, validate_personal_id
from kernel.roster import load_roster
from kernel.synthetic import citizen_at

BIRTHPLACES = sorted(load_roster().birthplace_codes)


@given(
    birthplace=st.sampled_from(BIRTHPLACES),
    sex=st.sampled_from(["male", "female"]),
    year=st.integers(1900, 2025),
    serial=st.integers(0, 999_999),
)
def test_every_composed_id_validates_and_decodes_back(birthplace, sex, year, serial):
    value = make_personal_id(birthplace, sex, year, serial)
    decoded = validate_personal_id(value, today=dt.date(2026, 1, 1))
    assert (decoded.birthplace_code, decoded.sex, decoded.birth_year) == (birthplace, sex, year)


@settings(max_examples=300)
@given(st.integers(0, 999_999), st.integers(0, 10_000))
def test_every_synthetic_citizen_has_a_valid_id_matching_its_birth(index, seed):
    citizen = citizen_at(seed, index)
    decoded = validate_personal_id(citizen.personal_id)
    assert decoded.birth_year == citizen.date_of_birth.year
    assert decoded.sex == citizen.sex


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("12345", "format"),
        ("07919012345a", "format"),
        ("０７９１９０１２３４５６", "format"),  # full-width digits are not ASCII digits
        (79190123456, "format"),
        ("000190123456", "birthplace"),
        ("003190123456", "birthplace"),  # 003 was never a province code
        ("079330123456", "birth_year"),  # female born 2033: in the future
    ],
)
def test_malformed_ids_name_the_rule_they_break(value, rule):
    with pytest.raises(PersonalIdError) as info:
        validate_personal_id(value, today=dt.date(2026, 1, 1))
    assert info.value.rule == rule


def test_synthetic_population_is_deterministic_and_unique():
    first = [citizen_at(7, i) for i in range(2000)]
    again = [citizen_at(7, i) for i in range(2000)]
    assert first == again
    assert len({c.personal_id for c in first}) == 2000
    assert citizen_at(8, 0) != citizen_at(7, 0)
