"""The national profile is national size, its numbers follow from the published volumes,
and the README and the other profiles state the same national figures (issue #14 item 1).

The published inputs (``../shared/DOMAIN.md``) and our stated assumptions are restated
here, and every figure is recomputed from them — not read back from the profile."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from kernel.edxml import Attachment, DocumentEnvelope, build_package, make_document_id, parse_and_verify
from kernel.pki import DryRunCA
from kernel.roster import load_roster
from mocks.core.settings import ServiceSettings
from scenarios.communes import active_communes, officer_slots
from scenarios.profile import PROFILES_DIR, resolve_profile, shipped_profiles

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NATIONAL_YAML = (PROFILES_DIR / "national.yaml").read_text(encoding="utf-8")

# Published (DOMAIN.md): dossiers a day in the first seven weeks, their online share,
# the communes of the two-tier country.
DOSSIERS_A_DAY = 88_000
ONLINE_SHARE = 0.747
COMMUNES, PROVINCES = 3_321, 34
# Ours (stated in national.yaml and the README): the peak day, the surge window and its
# share, the rest of office hours, one-stop officers per commune centre.
PEAK_FACTOR = 4
SURGE_SHARE, SURGE_S, REST_OF_OFFICE_HOURS_S = 0.5, 3 * 3600, 5 * 3600
OFFICERS_PER_CENTRE = 8

ONLINE_ON_PEAK_DAY = DOSSIERS_A_DAY * PEAK_FACTOR * ONLINE_SHARE  # 262,944
SURGE_PER_S = ONLINE_ON_PEAK_DAY * SURGE_SHARE / SURGE_S  # 12.17
OFFICE_HOURS_PER_S = ONLINE_ON_PEAK_DAY * (1 - SURGE_SHARE) / REST_OF_OFFICE_HOURS_S  # 7.30
OFFICERS = COMMUNES * OFFICERS_PER_CENTRE  # 26,568


def test_national_is_national_size_at_scale_1_and_three_quarters_of_it_by_default() -> None:
    shipped = resolve_profile("national")
    # The default: the largest share one 2-core machine carries with the mocks (bench/national.py).
    assert (shipped.scale, shipped.duration_s) == (0.75, 600)
    assert shipped.officers_per_commune == 6 and shipped.citizen_base_rate == pytest.approx(0.75 * OFFICE_HOURS_PER_S, abs=0.01)
    national = shipped.scaled(1.0)
    communes = active_communes(national)
    assert len(communes) == COMMUNES and len({c.province_code for c in communes}) == PROVINCES
    assert len(officer_slots(national)) == OFFICERS == 26_568


def test_its_citizens_arrive_at_the_rates_derived_from_the_published_volumes() -> None:
    citizens = resolve_profile("national").citizens
    assert citizens.arrivals_per_s == pytest.approx(OFFICE_HOURS_PER_S, abs=0.01)
    surge_factor = max(p.factor for p in citizens.shape)
    assert citizens.arrivals_per_s * surge_factor == pytest.approx(SURGE_PER_S, rel=0.002)
    # The surge is a shape, not a constant: office hours before and after it, and the
    # surge rate held for most of the ten minutes.
    assert citizens.factor_at(0) == citizens.factor_at(600) == 1.0
    at_surge = [t for t in range(601) if citizens.factor_at(t) == surge_factor]
    assert len(at_surge) >= 300, at_surge[:3]


def test_each_directive_reaches_every_commune_of_its_province_and_officers_sign_in_in_the_storm() -> None:
    national = resolve_profile("national")
    largest = max(Counter(c.province_code for c in active_communes(national)).values())
    assert national.agencies.enabled and national.agencies.fanout >= largest == 168
    # Every officer is started before its login storm ends (a later start would sign in late).
    users = OFFICERS + PROVINCES
    assert users / national.spawn_rate <= national.officers.login_window_s


def test_a_directive_to_every_commune_of_the_largest_province_is_a_package_the_axis_takes() -> None:
    # Fan-out 168: Ho Chi Minh City's directive names all its communes. It must stay a valid,
    # verifiable edXML package within the mock axis's body limit.
    roster = load_roster()
    province = roster.province("79")
    recipients = [c.agency_code for c in roster.communes_of("79")]
    ca, today = DryRunCA.create_ephemeral(), dt.date.today()
    envelope = DocumentEnvelope(
        message_id=make_document_id(province.agency_code, today, 1, "UBND-DT"), sender_code=province.agency_code,
        sender_name=f"UBND {province.name}", recipients=recipients, code_number="1", code_notation="UBND-DT",
        promulgation_place=province.name, promulgation_date=today, document_type="Công văn",
        subject="Chỉ đạo vận hành chính quyền địa phương hai cấp", priority=1,
        attachments=[Attachment("noi-dung.txt", "text/plain", "Chỉ đạo".encode())])
    package = build_package(envelope, ca.issue(province.agency_code))
    assert len(package) < ServiceSettings().max_body_bytes
    verified = parse_and_verify(package, trusted_ca=ca.certificate)
    assert verified.signature_verified and verified.signer_code == province.agency_code
    assert len(verified.envelope.recipients) == len(recipients) == resolve_profile("national").agencies.fanout


def _figures(pattern: str, text: str) -> set[float]:
    return {float(m.replace(",", "")) for m in re.findall(pattern, text)}


def test_the_readme_and_every_profile_state_the_same_national_rates() -> None:
    surge, office_hours = round(SURGE_PER_S, 2), round(OFFICE_HOURS_PER_S, 2)
    texts = {"README.md": README} | {
        f"{name}.yaml": (PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8") for name in shipped_profiles()}
    for where, text in texts.items():
        # Any national rate stated anywhere is one of the two the derivation gives
        # (the contradicted "≈ 12 online submissions/s" and "≈ 16 dossier arrivals/s" are not).
        stated = _figures(r"([\d.,]+) (?:online submissions|dossier arrivals)/s", text)
        assert stated <= {surge, office_hours}, (where, stated)
    # The one derivation is in both places, with the same result.
    for text in (README, NATIONAL_YAML):
        assert surge in _figures(r"([\d.]+) online submissions/s", text)
        assert _figures(r"262,944 / 2 / 10,800(?: s)?\s*(?:\||=)\s*\**([\d.]+)", text) == {surge}
    assert _figures(r"\*\*([\d,]+) officers\*\*", README) == _figures(r"= ([\d,]+) officer actors", NATIONAL_YAML) == {
        OFFICERS}


def test_the_readme_table_row_is_the_national_profile() -> None:
    national = resolve_profile("national")
    row = re.search(r"^\| `national` \| (\d+) s \| all ([\d,]+) \| (\d+) each, (\d+) s login storm \| "
                    r"([\d.]+)/s, morning surge ×([\d.]+) \(([\d.]+)/s\) \|", README, flags=re.MULTILINE)
    assert row, "README 'Profiles and sizing' has no national row"
    surge_factor = max(p.factor for p in national.citizens.shape)
    assert (float(row[1]), int(row[2].replace(",", "")), int(row[3]), float(row[4])) == (
        national.duration_s, COMMUNES, national.officers.per_commune, national.officers.login_window_s)
    assert (float(row[5]), float(row[6]), float(row[7])) == (
        national.citizens.arrivals_per_s, surge_factor, round(SURGE_PER_S, 2))


@pytest.mark.parametrize("name", ["golive", "peak", "national"])
def test_a_profile_s_description_says_how_many_officers_each_commune_has_and_it_is_so(name: str) -> None:
    profile = resolve_profile(name)
    stated = re.findall(r"(\d+) officers? per commune", profile.description)
    assert stated and {int(n) for n in stated} == {profile.officers.per_commune}, profile.description
