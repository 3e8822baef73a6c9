"""Entries as elements of the page, found with CSS selectors: the configured ones, or the
common live-blog markups (selectors.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from selectolax.lexbor import LexborHTMLParser, LexborNode

from watcher.htmltext import node_text, plain_to_text
from watcher.model import Entry
from watcher.sources.dates import timestamp
from watcher.sources.liveblog.keys import distinct, normalize_id
from watcher.sources.liveblog.selectors import DEFAULT_MARKUPS, Markup, PageSelectors
from watcher.sources.liveblog.structured import without_cms_codes

HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
HEADINGS = ", ".join(HEADING_TAGS)  # as a selector
# Inside an entry, what a reader does not read as its text: its header (the headline is
# read apart), time labels and bylines, share buttons, polls, cards of related stories.
NOISE = ", ".join(
    (
        *("header", "footer", "nav", "aside", "button", "form", "time", "amp-timeago"),
        *('[aria-hidden="true"]', '[class*="share"]', '[class*="Share"]', '[class*="social"]'),
        *('a[title^="Share"]', 'a[href*="/sharer"]', '[class*="entry-info"]'),
        *('[class*="byline"]', '[class*="author"]', '[rel="author"]', '[class*="related"]'),
        *('[class*="inline-article"]', '[class*="inline-video"]', 'a[href^="javascript:"]'),
    )
)
# A card of a related story: a block whose heading is a link (unless it holds the
# entry's own headline).
CARD = ":is(div, section, article):has(> :is(h2, h3, h4) > a)"
# A paragraph that only says when: `21:06 (IST)`, `19:02 (IST), Oct 02`.
_TIME_LABEL = re.compile(r"^\d{1,2}[:.]\d{2}\b[^\n]{0,24}$")
# A short last line that ends in a date and time: `Jamie Braidwood14 August 2023 10:01`.
_DATED_BYLINE = re.compile(r"^[^\n.!?]{0,60}(?<!\d)\d{1,2} [A-Z][a-z]+ \d{4},? \d{1,2}[:.]\d{2}$")


@dataclass(frozen=True)
class Found:
    """The entries one markup found, with the name to report it by."""

    markup: Markup
    entries: list[Entry]


def find(
    tree: LexborHTMLParser, url: str, selectors: PageSelectors, declared: bool
) -> Found | None:
    """The entries of the markup that finds the most (a stray element of another shape,
    an embedded card say, must not win over the page's own entries); generic markups
    only where the page shows it is a live blog: `declared` (a LiveBlogPosting), the
    entries inside a live-blog container, or entries with a time each."""
    if selectors.entry:
        markups = [Markup(selectors.entry, selectors.id or "id")]
    else:
        markups = [replace(m, id=selectors.id or m.id) for m in DEFAULT_MARKUPS]
    pinned = {
        node.mem_id for box in outermost(tree.css(selectors.pinned)) for node in descendants(box)
    }
    best: tuple[Markup, list[LexborNode]] | None = None
    for markup in markups:
        nodes = outermost([n for n in tree.css(markup.entry) if n.mem_id not in pinned])
        if markup.generic and not (declared or _live(nodes)):
            continue
        if nodes and (best is None or len(nodes) > len(best[1])):
            best = markup, nodes
    if best is None:
        return None
    markup, nodes = best
    headline = selectors.headline or markup.headline or HEADINGS
    entries = _dedupe([entry(n, url, selectors, markup.id, headline) for n in nodes])
    keys = distinct(e.key for e in entries)
    return Found(
        markup,
        [replace(e, key=k, url=e.url if k else None) for e, k in zip(entries, keys, strict=True)],
    )


# Elements whose class or id says "live blog": a container of entries.
LIVE_CONTAINER = ("liveblog", "live-blog", "live-event", "liveticker")
MIN_SIGNS = 3  # entries inside a live-blog container, or with a time each


def _live(nodes: list[LexborNode]) -> bool:
    """Whether these entries show a live blog: three inside a live-blog container (a
    promo box for one elsewhere on the page does not count), or three with a time."""
    timed = sum(1 for n in nodes if n.css_first("time, amp-timeago") is not None)
    contained = sum(1 for n in nodes if _in_live_container(n))
    return max(timed, contained) >= MIN_SIGNS


def _in_live_container(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        marks = f"{parent.attributes.get('class') or ''} {parent.attributes.get('id') or ''}"
        if any(sign in marks.lower() for sign in LIVE_CONTAINER):
            return True
        parent = parent.parent
    return False


def descendants(node: LexborNode) -> Iterator[LexborNode]:
    yield node
    yield from node.traverse(include_text=False)


def outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """The nodes not inside another of them (`.liveStoryPost` may nest a `.liveStoryPost`)."""
    ids = {n.mem_id for n in nodes}
    out = []
    for node in nodes:
        parent = node.parent
        while parent is not None and parent.mem_id not in ids:
            parent = parent.parent
        if parent is None:
            out.append(node)
    return out


def entry(
    node: LexborNode, url: str, s: PageSelectors, id_attr: str = "id", headline_at: str = HEADINGS
) -> Entry:
    """One entry element read as a reader reads it."""
    raw_id = node.attributes.get(id_attr) or ""
    headline = node.css_first(headline_at)
    title = headline_text(headline) if headline is not None else ""
    if s.body:
        body = "\n\n".join(node_text_of(n, url) for n in outermost(node.css(s.body)))
    else:
        own = {n.mem_id for n in _up_to(headline, node)}
        skip = {n.mem_id for n in node.css(NOISE)} | {n.mem_id for n in node.css(CARD)} - own
        skip.discard(node.mem_id)
        if headline is not None:
            skip.add(headline.mem_id)
        body = _without_time_labels(node_text_of(node, url, frozenset(skip)))
    return Entry(
        title=title,
        body=body,
        key=normalize_id(raw_id) or None if raw_id else None,
        url=anchor(url, raw_id),
        published=time(node, s.published),
        updated=time(node, s.updated) if s.updated else None,
    )


def _up_to(node: LexborNode | None, top: LexborNode) -> Iterator[LexborNode]:
    """`node` and its ancestors below `top`: never noise, whatever their class."""
    while node is not None and node.mem_id != top.mem_id:
        yield node
        node = node.parent


def _without_time_labels(body: str) -> str:
    """The body without a time label before it or a byline with its date after it."""
    paragraphs = body.split("\n\n")
    while paragraphs and _TIME_LABEL.match(paragraphs[0]):
        del paragraphs[0]
    while paragraphs and _DATED_BYLINE.search(paragraphs[-1]):
        del paragraphs[-1]
    return "\n\n".join(paragraphs)


def anchor(url: str, raw_id: str | None) -> str | None:
    """The link to an entry on the page: the page's URL and the entry's id as fragment."""
    return f"{url.split('#', 1)[0]}#{raw_id}" if raw_id else None


def headline_text(node: LexborNode) -> str:
    """A headline: one line, no link targets."""
    return " ".join(node_text_of(node, None, links=False).split())


def node_text_of(
    node: LexborNode, url: str | None, skip: frozenset[int] = frozenset(), links: bool = True
) -> str:
    """An element's text as a reader reads it: no CMS codes."""
    value = node_text(node, url, skip, links)
    return plain_to_text(without_cms_codes(value)) if "[[" in value else value


def time(node: LexborNode, selector: str) -> str | None:
    """A machine-readable time; never a label's text ("21 mins ago" changes by itself)."""
    found = node.css_first(selector)
    if found is None:
        return None
    value = found.attributes.get("datetime") or found.attributes.get("data-time")
    if value:
        return value
    label = found.text(strip=True)
    return label if timestamp(label) is not None else None


def _dedupe(entries: list[Entry]) -> list[Entry]:
    """The first entry of each id (a pinned copy of an entry elsewhere comes second)."""
    seen: set[str] = set()
    out = []
    for item in entries:
        if item.key is not None:
            if item.key in seen:
                continue
            seen.add(item.key)
        out.append(item)
    return out
