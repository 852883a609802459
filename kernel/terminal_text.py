"""Text from a run's records or a target's answers made safe to print on a terminal or into a CI log.

An endpoint name, an abort reason or a security check's summary may quote whatever a
(possibly hostile) target answered. Printed as it is, a control character in it is an
instruction to the terminal, not text: ``\\x1b[2K\\x1b[1A`` erases and climbs a line, a lone
``\\r`` returns to its start so what follows overwrites it, ``\\x1b]8;;http://…\\x07`` opens a
hyperlink, ``\\x9b`` is the one-byte C1 form of ESC ``[`` — enough to make a FAIL row of the
gate read PASS on a security team's console or in a CI log. The bidirectional overrides and
isolates (U+202A–U+202E, U+2066–U+2069, the "Trojan Source" characters) and the bidi marks
reorder a line visually without a single control byte.

:func:`terminal_text` writes each such character as a visible escape (``\\x1b``, ``\\u202e``),
so the reader still sees that the record held it. Everything else — Vietnamese with its
diacritics included — passes unchanged. A backslash is not doubled: ordinary text (a Windows
path) stays readable, at the price that a record holding the four characters ``\\x1b`` reads
like one holding ESC — harmless, as neither moves the cursor.

The characters are escaped where untrusted strings enter console text (the gate's and the
comparison's tables, a security check's console line, the commands' prints and the CLI's
log and ``ERROR:`` lines), not by wrapping ``sys.stdout``: a table cell must be escaped
before its width is measured, and a single-line field needs ``\\n`` escaped too, which a
stream wrapper cannot tell from the line ends the program means.
"""

from __future__ import annotations

import re

__all__ = ["terminal_text", "terminal_json"]

# C1 controls, DEL, lone surrogates (no terminal can show one; a strict UTF-8 stdout raises on
# it), the bidi overrides, isolates and marks (U+061C, U+200E, U+200F), and the Unicode line
# and paragraph separators, which some log viewers end a line at.
_NOT_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f{_NOT_C0}]")  # tab (\x09) and line feed (\x0a) kept
_UNSAFE_IN_LINE = re.compile(f"[\x00-\x1f{_NOT_C0}]")
# In a JSON document a raw tab, LF or CR can only be whitespace between tokens (inside a string
# the encoder escaped them): kept, so the document stays as it was laid out.
_UNSAFE_IN_JSON = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_NOT_C0}]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_text(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character a terminal would obey written as a visible escape.

    C0 controls other than tab and line feed, DEL, C1 controls, lone surrogates, the bidi
    controls and the Unicode line/paragraph separators become ``\\x1b``, ``\\r``, ``\\u202e``.
    ``one_line``: for a single-line field (a table cell, a console line) tab and line feed are
    escaped too (``\\t``, ``\\n``), so the field can neither break its line nor shift a column.
    """
    return (_UNSAFE_IN_LINE if one_line else _UNSAFE).sub(_visible, text)


def terminal_json(document: str) -> str:
    """A JSON document (as an encoder wrote it) safe on a terminal, and still the same JSON.

    JSON encoders escape C0 controls inside strings but may leave DEL, C1 controls and the bidi
    controls raw; each is written as a JSON ``\\uXXXX`` escape, which a parser reads back as the
    very character — so ``json.loads`` of the result equals ``json.loads`` of ``document``.
    """
    return _UNSAFE_IN_JSON.sub(_json_escape, document)
