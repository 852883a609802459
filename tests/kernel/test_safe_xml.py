"""The hardened parser every XML face shares: each refusal and its code."""

from __future__ import annotations

import pytest

from kernel.safe_xml import UNSAFE_XML_CODES, UnsafeXml, parse_untrusted

LAUGHS = b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'


def _refused(data: bytes, **limits: int) -> UnsafeXml:
    with pytest.raises(UnsafeXml) as raised:
        parse_untrusted(data, what="a test document", max_bytes=limits.get("max_bytes", 10_000),
                        max_depth=limits.get("max_depth"))
    assert raised.value.code in UNSAFE_XML_CODES
    return raised.value


def test_a_plain_document_parses() -> None:
    root = parse_untrusted(b"<a><b>1</b><!-- gone --></a>", what="x", max_bytes=100, max_depth=2)
    assert root.tag == "a" and [c.tag for c in root] == ["b"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<a>" + b"x" * 200 + b"</a>", "too_large"),
        (LAUGHS, "forbidden_dtd"),
        (LAUGHS.decode().encode("utf-16"), "forbidden_dtd"),
        (b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', "forbidden_dtd"),
        (b"<a><b></a>", "malformed_xml"),
        (b"<a>" * 300 + b"</a>" * 300, "malformed_xml"),  # libxml2's own nesting limit
        (b"<a><b><c><d/></c></b></a>", "too_deep"),
    ],
)
def test_each_refusal_has_its_code(data: bytes, code: str) -> None:
    error = _refused(data, max_bytes=10_000 if code != "too_large" else 100, max_depth=3)
    assert error.code == code
    if code == "forbidden_dtd":
        assert "a test document" in error.message


def test_the_depth_limit_counts_the_root_as_one() -> None:
    assert parse_untrusted(b"<a><b><c/></b></a>", what="x", max_bytes=100, max_depth=3).tag == "a"
    assert _refused(b"<a><b><c/></b></a>", max_depth=2).code == "too_deep"
