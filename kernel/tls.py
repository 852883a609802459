"""TLS toward a target: one service's CA bundle, client certificate (mTLS) and verification.

``targets.yaml`` may give each service a ``tls`` block::

    portal:
      base_url: https://staging-dvc.example.vn
      tls:
        ca_bundle: /etc/dientap/staging-ca.pem     # default: the system's trust store
        client_cert: /secure/dientap-client.pem    # mTLS: certificate (PEM) ...
        client_key: /secure/dientap-client.key     # ... and its unencrypted key (PEM)
        verify: true                               # the default; false is refused off loopback

Verification is on by default and cannot be switched off for a host that is not loopback:
a rehearsal that would accept any certificate is a rehearsal of the wrong system. The
paths are settings, not secrets (the key file's content is never read into the run's
records); every file is opened and parsed when the targets file is loaded, so a missing
or broken one is an ``ERROR:`` naming the field before anything starts.

The contexts are the standard library's :mod:`ssl` (gevent's, in a load process, where
it is patched): the same context serves the account check (httpx) and the load
(geventhttpclient).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EncryptedKey", "TlsOptions", "client_context", "tls_problems"]


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How one service's TLS is verified and which client certificate it is shown."""

    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    def as_dict(self) -> dict[str, str | bool | None]:
        """Paths and the flag only (what the run configuration and provenance record)."""
        return {"ca_bundle": _text(self.ca_bundle), "client_cert": _text(self.client_cert),
                "client_key": _text(self.client_key), "verify": self.verify}

    @classmethod
    def from_dict(cls, values: dict[str, str | bool | None]) -> TlsOptions:
        """The inverse of :meth:`as_dict`."""
        def path(key: str) -> Path | None:
            value = values.get(key)
            return Path(str(value)) if value else None

        return cls(path("ca_bundle"), path("client_cert"), path("client_key"), bool(values.get("verify", True)))


def _text(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def client_context(options: TlsOptions | None) -> ssl.SSLContext:
    """A client context: the CA bundle (or the system store), the client certificate, and
    hostname and chain verification unless ``verify`` is off."""
    options = options or TlsOptions()
    context = ssl.create_default_context(cafile=str(options.ca_bundle) if options.ca_bundle else None)
    if options.client_cert is not None:
        context.load_cert_chain(str(options.client_cert), str(options.client_key) if options.client_key else None,
                                password=_no_passphrase)
    if not options.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def tls_problems(options: TlsOptions, *, scheme: str, loopback: bool) -> list[tuple[str, str]]:
    """What is wrong with ``options`` for a base URL of ``scheme`` — (field, message) pairs,
    empty when the options are usable (every file is opened and parsed here)."""
    problems: list[tuple[str, str]] = []
    if scheme != "https":
        return [("tls", "TLS options on an http:// base_url; use https:// or drop the tls block")]
    if not options.verify and not loopback:
        problems.append(("tls.verify", "verification can be switched off only for a loopback host; "
                         "give the target's CA in tls.ca_bundle instead"))
    if (options.client_cert is None) != (options.client_key is None):
        missing = "client_key" if options.client_key is None else "client_cert"
        problems.append((f"tls.{missing}", "client_cert and client_key go together (mTLS needs both)"))
    for name in ("ca_bundle", "client_cert", "client_key"):
        path = getattr(options, name)
        why = _not_a_file(path) if path is not None else None
        if why is not None:
            problems.append((f"tls.{name}", why))
    if problems:
        return problems
    try:
        context = ssl.create_default_context(cafile=str(options.ca_bundle) if options.ca_bundle else None)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return [("tls.ca_bundle", f"not a usable PEM CA bundle: {_reason(exc)}")]
    if options.client_cert is not None:
        try:
            context.load_cert_chain(str(options.client_cert), str(options.client_key) if options.client_key else None,
                                    password=_no_passphrase)
        except EncryptedKey:
            problems.append(("tls.client_key", f"{options.client_key or options.client_cert} is encrypted (it asks for "
                             "a passphrase, and nobody is there to type one); give an unencrypted PEM key, e.g. "
                             "`openssl pkey -in KEY -out KEY.plain`, readable only by the user who runs dientap"))
        except (ssl.SSLError, OSError, ValueError) as exc:
            problems.append(("tls.client_cert", "the certificate and key do not load as a PEM pair "
                             f"(an encrypted key is not supported): {_reason(exc)}"))
    return problems


class EncryptedKey(Exception):  # noqa: N818 - what the key is, not a failure of ours
    """A client key that asks for a passphrase."""


def _no_passphrase() -> str:
    # Without a password callback OpenSSL asks for an encrypted key's passphrase itself, on the
    # terminal (or stdin): the check, or a load process, would wait for someone to type it.
    raise EncryptedKey


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` is no file to read a PEM from, or None. Only regular files are opened: a pipe
    would never answer, and a device like /dev/zero never ends."""
    if not str(path).strip() or str(path) == ".":  # Path("") is Path("."): an empty value means no file
        return "empty; give the path of a PEM file, or leave the option out"
    if Path(path).is_dir():
        return f"{path} is a directory; give the path of a PEM file"
    if Path(path).exists() and not Path(path).is_file():
        return f"{path} is not a regular file (a device or a pipe); give the path of a PEM file"
    if not Path(path).is_file():
        return f"no such file: {path}"
    return None


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc)
