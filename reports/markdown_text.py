"""Strings from a run's records made safe in Markdown (a CI comment: GitHub's flavour of
CommonMark): the summary (:mod:`reports.markdown`) and the comparison
(:mod:`reports.compare_render`).

A name, an abort reason or a dossier id may hold whatever a hostile target answered. As
text it must stay text: no table cell split by ``|`` or by a line ending (CommonMark ends a
line at ``\\n``, ``\\r\\n`` *and* a lone ``\\r``), no link, image or raw HTML (``<img>``,
``</details>`` closing the comment's fold). In a code span backslash escapes do not work:
the span is fenced with more backticks than it holds instead.
"""

from __future__ import annotations

import re

__all__ = ["md_text", "md_code"]

# ASCII punctuation that starts markup in a line (a backslash before any of it is always
# removed by the renderer, so escaping one that needed none shows nothing).
_MARKUP = re.compile(r"([\\|*_`\[\]<>~#!&])")
_LINE_ENDS = re.compile(r"\r\n|\r|\n")


def md_text(value: object) -> str:
    """``value`` as Markdown text that renders as itself on one line (a table cell too)."""
    return _LINE_ENDS.sub(" ", _MARKUP.sub(r"\\\1", str(value)))


def md_code(value: object) -> str:
    """``value`` as one inline code span, whatever backticks or line endings it holds."""
    text = _LINE_ENDS.sub(" ", str(value))
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    # A span's content starting or ending with a backtick would merge with the fence; one
    # space each side is stripped by the renderer (CommonMark 6.1).
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
