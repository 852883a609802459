"""The district-tier switch: declared once in the readiness profile, closed once by an admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from mocks.core.district_tier import DistrictTierSwitch
from mocks.core.readiness import load_readiness

OLD_TIER = Path(__file__).parents[3] / "drills" / "catalog" / "readiness" / "old-tier.yaml"


def test_the_shipped_old_tier_profile_opens_the_tier_and_the_default_is_closed() -> None:
    assert load_readiness(OLD_TIER).district_tier == "open"
    assert load_readiness(None).district_tier == "closed"


def test_a_bad_switch_value_is_an_error_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("description: x\ndistrict_tier: half\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"r\.yaml:2: district_tier"):
        load_readiness(bad)


def test_the_switch_closes_once_and_stays_closed() -> None:
    switch = DistrictTierSwitch(True)
    assert switch.to_json() == {"status": "open", "closed_at": None}
    assert switch.close() is True
    closed_at = switch.closed_at
    assert switch.to_json() == {"status": "closed", "closed_at": closed_at} and closed_at
    assert switch.close() is False and switch.closed_at == closed_at  # idempotent: the first closing stands
    assert DistrictTierSwitch(False).close() is False


def test_a_closing_is_written_before_it_is_answered_and_outlives_the_process(tmp_path: Path) -> None:
    from mocks.core.store import open_database

    path = tmp_path / "service.db"
    switch = DistrictTierSwitch(True, open_database(path))
    assert switch.is_open
    assert switch.close() is True
    # Read by another connection at once: committed, not waiting for a clean stop.
    reopened = DistrictTierSwitch(True, open_database(path))  # the profile still says "open"
    assert reopened.to_json() == switch.to_json() and not reopened.is_open
    assert reopened.close() is False and reopened.to_json() == switch.to_json()
    assert DistrictTierSwitch(True, open_database(tmp_path / "fresh.db")).is_open  # a new data dir: the profile's
