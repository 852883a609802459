"""The dry-run CA: persistence, deterministic agency keys, certificates and trust."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import ConfigError
from kernel.pki import CA_SUBJECT_CN, AgencyCredential, DryRunCA, agency_code_of, make_untrusted_ca

UTC = dt.UTC


def _public_der(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def shared_ca() -> DryRunCA:
    return DryRunCA.create_ephemeral()


def test_load_or_create_writes_key_0600_and_reloads_the_same_ca(tmp_path: Path) -> None:
    first = DryRunCA.load_or_create(tmp_path)
    key_mode = stat.S_IMODE(os.stat(tmp_path / "ca.key").st_mode)
    assert key_mode == 0o600
    assert (tmp_path / "ca.pem").read_bytes() == first.certificate_pem
    second = DryRunCA.load_or_create(tmp_path)
    assert second.certificate_pem == first.certificate_pem
    assert first.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_SUBJECT_CN
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
    assert isinstance(first.certificate.public_key().curve, ec.SECP256R1)


def test_load_or_create_creates_a_missing_directory(tmp_path: Path) -> None:
    ca = DryRunCA.load_or_create(tmp_path / "data" / "axis")
    assert (tmp_path / "data" / "axis" / "ca.key").exists()
    assert ca.certificate_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_concurrent_creation_agrees_on_one_ca(tmp_path: Path) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        results.append(DryRunCA.load_or_create(tmp_path).issue("H26.00004").cert_pem)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reloaded = DryRunCA.load_or_create(tmp_path).issue("H26.00004")
    assert len(results) == 6
    assert {_public_der(x509.load_pem_x509_certificate(pem).public_key()) for pem in results} == {
        _public_der(reloaded.certificate.public_key())
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key", "ca.pem"]  # no temp files left


def test_a_ca_pem_that_does_not_match_the_key_is_a_config_error(tmp_path: Path) -> None:
    DryRunCA.load_or_create(tmp_path)
    (tmp_path / "ca.pem").write_bytes(make_untrusted_ca().certificate_pem)
    with pytest.raises(ConfigError, match=r"ca\.pem: does not match ca\.key"):
        DryRunCA.load_or_create(tmp_path)


def test_a_corrupt_ca_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ca.key").write_bytes(b"not a key")
    with pytest.raises(ConfigError, match=r"ca\.key: not an unencrypted PEM key"):
        DryRunCA.load_or_create(tmp_path)


def test_agency_keys_are_deterministic_across_loads(tmp_path: Path) -> None:
    one = DryRunCA.load_or_create(tmp_path).issue("000.00.00.H26")
    two = DryRunCA.load_or_create(tmp_path).issue("000.00.00.H26")
    assert _public_der(one.private_key) == _public_der(two.private_key)
    assert one.key_pem == two.key_pem


def test_different_codes_and_different_cas_give_different_keys(tmp_path: Path) -> None:
    ca = DryRunCA.load_or_create(tmp_path)
    other_ca = DryRunCA.load_or_create(tmp_path / "other")
    keys = {
        _public_der(ca.agency_key("000.00.00.H26")),
        _public_der(ca.agency_key("H26.00004")),
        _public_der(other_ca.agency_key("000.00.00.H26")),
    }
    assert len(keys) == 3


@settings(max_examples=30, deadline=None)
@given(st.lists(st.from_regex(r"[0-9A-Z]{1,3}(\.[0-9A-Z]{1,5}){0,3}", fullmatch=True), min_size=2, max_size=5, unique=True))
def test_distinct_codes_never_share_a_key(shared_ca: DryRunCA, codes: list[str]) -> None:
    assert len({_public_der(shared_ca.agency_key(code)) for code in codes}) == len(codes)


def test_issued_certificate_names_the_agency_and_chains_to_the_ca(shared_ca: DryRunCA) -> None:
    credential = shared_ca.issue("H26.00004")
    assert isinstance(credential, AgencyCredential)
    assert credential.agency_code == "H26.00004"
    assert agency_code_of(credential.certificate) == "H26.00004"
    credential.certificate.verify_directly_issued_by(shared_ca.certificate)
    assert credential.certificate.public_key() == credential.private_key.public_key()
    assert x509.load_pem_x509_certificate(credential.cert_pem) == credential.certificate
    loaded = serialization.load_pem_private_key(credential.key_pem, password=None)
    assert _public_der(loaded) == _public_der(credential.private_key)
    assert "BEGIN" not in repr(credential)  # keys stay out of logs


def test_default_validity_brackets_now_and_lasts_a_year(shared_ca: DryRunCA) -> None:
    cert = shared_ca.issue("000.00.00.G22").certificate
    now = dt.datetime.now(UTC)
    assert cert.not_valid_before_utc <= now - dt.timedelta(hours=23)
    assert cert.not_valid_after_utc >= now + dt.timedelta(days=364)
    assert cert.not_valid_after_utc <= now + dt.timedelta(days=366)


def test_explicit_validity_is_kept_and_cached_separately(shared_ca: DryRunCA) -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    end = dt.datetime(2021, 1, 1, tzinfo=UTC)
    old = shared_ca.issue("H01.00001", not_before=start, not_after=end)
    assert old.certificate.not_valid_before_utc == start
    assert old.certificate.not_valid_after_utc == end
    assert shared_ca.issue("H01.00001", not_before=start, not_after=end) is old
    current = shared_ca.issue("H01.00001")
    assert current is not old
    assert _public_der(current.private_key) == _public_der(old.private_key)
    assert current.certificate.serial_number != old.certificate.serial_number


def test_naive_validity_bounds_are_read_as_utc(shared_ca: DryRunCA) -> None:
    cert = shared_ca.issue("H01.00002", not_before=dt.datetime(2030, 1, 1), not_after=dt.datetime(2031, 1, 1)).certificate
    assert cert.not_valid_before_utc == dt.datetime(2030, 1, 1, tzinfo=UTC)


def test_issue_rejects_an_empty_code_and_an_inverted_validity(shared_ca: DryRunCA) -> None:
    with pytest.raises(ValueError, match="non-empty printable"):
        shared_ca.issue("")
    with pytest.raises(ValueError, match="must be after not_before"):
        shared_ca.issue("H01.00001", not_before=dt.datetime(2021, 1, 1, tzinfo=UTC),
                        not_after=dt.datetime(2020, 1, 1, tzinfo=UTC))


def test_untrusted_ca_has_the_same_name_but_does_not_chain(shared_ca: DryRunCA) -> None:
    impostor = make_untrusted_ca()
    assert impostor.certificate.subject == shared_ca.certificate.subject
    forged = impostor.issue("000.00.00.G22").certificate
    assert forged.issuer == shared_ca.certificate.subject
    with pytest.raises(InvalidSignature):
        forged.verify_directly_issued_by(shared_ca.certificate)


def test_agency_code_of_refuses_ca_and_nameless_certificates(shared_ca: DryRunCA) -> None:
    assert agency_code_of(shared_ca.certificate) is None
    key = ec.generate_private_key(ec.SECP256R1())
    nameless = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")]))
        .issuer_name(shared_ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2026, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    assert agency_code_of(nameless) is None


def test_validity_is_kept_to_the_second_so_the_cache_hits(shared_ca: DryRunCA) -> None:
    start = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    end = dt.datetime(2024, 6, 1, tzinfo=UTC)
    first = shared_ca.issue("H01.00003", not_before=start.replace(microsecond=999), not_after=end)
    assert shared_ca.issue("H01.00003", not_before=start, not_after=end) is first
    assert first.certificate.not_valid_before_utc == start
