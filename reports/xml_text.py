"""Text made fit for an XML 1.0 document (the gate's JUnit file).

XML 1.0 has characters no document may hold, escaped or not: the C0 controls other than
tab, line feed and carriage return, lone surrogates, U+FFFE and U+FFFF. ElementTree writes
them as they are, and every conforming parser (the one of a CI server reading the JUnit
file too) then refuses the whole file — one endpoint name or abort reason holding ``\\x1b``
would cost the CI its test results. They are written as visible escapes (``\\x1b``,
``\\ud800``) instead, so the reader still sees what the record held.
"""

from __future__ import annotations

import re

__all__ = ["xml_text"]

_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 forbids written as a visible escape."""
    return _NOT_IN_XML.sub(_visible, text)
