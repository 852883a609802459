"""Evidence excerpts: secrets never reach the scorecard."""

from __future__ import annotations

import httpx

from drills.security.evidence import REDACTED, Redactor

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMDEifQ.c2lnbmF0dXJlLWJ5dGVz"


def _exchange(body: bytes, response_body: bytes, headers: dict[str, str]) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:8701/auth/token", content=body, headers=headers)
    return httpx.Response(401, content=response_body, request=request,
                          headers={"content-type": "application/json", "retry-after": "30"})


def test_tokens_passwords_and_known_secrets_are_redacted() -> None:
    redactor = Redactor({"admin-token-123456"})
    redactor.add("AIU7FC6ALBAA3PIQ")
    r = _exchange(b'{"kind":"citizen","personal_id":"087169000042","password":"AIU7FC6ALBAA3PIQ"}',
                  b'{"access_token":"' + JWT.encode() + b'","note":"admin-token-123456"}',
                  {"Authorization": f"Bearer {JWT}", "Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"})
    e = redactor.excerpt(r, note="guess with AIU7FC6ALBAA3PIQ")
    text = e.request + e.response + (e.note or "")
    assert "AIU7FC6ALBAA3PIQ" not in text and "admin-token-123456" not in text and "eyJ" not in text
    assert f"authorization: Bearer {REDACTED}" in e.request
    assert "x-forwarded-for: 203.0.113.9" in e.request  # spoofing evidence stays readable
    assert '"personal_id":"087169000042"' in e.request
    assert e.response.startswith("HTTP 401\n") and "retry-after: 30" in e.response


def test_secret_named_json_keys_are_redacted_even_when_unknown() -> None:
    text = Redactor().text('{"client_secret": "s3cr3t-value", "Password":"x", "subject": "ok"}')
    assert "s3cr3t-value" not in text and '"Password":"‹redacted›"' in text and '"subject": "ok"' in text


def test_long_bodies_are_shortened_with_their_size() -> None:
    r = _exchange(b"A" * 5000, b"{}", {"Content-Type": "application/json"})
    e = Redactor().excerpt(r)
    assert e.request.endswith("… (5,000 bytes)") and len(e.request) < 700
