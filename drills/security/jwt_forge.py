"""Forged and tampered JWTs for the token checks (built by hand, so any header is possible)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["b64url", "split_token", "make_token", "tampered_tokens", "mock_signing_key"]


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def split_token(token: str) -> tuple[dict, dict, str]:
    """(header, claims, signature) of a compact JWT (not verified)."""
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _segment(obj: dict) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def make_token(header: dict, claims: dict, hmac_key: bytes | None = None) -> str:
    """A compact JWT; HS256-signed with ``hmac_key`` when given, else with an empty signature."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    if hmac_key is None:
        return signing_input + "."
    return signing_input + "." + b64url(hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest())


def _es256_with_jwk(claims: dict) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
           "y": b64url(numbers.y.to_bytes(32, "big"))}
    signing_input = f"{_segment({'alg': 'ES256', 'typ': 'JWT', 'jwk': jwk})}.{_segment(claims)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def tampered_tokens(valid: str, public_key_pem: bytes, other_subject: str) -> list[tuple[str, str]]:
    """(label, token) pairs a correct verifier must refuse, derived from a ``valid`` token."""
    header, claims, signature = split_token(valid)
    h, p, _ = valid.split(".")
    out: list[tuple[str, str]] = []
    escalated = {**claims, "sub": other_subject, "role": "police" if claims.get("role") != "police" else "officer"}
    out.append(("modified payload, original signature", f"{h}.{_segment(escalated)}.{signature}"))
    for alg in ("none", "None", "NONE", "nOnE"):
        out.append((f"alg {alg!r}, no signature", make_token({"alg": alg, "typ": "JWT"}, claims)))
    out.append(("alg 'none', two segments", f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{p}"))
    out.append(("stripped signature", f"{h}.{p}."))
    out.append(("HS256 re-signed with a public key", make_token({"alg": "HS256", "typ": "JWT"}, claims, public_key_pem)))
    attacker = secrets.token_bytes(32)
    jwk_oct = {"kty": "oct", "k": b64url(attacker)}
    jwk_header = {"alg": "HS256", "typ": "JWT", "jwk": jwk_oct}
    out.append(("injected jwk header (oct key)", make_token(jwk_header, claims, attacker)))
    out.append(("injected jwk header (EC key)", _es256_with_jwk(claims)))
    # Port 9 (discard) on loopback: a verifier that follows jku fetches nothing from the outside.
    jku = {"alg": "HS256", "typ": "JWT", "kid": "attacker", "jku": "http://127.0.0.1:9/jwks.json"}
    out.append(("injected jku header", make_token(jku, claims, attacker)))
    out.append(("injected kid path traversal", make_token({**header, "kid": "../../../../dev/null"}, claims, b"")))
    return out


def mock_signing_key(secret: str, issuer: str) -> bytes:
    """The HS256 key of a dientap mock (embedded targets only: ``mocks.core.tokens``)."""
    return hashlib.sha256(f"{secret}|jwt|{issuer}".encode()).digest()
