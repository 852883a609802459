"""``terminal_text`` and ``terminal_json``: what a terminal would obey is shown, never obeyed;
everything else, Vietnamese diacritics included, passes unchanged."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.terminal_text import terminal_json, terminal_text


def _obeyed(char: str) -> bool:
    """What a terminal or a bidi-aware viewer acts on: controls (Cc), the bidi controls, the
    line and paragraph separators, and a lone surrogate."""
    return (unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs")
            or unicodedata.bidirectional(char) in ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
            or char in "\u061c\u200e\u200f")


# Names as the 2025 roster and the procedures hold them: every Vietnamese diacritic, precomposed
# and decomposed (combining marks are letters' parts, not controls).
VIETNAMESE = [
    "Thành phố Hà Nội", "Tỉnh Đắk Lắk", "Xã Ẳng Nưa", "Phường Thủ Dầu Một",
    "Đăng ký khai sinh — cấp bản sao trích lục", "ăâđêôơư ĂÂĐÊÔƠƯ àảãáạ ằẳẵắặ ầẩẫấậ ềểễếệ ồổỗốộ ờởỡớợ ừửữứự ỳỷỹýỵ",
    unicodedata.normalize("NFD", "Nguyễn Thị Thuỷ, Quận Hoàn Kiếm"),
]


@pytest.mark.parametrize("text", VIETNAMESE)
def test_vietnamese_text_is_untouched(text: str) -> None:
    assert terminal_text(text) == text
    assert terminal_text(text, one_line=True) == text


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2K\x1b[1A", "\\x1b[2K\\x1b[1A"),                        # erase the line, climb one
    ("FAIL\rPASS", "FAIL\\rPASS"),                                   # return and overwrite
    ("\x1b]8;;http://evil\x07x\x1b]8;;\x07", "\\x1b]8;;http://evil\\x07x\\x1b]8;;\\x07"),  # OSC 8 hyperlink
    ("\x9b2K", "\\x9b2K"),                                          # C1 CSI: ESC [ in one character
    ("\x00\x08\x0b\x0c\x7f\x85", "\\x00\\x08\\x0b\\x0c\\x7f\\x85"),
    ("PASS \u202eLIAF\u202c", "PASS \\u202eLIAF\\u202c"),             # right-to-left override
    ("\u2066\u2067\u2068\u2069\u202a\u202b\u202d", "\\u2066\\u2067\\u2068\\u2069\\u202a\\u202b\\u202d"),
    ("a\u2028b", "a\\u2028b"),
    ("lone \ud800", "lone \\ud800"),
])
def test_what_a_terminal_would_obey_is_written_as_a_visible_escape(raw: str, shown: str) -> None:
    assert terminal_text(raw) == shown


def test_line_feed_and_tab_are_kept_unless_the_field_is_one_line() -> None:
    assert terminal_text("a\tb\nc") == "a\tb\nc"
    assert terminal_text("a\tb\nc\r\n", one_line=True) == "a\\tb\\nc\\r\\n"


@given(st.text())
def test_no_control_character_but_line_feed_and_tab_comes_out(text: str) -> None:
    out = terminal_text(text)
    assert not [c for c in out if _obeyed(c) and c not in "\n\t"]
    assert out.count("\n") == text.count("\n")  # a multi-line message keeps its lines


@given(st.text())
def test_a_one_line_field_comes_out_with_no_control_character_at_all(text: str) -> None:
    assert not [c for c in terminal_text(text, one_line=True) if _obeyed(c)]


@given(st.text())
def test_escaping_twice_changes_nothing_more(text: str) -> None:
    # A table escapes its cells and the command may escape the whole text again.
    once = terminal_text(text, one_line=True)
    assert terminal_text(once) == once == terminal_text(once, one_line=True)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf"))))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert terminal_text(text, one_line=True) == text


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=12))
def test_a_json_document_stays_the_same_json_with_nothing_a_terminal_obeys(value: object) -> None:
    for document in (json.dumps(value, ensure_ascii=False, indent=1), json.dumps(value, ensure_ascii=False)):
        out = terminal_json(document)
        assert json.loads(out) == value
        assert not [c for c in out if _obeyed(c) and c != "\n"]  # LF: the document's own layout


def test_json_keeps_vietnamese_and_escapes_c1_and_bidi_as_json_escapes() -> None:
    document = json.dumps({"subject": "Hà Nội \x9b2K \u202e \x7f"}, ensure_ascii=False)
    assert terminal_json(document) == '{"subject": "Hà Nội \\u009b2K \\u202e \\u007f"}'
