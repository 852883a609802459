from kernel.roster import load_roster


def test_roster_has_every_unit_of_the_2025_reform():
    roster = load_roster()
    assert len(roster.provinces) == 34
    assert len(roster.communes) == 3321
    kinds = [c.kind for c in roster.communes]
    assert (kinds.count("xa"), kinds.count("phuong"), kinds.count("dac_khu")) == (2621, 687, 13)
    assert sum(len(p.commune_codes) for p in roster.provinces) == 3321


def test_names_keep_their_diacritics_and_codes_their_shape():
    roster = load_roster()
    assert roster.province("01").name == "Thành phố Hà Nội"
    assert roster.commune("00004").name == "Phường Ba Đình"
    assert all(len(c.code) == 5 and c.code.isdigit() for c in roster.communes)


def test_agency_codes_are_unique_and_layered():
    roster = load_roster()
    hanoi = roster.province("01")
    assert hanoi.agency_code == "000.00.00.H26"
    assert roster.commune("00004").agency_code == "H26.00004"
    codes = [p.agency_code for p in roster.provinces] + [c.agency_code for c in roster.communes]
    closed = [code for p in roster.provinces for code in p.closed_district_agency_codes]
    assert len(set(codes)) == len(codes)
    assert not set(codes) & set(closed)


def test_birthplace_codes_cover_the_63_old_provinces():
    roster = load_roster()
    assert len(roster.birthplace_codes) == 63
    assert roster.province_of_birthplace("079").code == "79"  # Ho Chi Minh City
    assert roster.province_of_birthplace("002").code == "08"  # Hà Giang merged into Tuyên Quang


def test_old_communes_map_to_new_ones():
    roster = load_roster()
    assert len(roster.old_commune_splits) == 10047
    assert roster.old_commune_splits["00001"] == ("00097",)
    new_codes = {c.code for c in roster.communes}
    assert all(set(v) <= new_codes for v in roster.old_commune_splits.values())
