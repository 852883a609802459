"""The dry-run PKI: one local CA that certifies every agency on the document axis.

The document-axis mock trusts exactly one CA, created once in its data directory
(``ca.key`` + ``ca.pem``). The load generator and the security drills open the same
directory and sign as any of the ~3,500 agencies without a key store, because an
agency's private key is *derived* from the CA key and the agency code::

    scalar = HMAC-SHA256(CA private scalar, "dientap/agency-key/v1" || 0x00 || code)  mod (n-1) + 1

so two processes that load the same CA directory get the same agency key. This is a
rehearsal convenience and nothing more: whoever holds ``ca.key`` can sign as every
agency. Keys are ECDSA P-256 (RSA key generation is far too slow for thousands of
agencies); issuing a certificate costs well under a millisecond and is cached.

The agency code is carried in the certificate subject's common name
(``CN=000.00.00.H26``); :func:`agency_code_of` reads it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kernel.errors import ConfigError, ConfigProblem

__all__ = [
    "AgencyCredential",
    "TlsCredential",
    "CA_SUBJECT_CN",
    "DryRunCA",
    "agency_code_of",
    "issue_tls",
    "make_untrusted_ca",
]

CA_SUBJECT_CN = "dientap dry-run CA"
_CA_ORG = "dientap"
_AGENCY_ORG = "dientap dry-run agency"
# Fixed CA validity, so that the CA certificate is a pure function of the CA key.
_CA_NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_CA_NOT_AFTER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
_KEY_DOMAIN = b"dientap/agency-key/v1\x00"
_SERIAL_DOMAIN = b"dientap/agency-serial/v1\x00"
# Order of the P-256 group: a derived scalar must lie in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class AgencyCredential:
    """An agency's signing key and its certificate issued by a :class:`DryRunCA`."""

    agency_code: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    key_pem: bytes = field(repr=False)
    cert_pem: bytes = field(repr=False)


