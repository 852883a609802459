"""Forged tokens: each tampering is refused by a correct HS256 verifier (PyJWT as the reference)."""

from __future__ import annotations

import time

import jwt
import pytest

from drills.security.jwt_forge import make_token, mock_signing_key, split_token, tampered_tokens
from kernel.pki import make_untrusted_ca

KEY = mock_signing_key("dientap-dry-run", "dientap-portal")


def _claims() -> dict:
    """Claims valid for 10 minutes from now: per test, not at import — a full suite may run this
    module long after collecting it, and an expired token is refused for the wrong reason."""
    now = int(time.time())
    return {"sub": "087169000042", "role": "citizen", "iss": "dientap-portal", "aud": "portal", "jti": "abc",
            "iat": now, "nbf": now, "exp": now + 600}


def _verify(token: str) -> dict:
    return jwt.decode(token, KEY, algorithms=["HS256"], audience="portal", issuer="dientap-portal")


def test_a_minted_token_verifies_and_splits_back() -> None:
    claims = _claims()
    token = make_token({"alg": "HS256", "typ": "JWT"}, claims, KEY)
    assert _verify(token)["sub"] == claims["sub"]
    assert split_token(token)[1] == claims


@pytest.mark.parametrize("case", range(12))
def test_every_tampered_token_is_refused_by_a_correct_verifier(case: int) -> None:
    valid = make_token({"alg": "HS256", "typ": "JWT"}, _claims(), KEY)
    forged = tampered_tokens(valid, make_untrusted_ca().certificate_pem, "000000000000")
    assert len(forged) == 12
    _label, token = forged[case]
    assert token != valid
    with pytest.raises(jwt.PyJWTError):
        _verify(token)


def test_alg_none_variants_cover_every_casing() -> None:
    valid = make_token({"alg": "HS256"}, _claims(), KEY)
    algs = {split_token(t)[0]["alg"] for label, t in tampered_tokens(valid, b"pem", "x") if "alg" in label
            and t.count(".") == 2}
    assert {"none", "None", "NONE", "nOnE"} <= algs
