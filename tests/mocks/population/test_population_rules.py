"""Unit tests of the population mock's rules: role views, verification, throttling, seeding."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from kernel.personal_id import PersonalIdError, validate_personal_id
from kernel.synthetic import citizen_at
from mocks.core.store import open_database
from mocks.population.matching import normalise_name, verify_identity
from mocks.population.roles import ALL_FIELDS, ROLE_FIELDS, Role, citizen_view
from mocks.population.service import _purpose_param
from mocks.population.store import CitizenRecord, CitizenStore
from mocks.population.throttle import ClientThrottle, ThrottlePolicy

SEED = 7
SIZE = 1_500

RECORD = CitizenRecord(
    personal_id="001190012345",
    full_name="Nguyễn Thị Ánh",
    date_of_birth="1990-03-15",
    sex="female",
    address="Số 1 Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội",
    commune_code="00070",
    province_code="01",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CitizenStore:
    store = CitizenStore(open_database(tmp_path_factory.mktemp("population") / "population.db"))
    store.seed(SEED, SIZE)
    return store


# -- role views ---------------------------------------------------------------------------


def test_police_sees_the_whole_record() -> None:
    view = citizen_view(RECORD, Role.POLICE)
    assert view == {
        "personal_id": "001190012345",
        "full_name": "Nguyễn Thị Ánh",
        "date_of_birth": "1990-03-15",
        "sex": "female",
        "address": "Số 1 Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội",
        "commune_code": "00070",
        "province_code": "01",
    }


def test_portal_sees_no_address_or_sex() -> None:
    view = citizen_view(RECORD, Role.PORTAL)
    assert set(view) == {"personal_id", "full_name", "date_of_birth", "commune_code"}


def test_commune_officer_sees_birth_year_only() -> None:
    view = citizen_view(RECORD, Role.COMMUNE_OFFICER)
    assert view == {
        "personal_id": "001190012345",
        "full_name": "Nguyễn Thị Ánh",
        "birth_year": 1990,
        "commune_code": "00070",
    }


def test_commune_officer_sees_strictly_less_than_police() -> None:
    officer = set(ROLE_FIELDS[Role.COMMUNE_OFFICER]) - {"birth_year"}
    assert officer < set(ROLE_FIELDS[Role.POLICE])


def test_every_role_has_a_view_and_views_use_known_fields() -> None:
    assert set(ROLE_FIELDS) == set(Role)
    for fields in ROLE_FIELDS.values():
        assert set(fields) <= set(ALL_FIELDS)
        assert "personal_id" in fields


@pytest.mark.parametrize("role", list(Role))
def test_planted_unmasked_weakness_shows_every_field(role: Role) -> None:
    view = citizen_view(RECORD, role, unmasked=True)
    assert set(view) == set(ALL_FIELDS)


# -- verification -------------------------------------------------------------------------


def test_verify_matches_with_other_case_spacing_and_decomposed_diacritics() -> None:
    claimed = unicodedata.normalize("NFD", "  nguyễn   THỊ ánh ")
    assert claimed != RECORD.full_name
    outcome = verify_identity(RECORD, claimed, dt.date(1990, 3, 15))
    assert outcome.match is True
    assert outcome.mismatched == ()


def test_verify_keeps_diacritics_significant() -> None:
    assert normalise_name("Lê Văn An") != normalise_name("Le Van An")
    assert verify_identity(RECORD, "Nguyen Thi Anh", dt.date(1990, 3, 15)).match is False


@pytest.mark.parametrize(
    ("name", "dob", "mismatched"),
    [
        ("Trần Văn Bình", dt.date(1990, 3, 15), ("full_name",)),
        ("Nguyễn Thị Ánh", dt.date(1990, 3, 16), ("date_of_birth",)),
        ("Trần Văn Bình", dt.date(1991, 1, 1), ("full_name", "date_of_birth")),
    ],
)
def test_verify_mismatch_names_fields_only_internally(
    name: str, dob: dt.date, mismatched: tuple[str, ...]
) -> None:
    outcome = verify_identity(RECORD, name, dob)
    assert outcome.match is False
    assert outcome.mismatched == mismatched


def test_verify_unknown_id_is_a_plain_mismatch() -> None:
    outcome = verify_identity(None, "Nguyễn Thị Ánh", dt.date(1990, 3, 15))
    assert outcome.match is False


# -- personal ID rules (the errors the service turns into 422) -----------------------------


@pytest.mark.parametrize(
    ("value", "rule", "text"),
    [
        ("12345", "format", "exactly 12 digits"),
        ("00119001234a", "format", "exactly 12 digits"),
        ("٠٠١١٩٠٠١٢٣٤٥", "format", "exactly 12 digits"),  # Arabic-Indic digits are not ASCII
        ("999190012345", "birthplace", "unknown birthplace code '999'"),
        ("001299012345", "birth_year", "give 2099, in the future"),
    ],
)
def test_malformed_ids_name_the_rule(value: str, rule: str, text: str) -> None:
    with pytest.raises(PersonalIdError) as caught:
        validate_personal_id(value, today=dt.date(2026, 1, 1))
    assert caught.value.rule == rule
    assert text in str(caught.value)


# -- seeding and look-ups ------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0, max_value=SIZE - 1))
def test_every_synthetic_citizen_validates_and_is_found(store: CitizenStore, index: int) -> None:
    citizen = citizen_at(SEED, index)
    validate_personal_id(citizen.personal_id)
    record = store.lookup(citizen.personal_id)
    assert record == CitizenRecord(
        personal_id=citizen.personal_id,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth.isoformat(),
        sex=citizen.sex,
        address=citizen.address,
        commune_code=citizen.commune_code,
        province_code=citizen.province_code,
    )


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31), index=st.integers(min_value=0, max_value=999_999))
def test_any_seed_and_index_give_a_valid_id(seed: int, index: int) -> None:
    validate_personal_id(citizen_at(seed, index).personal_id)


def test_citizen_beyond_the_population_is_not_found(store: CitizenStore) -> None:
    assert store.lookup(citizen_at(SEED, SIZE).personal_id) is None
    assert store.count() == SIZE


def test_seeding_is_skipped_for_same_seed_and_size_and_redone_otherwise(tmp_path: Path) -> None:
    store = CitizenStore(open_database(tmp_path / "population.db"))
    first = store.seed(1, 300)
    again = store.seed(1, 300)
    other = store.seed(2, 200)
    assert (first.seeded, again.seeded, other.seeded) == (True, False, True)
    assert store.seeded_as() == (2, 200)
    assert store.count() == 200
    assert store.lookup(citizen_at(1, 0).personal_id) is None
    assert store.lookup(citizen_at(2, 199).personal_id) is not None


def test_reopened_database_keeps_its_seed(tmp_path: Path) -> None:
    path = tmp_path / "population.db"
    CitizenStore(open_database(path)).seed(3, 100)
    assert CitizenStore(open_database(path)).seed(3, 100).seeded is False


def test_seeded_citizens_end_up_in_the_database_file_not_the_wal(tmp_path: Path) -> None:
    """Look-ups read the memory-mapped file; pages left in the WAL would be searched for each read."""
    path = tmp_path / "population.db"
    store = CitizenStore(open_database(path))
    store.seed(4, 2000)
    assert path.with_name("population.db-wal").stat().st_size == 0
    assert path.stat().st_size > 2000 * 100  # the rows themselves are in the file
    assert store.lookup(citizen_at(4, 1999).personal_id) is not None


# -- throttling ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_allows_a_burst_then_refuses_with_retry_after() -> None:
    clock = FakeClock()
    throttle = ClientThrottle(ThrottlePolicy(rate_per_s=2.0, burst=3), clock)
    assert [throttle.take("province-01") for _ in range(3)] == [0, 0, 0]
    assert throttle.take("province-01") == 1
    clock.now += 0.5  # one token refilled at 2/s
    assert throttle.take("province-01") == 0
    assert throttle.take("province-01") == 1


def test_a_batch_costs_one_token_per_item_and_its_debt_is_waited_out() -> None:
    clock = FakeClock()
    throttle = ClientThrottle(ThrottlePolicy(rate_per_s=10.0, burst=20), clock)
    assert throttle.take("portal", 100) == 0  # allowed: a token was left, the bucket is now 80 in debt
    assert throttle.take("portal") == 9  # 81 tokens short at 10/s
    clock.now += 8.0
    assert throttle.take("portal") == 1
    clock.now += 0.2  # the debt is repaid: one whole token again
    assert throttle.take("portal") == 0


def test_a_batch_admitted_on_its_last_token_is_billed_its_items_as_debt_never_refused() -> None:
    clock = FakeClock()
    throttle = ClientThrottle(ThrottlePolicy(rate_per_s=10.0, burst=2), clock)
    assert throttle.take("portal") == 0 and throttle.take("portal") == 0  # the second spends the last token
    throttle.charge("portal", 0)  # a one-item batch: nothing more to bill
    throttle.charge("portal", 9)  # a ten-item batch: nine more, as debt
    assert throttle.take("portal") == 1  # 10 tokens short at 10/s
    clock.now += 1.0
    assert throttle.take("portal") == 0


def test_throttle_buckets_are_per_client() -> None:
    clock = FakeClock()
    throttle = ClientThrottle(ThrottlePolicy(rate_per_s=1.0, burst=1), clock)
    assert throttle.take("province-01") == 0
    assert throttle.take("province-01") == 1
    assert throttle.take("police") == 0


def test_slow_rate_gives_a_longer_retry_after() -> None:
    clock = FakeClock()
    throttle = ClientThrottle(ThrottlePolicy(rate_per_s=0.1, burst=1), clock)
    throttle.take("portal")
    assert throttle.take("portal") == 10


def test_disabled_throttle_never_refuses() -> None:
    throttle = ClientThrottle(ThrottlePolicy(rate_per_s=0, burst=1), FakeClock())
    assert all(throttle.take("portal") == 0 for _ in range(100))


# -- the purpose fast path ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(purpose=st.text(max_size=60), raw=st.binary(max_size=30))
def test_purpose_fast_path_decodes_like_starlette(purpose: str, raw: bytes) -> None:
    for query in (b"purpose=" + quote_plus(purpose).encode(), b"purpose=" + raw.replace(b"&", b"")):
        request = Request({"type": "http", "query_string": query, "headers": []})
        assert _purpose_param(request) == request.query_params.get("purpose")
