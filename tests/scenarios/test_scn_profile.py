"""Scenario profiles: the shipped ones match the README, every mistake is named by file,
line and field, and the rate curve and scaling do what the profile says."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError, ExitCode, UsageError
from scenarios.communes import active_communes, officer_slots
from scenarios.profile import CitizenLoad, Profile, ShapePoint, load_profile, resolve_profile, shipped_profiles

# The README's table "Profiles and sizing": duration, communes live, officers each,
# citizen arrivals/s at scale 1, weighting, and the surge factor of the rate curve.
README_TABLE = {
    "smoke": (40, 34, 1, 5.0, "equal", 1.5),
    "golive": (300, 3321, 1, 3.0, "size", 2.0),
    "peak": (600, 3321, 2, 4.0, "size", 1.5),
    "soak": (3600, 3321, 6, 7.3, "size", 1.0),
    "national": (600, 3321, 8, 7.3, "size", 1.667),
}


@pytest.mark.parametrize("name", sorted(README_TABLE))
def test_shipped_profiles_match_the_readme_table(name: str) -> None:
    profile = resolve_profile(name).scaled(1.0)  # the table's figures are at scale 1
    duration, communes, officers, rate, weighting, surge = README_TABLE[name]
    assert (profile.name, profile.duration_s, profile.officers_per_commune) == (name, duration, officers)
    assert len(active_communes(profile)) == communes
    assert (profile.citizen_base_rate, profile.citizens.weighting) == (rate, weighting)
    assert max(p.factor for p in profile.citizens.shape) == surge
    assert profile.abort.enabled


def test_shipped_profiles_are_exactly_the_readme_ones() -> None:
    assert shipped_profiles() == sorted(README_TABLE)


def test_peak_and_golive_scaled_up_are_what_the_readme_says_against_national() -> None:
    national = resolve_profile("national").scaled(1.0)  # national size; the shipped default is 0.75 of it
    national_surge = national.citizen_base_rate * max(p.factor for p in national.citizens.shape)
    peak = resolve_profile("peak").scaled(4)
    assert len(officer_slots(peak)) == len(officer_slots(national)) == 26_568  # 8 officers × 3,321 communes
    assert peak.citizen_base_rate * max(p.factor for p in peak.citizens.shape) == 24.0  # 4 × 4 × 1.5 arrivals/s
    assert 24.0 / national_surge == pytest.approx(2, abs=0.05)  # "twice its surge rate"
    golive = resolve_profile("golive").scaled(10)
    assert len(officer_slots(golive)) == 33_210  # "a quarter more than national"


def test_golive_signs_every_officer_in_within_its_60_second_login_storm() -> None:
    assert resolve_profile("golive").officers.login_window_s == 60


BAD = """\
name: Go Live!
duration_s: 0
officers: {per_commune: 1, think_time_s: [5, 2]}
citizens:
  arrivals_per_s: 5
  colour: blue
abort: {for_s: -1, error_rate: 1.5}
spawn_rate: fast
"""


def test_every_problem_is_named_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    assert exc.value.exit_code == ExitCode.CONFIG_ERROR
    f = str(path)
    assert str(exc.value).splitlines() == [
        f"{f}:1: name: String should match pattern '^[a-z0-9][a-z0-9_-]*$', got 'Go Live!'",
        f"{f}:2: duration_s: Input should be greater than 0, got 0",
        f"{f}:8: spawn_rate: Input should be a valid number, unable to parse string as a number, got 'fast'",
        f"{f}:3: officers: think_time_s must be [min, max] with 0 ≤ min ≤ max",
        f"{f}:6: citizens.colour: unknown key",
        f"{f}:7: abort.error_rate: Input should be less than or equal to 1, got 1.5",
        f"{f}:7: abort.for_s: Input should be greater than 0, got -1",
    ]


@pytest.mark.parametrize("shape", [
    "[{at_s: 5, factor: 1}]", "[{at_s: 0, factor: 1}, {at_s: 20, factor: 2}, {at_s: 10, factor: 1}]", "[]"])
def test_a_shape_must_start_at_zero_and_run_forward(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(f"name: s\nduration_s: 10\ncitizens:\n  shape: {shape}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"shape.yaml:4: citizens: shape must start at at_s: 0 and be in increasing"):
        load_profile(path)


def test_unknown_profile_lists_the_shipped_ones_and_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        resolve_profile("goliv")
    assert str(exc.value) == ("unknown profile 'goliv'; shipped profiles: golive, national, peak, smoke, soak "
                              "(or give a path to a YAML file)")
    with pytest.raises(ConfigError, match=r"mine.yaml: file not found"):
        resolve_profile(str(tmp_path / "mine.yaml"))


def test_a_profile_file_is_found_by_path_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "my-smoke"  # no suffix, but it exists
    path.write_text("name: mine\nduration_s: 12\n", encoding="utf-8")
    profile = resolve_profile(str(path))
    assert (profile.name, profile.duration_s, profile.citizens.arrivals_per_s) == ("mine", 12, 2.0)


def test_factor_at_interpolates_between_points_and_stays_flat_after_the_last() -> None:
    load = CitizenLoad(shape=[ShapePoint(at_s=0, factor=0.5), ShapePoint(at_s=10, factor=1.5),
                              ShapePoint(at_s=10, factor=3.0), ShapePoint(at_s=30, factor=1.0)])
    assert [load.factor_at(t) for t in (0, 5, 10, 20, 30, 1000)] == [0.5, 1.0, 1.5, 2.0, 1.0, 1.0]
    assert load.factor_at(10.0001) == pytest.approx(3.0, abs=1e-3)  # a step: the later point wins just after it


def test_scaling_multiplies_officers_and_arrivals_and_keeps_at_least_one_officer() -> None:
    base = Profile(name="p", duration_s=60, officers={"per_commune": 3}, citizens={"arrivals_per_s": 2.0})
    assert (base.officers_per_commune, base.citizen_base_rate) == (3, 2.0)
    assert (base.scaled(2.5).officers_per_commune, base.scaled(2.5).citizen_base_rate) == (8, 5.0)  # round(7.5)
    tiny = base.scaled(0.1)
    assert (tiny.officers_per_commune, tiny.citizen_base_rate) == (1, pytest.approx(0.2))
    shorter = base.scaled(duration_s=20)
    assert (shorter.duration_s, shorter.scale, base.duration_s) == (20, 1.0, 60)  # a copy; the original is unchanged
