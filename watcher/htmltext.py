"""HTML reduced to the plain text that watcher diffs and matches.

Blocks become paragraphs (blank-line separated), `<br>` a line break, and links keep
their target: `<a href="/x">text</a>` -> `text (https://site/x)`. Scripts, styles and
other invisible elements are dropped.

The markup is written by whoever runs the watched site, so every step is linear in its
length. lexbor (selectolax) parses it as a browser would, into a document each thread
reuses (a new document per fragment would cost ten times the parse), and an iterative
walk of the tree collects the text. The single regex this replaces rescanned to the end
of the text for every unclosed `<a x` or `<!--`: a 96 KB feed took 95 s.

lexbor's own worst case is depth, so markup nested deeper than DEPTH_LIMIT is refused
before lexbor sees it (htmldepth.py).

Text leaves through `_finish` alone, which deletes control and bidi characters: a feed's
text reaches terminals and email subjects, where they would be instructions.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from watcher.htmldepth import DEPTH_LIMIT, MarkupTooDeep, check_depth
from watcher.text import without_controls

__all__ = [
    "DEPTH_LIMIT",
    "MarkupTooDeep",
    "check_depth",
    "html_to_text",
    "node_text",
    "plain_to_text",
]

BLOCKS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt"),
        *("fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary"),
        *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"),
    )
)
# A fragment's <head> tag is dropped by the parser, its <title> kept: hence "title".
SKIP = frozenset(
    (
        *("script", "style", "noscript", "template", "iframe", "svg", "head", "button"),
        *("select", "title"),
    )
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
# Lone surrogates: only JSON escapes make them, and lexbor cannot take them.
_SURROGATES = re.compile("[\ud800-\udfff]")
_CDATA = "<![CDATA["
_RECYCLE_AFTER = 64 * 1024  # characters parsed into one reused document


def plain_to_text(text: str) -> str:
    """Plain text tidied the same way: blank lines part paragraphs, newlines part lines."""
    paragraphs = _BLANK_LINE.split(text.replace("\r\n", "\n"))
    return _finish(paragraph.split("\n") for paragraph in paragraphs)


def html_to_text(markup: str, base_url: str | None = None) -> str:
    """The readable text of an HTML fragment or document; raises MarkupTooDeep."""
    if "<" not in markup:  # a headline, say: only entities to decode
        return _finish(((html.unescape(markup),),))
    check_depth(markup)
    if _CDATA in markup:
        markup = _cdata_as_text(markup)
    text = node_text(_SCRATCH.parse(markup), base_url)
    _SCRATCH.tidy()
    return text


def node_text(
    root: LexborNode,
    base_url: str | None = None,
    skip: frozenset[int] = frozenset(),
    links: bool = True,
) -> str:
    """The readable text inside an element of a parsed page, without serialising it
    again; elements whose `mem_id` is in `skip` are left out with their content, and
    link targets too unless `links`."""
    out: list[str] = []  # text and link targets, in document order
    breaks: list[tuple[int, bool]] = []  # (len(out) there, whether a paragraph ends)
    hrefs: list[tuple[int, str]] = []  # (len(out) where the link's text starts, its href)
    open_: list[tuple[LexborNode, str]] = []  # the elements the walk is inside, and tags
    node = root.first_child
    while node is not None or open_:
        if node is None:  # past an element's last child: leave the element
            parent, tag = open_.pop()
            if tag == "a":
                _close_link(out, *hrefs.pop(), base_url)
            elif tag in BLOCKS:
                breaks.append((len(out), True))
            node = parent.next
            continue
        if node.is_text_node:
            out.append(node.text_content or "")
        elif node.is_element_node:
            tag = node.tag or ""
            if tag == "br":
                breaks.append((len(out), False))
            elif tag not in SKIP and node.mem_id not in skip:
                if tag == "a":
                    href = (node.attributes.get("href") or "").strip() if links else ""
                    hrefs.append((len(out), href))
                elif tag in BLOCKS:
                    breaks.append((len(out), True))
                open_.append((node, tag))
                node = node.first_child
                continue
        node = node.next
    return _finish(_paragraphs(out, breaks))


def _cdata_as_text(markup: str) -> str:
    """CDATA sections as text, as feeds mean them (an HTML parser reads a comment)."""
    out: list[str] = []
    pos = 0
    while (start := markup.find(_CDATA, pos)) != -1:
        end = markup.find("]]>", start + len(_CDATA))
        if end == -1:  # unclosed: the parser's bogus comment, as a browser has it
            break
        out += markup[pos:start], markup[start + len(_CDATA) : end].replace("<", "&lt;")
        pos = end + 3
    out.append(markup[pos:])
    return "".join(out)


def _close_link(out: list[str], start: int, href: str, base_url: str | None) -> None:
    if not href or href.startswith(("#", "javascript:", "mailto:")):
        return
    try:
        target = urljoin(base_url, href) if base_url else href
    except ValueError:  # "http://[x": not a URL urljoin can read; the href as written
        target = href
    if target.rstrip("/") != "".join(out[start:]).strip().rstrip("/"):
        out.append(f" ({target})")


def _paragraphs(out: list[str], breaks: list[tuple[int, bool]]) -> list[list[str]]:
    """The walk's text cut at its breaks: paragraphs of lines."""
    paragraphs: list[list[str]] = [[]]
    pos = 0
    for at, paragraph_ends in breaks:
        paragraphs[-1].append("".join(out[pos:at]))
        pos = at
        if paragraph_ends:
            paragraphs.append([])
    paragraphs[-1].append("".join(out[pos:]))
    return paragraphs


def _finish(paragraphs: Iterable[Iterable[str]]) -> str:
    """The one way out: whitespace folded, empty lines and paragraphs dropped, and
    control, bidi and surrogate characters deleted."""
    done = []
    for lines in paragraphs:
        kept = []
        for line in lines:
            text = " ".join(line.split())
            # Every character deleted is unprintable, and the check is ten times faster
            # than the regex. Deleting before folding would leave "a \x1b b" as "a  b".
            if not text.isprintable():
                text = " ".join(without_controls(text).split())
            if text:
                kept.append(text)
        if kept:
            done.append("\n".join(kept))
    return "\n\n".join(done)


class _Scratch(threading.local):
    """This thread's lexbor document, which fragments are parsed into.

    A new document costs 30 µs, ten times the parse of a typical fragment into an existing
    one. But lexbor frees nothing of a document until the document goes (about 16 bytes
    kept per character parsed), so it is dropped after _RECYCLE_AFTER characters.
    """

    def __init__(self) -> None:
        self.holder: LexborNode | None = None
        self.parsed = 0

    def parse(self, markup: str) -> LexborNode:
        """A <div> whose children are `markup` parsed as a fragment."""
        if self.holder is None:
            self.holder = LexborHTMLParser("").create_node("div")
            self.parsed = 0
        self.parsed += len(markup)
        try:
            self.holder.inner_html = markup
        except UnicodeEncodeError:  # lone surrogates, from a JSON string's escapes
            self.holder.inner_html = _SURROGATES.sub("", markup)
        return self.holder

    def tidy(self) -> None:
        """Drops the document once it holds enough to be worth freeing."""
        if self.parsed > _RECYCLE_AFTER:
            self.holder = None


_SCRATCH = _Scratch()
