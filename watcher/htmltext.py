"""HTML reduced to the plain text that watcher diffs and matches.

Blocks become paragraphs (blank-line separated), `<br>` a line break, and links keep
their target: `<a href="/x">text</a>` -> `text (https://site/x)`. Scripts, styles and
other invisible elements are dropped.

A single pass of one regex over the markup: feed items and live-blog entries are small
fragments, and building a DOM for each would cost several times as much.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

BLOCKS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt"),
        *("fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary"),
        *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"),
    )
)
SKIP = frozenset(
    ("script", "style", "noscript", "template", "iframe", "svg", "head", "button", "select")
)
_TOKEN = re.compile(
    r"<!--.*?-->|<!\[CDATA\[(.*?)\]\]>|<[!?][^>]*>"
    r"|<(/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>",
    re.S,
)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
# Breaks are marked with control characters while the text is built, so that one pass of
# unescaping and whitespace folding at the end cannot eat them.
PARAGRAPH, LINE = "\x00", "\x01"


def plain_to_text(text: str) -> str:
    """Plain text tidied the same way: blank lines part paragraphs, newlines part lines."""
    marked = _BLANK_LINE.sub(PARAGRAPH, text.replace("\r\n", "\n")).replace("\n", LINE)
    return _finish(marked, unescape=False)


def html_to_text(markup: str, base_url: str | None = None) -> str:
    """The readable text of an HTML fragment or document."""
    if "<" not in markup:
        return _finish(markup)
    out: list[str] = []
    links: list[tuple[int, str]] = []  # (where the link text starts in `out`, its target)
    pos = 0
    skip_until: str | None = None  # inside <script> and the like: the tag that ends it
    for m in _TOKEN.finditer(markup):
        cdata, slash, name, attrs = m.groups()
        if skip_until is not None:
            if slash and name.lower() == skip_until:
                skip_until = None
                pos = m.end()
            continue
        out.append(markup[pos : m.start()])
        pos = m.end()
        if cdata is not None:
            out.append(cdata)
        if not name:
            continue
        tag = name.lower()
        if tag in BLOCKS:
            out.append(PARAGRAPH)
        elif tag == "br":
            out.append(LINE)
        elif tag == "a":
            if not slash:
                found = _HREF.search(attrs)
                href = next((g for g in found.groups() if g is not None), "") if found else ""
                links.append((len(out), html.unescape(href.strip())))
            elif links:
                _close_link(out, *links.pop(), base_url)
        elif tag in SKIP and not slash and not attrs.rstrip().endswith("/"):
            skip_until = tag
    if skip_until is None:
        out.append(markup[pos:])
    return _finish("".join(out))


def _close_link(out: list[str], start: int, href: str, base_url: str | None) -> None:
    if not href or href.startswith(("#", "javascript:", "mailto:")):
        return
    target = urljoin(base_url, href) if base_url else href
    text = html.unescape("".join(out[start:])).strip()
    if target.rstrip("/") != text.rstrip("/"):
        out.append(f" ({target})")


def _finish(raw: str, unescape: bool = True) -> str:
    """Unescapes, folds whitespace, and turns the break marks into line breaks."""
    if unescape and "&" in raw:
        raw = html.unescape(raw)
    if PARAGRAPH not in raw and LINE not in raw:  # a headline, say: one line
        return " ".join(raw.split())
    paragraphs = []
    for block in raw.split(PARAGRAPH):
        if LINE in block:
            text = "\n".join(filter(None, (" ".join(line.split()) for line in block.split(LINE))))
        else:  # the common paragraph: one line
            text = " ".join(block.split())
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)
