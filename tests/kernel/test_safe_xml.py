"""The hardened parser every XML face shares: each refusal and its code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kernel.safe_xml import UNSAFE_XML_CODES, UnsafeXml, parse_untrusted

ROOT = Path(__file__).parents[2]
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


def _external_parameter_entity(target: str, codec: str) -> bytes:
    """A DTD whose parameter entity libxml2 would load before the tree can be checked."""
    declared = {"utf-16": "UTF-16", "utf-32": "UTF-32", "utf-16-le": "UTF-16", "utf-8": "UTF-8"}[codec]
    return (f'<?xml version="1.0" encoding="{declared}"?>'
            f'<!DOCTYPE x [<!ENTITY % f SYSTEM "{target}"> %f;]><x/>').encode(codec)


@pytest.mark.parametrize("codec", ["utf-8", "utf-16", "utf-16-le", "utf-32"])
def test_an_external_parameter_entity_is_refused_before_parsing_in_every_wide_encoding(tmp_path, codec) -> None:
    """The text check reads UTF-16 and UTF-32 (with a byte-order mark or without one): a file
    that exists and one that does not get the same answer, so nothing tells them apart."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET, not a DTD")
    for target in (secret.as_uri(), (tmp_path / "missing.txt").as_uri()):
        error = _refused(_external_parameter_entity(target, codec))
        assert (error.code, "TOP SECRET" in error.message) == ("forbidden_dtd", False)


def test_with_the_text_check_blind_no_external_entity_is_loaded(tmp_path, monkeypatch) -> None:
    """The second wall, for an encoding the text check cannot read: the hardened parser
    loads no external entity, so an existing file's content never reaches libxml2 (it would
    make the internal subset malformed) and the tree's own doctype check refuses it."""
    import kernel.safe_xml as safe_xml

    monkeypatch.setattr(safe_xml, "_declares_dtd", lambda data: False)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET, not a DTD")
    error = _refused(_external_parameter_entity(secret.as_uri(), "utf-16"))
    assert (error.code, "TOP SECRET" in error.message) == ("forbidden_dtd", False)


def test_dev_zero_as_an_external_entity_cannot_hold_the_parser(tmp_path) -> None:
    """``/dev/zero`` named by a parameter entity, text check blind: refused at once. Run in a
    process of its own, bounded (a parser reading /dev/zero never returns)."""
    program = tmp_path / "zero.py"
    program.write_text(
        "import kernel.safe_xml as s\n"
        "s._declares_dtd = lambda data: False\n"
        "doc = '<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE x [<!ENTITY % f SYSTEM \"file:///dev/zero\"> %f;]><x/>'\n"
        "try:\n"
        "    s.parse_untrusted(doc.encode('utf-16'), what='t', max_bytes=10_000)\n"
        "except s.UnsafeXml as exc:\n"
        "    print(exc.code)\n",
        encoding="utf-8",
    )
    try:
        done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, cwd=ROOT,
                              timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the parser was still reading /dev/zero after 120 s")
    assert (done.returncode, done.stdout.strip()) == (0, "forbidden_dtd"), done.stderr[-2000:]