def _sign(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """Sign a certificate, deterministically (RFC 6979) when cryptography supports it.

    Deterministic ECDSA makes the CA certificate and each agency certificate a pure
    function of their inputs, so racing processes write identical files.
    """
    try:
        return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    except TypeError:  # cryptography < 44: randomized ECDSA, still valid
        return builder.sign(key, hashes.SHA256())


def _utc_day(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _as_utc(moment: dt.datetime) -> dt.datetime:
    # A naive datetime is read as UTC, the way cryptography reports validity.
    # X.509 keeps whole seconds; truncate so the cache key equals what the certificate says.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC, microsecond=0)
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _CA_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public = key.public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(hashlib.sha256(spki).digest()[:19], "big") | 1)
        .not_valid_before(_CA_NOT_BEFORE)
        .not_valid_after(_CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return _sign(builder, key)


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600; fail with FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class DryRunCA:
    """The dry-run certificate authority of one mock deployment.

    Create it with :meth:`load_or_create` (persistent, shared by the mock and the load
    generator) or :meth:`create_ephemeral` (in memory, for tests and impostor checks).
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate):
        if private_key.public_key() != certificate.public_key():
            raise ValueError("CA certificate does not match the CA private key")
        self._key = private_key
        self.certificate: x509.Certificate = certificate
        """The CA certificate (the only trust anchor of the axis mock)."""
        self.certificate_pem: bytes = certificate.public_bytes(serialization.Encoding.PEM)
        """The CA certificate in PEM form."""
        scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
        # One HMAC key per CA: the raw CA scalar never feeds anything else.
        self._derivation_key = hmac.new(scalar, b"dientap/agency-derivation-key/v1", hashlib.sha256).digest()
        self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(private_key.public_key())
        self._cache: dict[tuple[str, dt.datetime, dt.datetime], AgencyCredential] = {}
        self._keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self._lock = threading.Lock()

    @classmethod
    def load_or_create(cls, directory: Path | str) -> DryRunCA:
        """Open the CA kept in ``directory``, creating ``ca.key`` (0600) and ``ca.pem`` once.

        Safe when several processes start at the same moment: the first key written wins
        (hard-link, never overwrite) and the certificate is a deterministic function of it.
        Raises :class:`~kernel.errors.ConfigError` when the files exist but are unusable.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if not key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            tmp = directory / f".ca.key.{os.getpid()}.{secrets.token_hex(4)}"
            _write_private(tmp, pem)
            try:
                os.link(tmp, key_path)  # atomic and exclusive: a concurrent creator's key wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = cls._load_key(key_path)
        if cert_path.exists():
            try:
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            except ValueError as exc:
                raise ConfigError([ConfigProblem(str(cert_path), None, "ca.pem", f"not a PEM certificate: {exc}")]) from exc
            if cert.public_key() != key.public_key():
                raise ConfigError([ConfigProblem(str(cert_path), None, "ca.pem", f"does not match {key_path.name}")])
        else:
            cert = _ca_certificate(key, CA_SUBJECT_CN)
            tmp = directory / f".ca.pem.{os.getpid()}.{secrets.token_hex(4)}"
            tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            os.replace(tmp, cert_path)
        return cls(key, cert)

    @staticmethod
    def _load_key(key_path: Path) -> ec.EllipticCurvePrivateKey:
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError([ConfigProblem(str(key_path), None, "ca.key", f"not an unencrypted PEM key: {exc}")]) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError([ConfigProblem(str(key_path), None, "ca.key", "must be an ECDSA P-256 key")])
        return key

    @classmethod
    def create_ephemeral(cls, common_name: str = CA_SUBJECT_CN) -> DryRunCA:
        """A fresh in-memory CA. By default it has the *same subject* as the real dry-run
        CA, so trusting by name instead of by key would be caught by tests and drills."""
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, _ca_certificate(key, common_name))

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """Sign a certificate the caller built (TLS certificates, :func:`issue_tls`)."""
        return _sign(builder, self._key)

    def agency_key(self, agency_code: str) -> ec.EllipticCurvePrivateKey:
        """The deterministic private key of ``agency_code`` under this CA."""
        return self._agency_key(agency_code)[0]

    def _agency_key(self, agency_code: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        cached = self._keys.get(agency_code)
        if cached is not None:
            return cached
        seed = hmac.new(self._derivation_key, _KEY_DOMAIN + agency_code.encode(), hashlib.sha256).digest()
        scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with self._lock:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            self._keys[agency_code] = (key, pem)
        return key, pem

    def issue(
        self,
        agency_code: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> AgencyCredential:
        """Issue (or return the cached) credential of ``agency_code``.

        Default validity is from one day before today (00:00 UTC) to 365 days after
        today, so repeated calls on one day hit the cache. Pass past or future bounds to
        make expired or not-yet-valid certificates for drills. Validity is kept to the
        second, as X.509 stores it.
        """
        if not agency_code or not agency_code.isprintable():
            raise ValueError(f"agency code must be a non-empty printable string, got {agency_code!r}")
        today = _utc_day(dt.datetime.now(dt.UTC))
        start = _as_utc(not_before) if not_before is not None else today - dt.timedelta(days=1)
        end = _as_utc(not_after) if not_after is not None else today + dt.timedelta(days=365)
        if end <= start:
            raise ValueError(f"not_after ({end.isoformat()}) must be after not_before ({start.isoformat()})")
        cache_key = (agency_code, start, end)
        credential = self._cache.get(cache_key)
        if credential is not None:
            return credential
        key, key_pem = self._agency_key(agency_code)
        serial_seed = hmac.new(
            self._derivation_key,
            _SERIAL_DOMAIN + f"{agency_code}|{start.isoformat()}|{end.isoformat()}".encode(),
            hashlib.sha256,
        ).digest()
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, _AGENCY_ORG),
                        x509.NameAttribute(NameOID.COMMON_NAME, agency_code),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(int.from_bytes(serial_seed[:19], "big") | 1)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(self._aki, critical=False)
        )
        cert = _sign(builder, self._key)
        credential = AgencyCredential(
            agency_code=agency_code,
            private_key=key,
            certificate=cert,
            key_pem=key_pem,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        )
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[cache_key] = credential
        return credential


@dataclass(frozen=True, slots=True)
class TlsCredential:
    """A TLS certificate issued by the dry-run CA, and its key, both PEM."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``<name>.pem`` and ``<name>.key`` (0600) into ``directory``; their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        if key_path.exists():
            key_path.unlink()
        _write_private(key_path, self.key_pem)
        return cert_path, key_path


def issue_tls(ca: DryRunCA, common_name: str, *, hosts: tuple[str, ...] = (), client: bool = False,
              days: int = 30) -> TlsCredential:
    """A server certificate for ``hosts`` (IP addresses or DNS names, in its subject
    alternative names), or with ``client`` a client certificate for mTLS, signed by
    ``ca``. A fresh P-256 key each time: unlike an agency's, a TLS key is not derived."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, _CA_ORG),
                                 x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client
                                              else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.certificate.public_key()),  # type: ignore[arg-type]
                       critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = ca.sign_certificate(builder)
    return TlsCredential(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
    )


def make_untrusted_ca() -> DryRunCA:
    """An impostor CA: same subject as the dry-run CA, different key, trusted by nobody."""
    return DryRunCA.create_ephemeral()


def agency_code_of(cert: x509.Certificate) -> str | None:
    """The agency code carried in ``cert`` (its subject common name), or ``None``.

    Returns ``None`` for a CA certificate, which certifies no agency.
    """
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            return None
    except x509.ExtensionNotFound:
        pass
    except ValueError:  # malformed or duplicated extensions: certifies nothing
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    value = names[0].value
    return value if isinstance(value, str) and value else None
