"""Parsing XML from strangers: the one hardened lxml parser every XML face uses.

The axis's edXML packages and the population database's SOAP messages arrive from
callers the mocks do not trust, so both go through :func:`parse_untrusted`, which refuses,
in this order:

* ``too_large`` — more bytes than the caller's limit (checked before parsing);
* ``forbidden_dtd`` — any DTD or entity declaration (a check of the text before libxml2
  reads it — in UTF-8 and the ASCII-compatible encodings, and in UTF-16 and UTF-32, which
  :func:`_prolog_text` decodes first — then the parsed tree's doctype for any other
  encoding libxml2 knows, such as EBCDIC, then any entity reference left in the tree):
  billion-laughs and XXE payloads start with one, and neither edXML nor SOAP needs one;
* ``malformed_xml`` — anything libxml2 cannot parse, including nesting past libxml2's own
  limit (256 levels without ``huge_tree``) and text nodes past 10 MB;
* ``too_deep`` — nesting past the caller's ``max_depth``, when given. A reader that walks
  a fixed structure may instead pass none and call :func:`nests_deeper_than` on what its
  walk does not bound (the SOAP face: the Header, and the document when the walk fails).

The network is off and ``huge_tree`` is off in every case; comments and processing
instructions are dropped. No external entity is ever loaded: libxml2 fetches an external
*parameter* entity named in an internal subset (``<!ENTITY % f SYSTEM "file:///…"> %f;``)
whatever ``load_dtd`` and ``resolve_entities`` say, before the tree's doctype can be
checked, so the hardened parser carries a resolver that answers every such load with
nothing (:class:`_NothingExternal`) — no local file is read, and ``/dev/zero`` cannot hold
the parser, in an encoding the text check does not read. Each refusal is an :class:`UnsafeXml` with a snake_case
``code``; its message names the document kind the caller passed (``what``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:
    from lxml.etree._docloader import _InputDocument  # the stubs' opaque result of resolve_*()

__all__ = ["UnsafeXml", "UNSAFE_XML_CODES", "parse_untrusted", "nests_deeper_than"]

UNSAFE_XML_CODES = ("too_large", "forbidden_dtd", "malformed_xml", "too_deep")
"""Every :attr:`UnsafeXml.code`."""


class UnsafeXml(ValueError):
    """XML refused before anyone read it: ``code`` is one of :data:`UNSAFE_XML_CODES`."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


# One parser per thread and kind: lxml parsers are cheap to reuse but not thread-safe.
_parsers = threading.local()

# An encoding that is not ASCII-compatible, by the document's first bytes (XML 1.0,
# appendix F): with a byte-order mark, then without one, before '<'. UTF-32 first: its
# little-endian mark starts with UTF-16's.
_WIDE_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"), (b"<\x00", "utf-16-le"),
)


class _NothingExternal(etree.Resolver):
    """Answers every external entity or DTD libxml2 would load with an empty one.

    An empty *string*: lxml 6.2's ``resolve_empty`` still let libxml2 read the file (an
    existing file's text then broke the internal subset; tests/kernel/test_safe_xml.py)."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> _InputDocument:
        return self.resolve_string("", context)


def _prolog_text(data: bytes) -> bytes | str:
    """``data`` as the DTD check reads it: UTF-16 and UTF-32 decoded (a declaration hidden
    in them is then found before libxml2 parses), any other encoding as its bytes."""
    for start, codec in _WIDE_ENCODINGS:
        if data.startswith(start):
            return data.decode(codec, errors="replace")
    return data


def _declares_dtd(data: bytes) -> bool:
    text = _prolog_text(data)
    if isinstance(text, str):
        return "<!DOCTYPE" in text or "<!ENTITY" in text
    return b"<!DOCTYPE" in text or b"<!ENTITY" in text


def _parser(allow_entities: bool) -> etree.XMLParser:
    attr = "unsafe" if allow_entities else "safe"
    parser = getattr(_parsers, attr, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=allow_entities,
            load_dtd=allow_entities,
            no_network=True,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,  # exclusive c14n without comments ignores them anyway
            remove_pis=True,
            collect_ids=False,
        )
        if not allow_entities:  # the planted weakness loads them, as a vulnerable service would
            parser.resolvers.add(_NothingExternal())
        setattr(_parsers, attr, parser)
    return parser


def nests_deeper_than(element: etree._Element, limit: int) -> bool:
    """Whether the subtree of ``element`` (``element`` at depth 1) nests more than ``limit`` levels.

    A walk in Python, stopping at the first node past the limit. (A compiled XPath probe
    looked cheaper in a tight loop, but each evaluation sets up an XPath context, and in a
    busy server that cost several times the walk of a small message.)
    """
    stack = [(element, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if len(node):
            stack.extend((child, depth + 1) for child in node)
    return False


def parse_untrusted(
    data: bytes,
    *,
    what: str,
    max_bytes: int,
    max_depth: int | None = None,
    allow_entities: bool = False,
) -> etree._Element:
    """The root element of ``data``, or :class:`UnsafeXml` (see the module docstring).

    ``what`` names the document in messages ("edXML", "a SOAP message").

    .. danger:: ``allow_entities=True`` is a PLANTED WEAKNESS for the security drills of a
       deliberately ``vulnerable`` mock on loopback: libxml2 then loads the DTD and expands
       entities, including ``file://`` external entities (XXE; the network stays off).
    """
    if len(data) > max_bytes:
        raise UnsafeXml("too_large", f"{what} is {len(data)} bytes, the limit is {max_bytes}")
    if not allow_entities and _declares_dtd(data):
        raise UnsafeXml("forbidden_dtd", f"DTDs and entity declarations are not allowed in {what}")
    try:
        root = etree.fromstring(data, parser=_parser(allow_entities))
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml("malformed_xml", f"not well-formed XML: {str(exc)[:200]}") from None
    if not allow_entities:
        # The byte check misses a DTD in UTF-16 and other encodings; the parsed tree does not.
        docinfo = root.getroottree().docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
            raise UnsafeXml("forbidden_dtd", f"DTDs and entity declarations are not allowed in {what}")
        if any(True for _ in root.iter(etree.Entity)):
            raise UnsafeXml("forbidden_dtd", f"entity references are not allowed in {what}")
    if max_depth is not None and nests_deeper_than(root, max_depth):
        raise UnsafeXml("too_deep", f"{what} nests deeper than {max_depth} levels")
    return root
