"""Flat tickers: no element per entry, but a heading per entry and the sibling elements up
to the next heading as its body (`<h2>12.31 Uhr: …</h2><p>…</p><p>…</p><h2>…`).

Configured with `selectors: {split: "h2"}`, or found without: a container whose
headings begin with a time (`12.31 Uhr:`, `12:31`) in three places or more.
"""

from __future__ import annotations

import re
from collections import Counter

from selectolax.lexbor import LexborHTMLParser, LexborNode

from watcher.htmltext import plain_to_text
from watcher.model import Entry
from watcher.sources.liveblog.markup import (
    HEADING_TAGS,
    HEADINGS,
    anchor,
    headline_text,
    node_text_of,
    outermost,
)
from watcher.sources.liveblog.structured import without_cms_codes

# A clock time at the start of a heading: `12:31`, `12.31 Uhr`, `9h05` (not `2.50 Euro`).
TIME_PREFIX = re.compile(r"^\s*(?:[01]?\d|2[0-3])(?::[0-5]\d\b|\.[0-5]\d\s*Uhr\b|h[0-5]\d\b)")
MIN_HEADINGS = 3


def find(tree: LexborHTMLParser, url: str, split: str | None) -> tuple[str, list[Entry]] | None:
    """(how the entries were found, the entries), or None where there is no ticker."""
    if split:
        heads = outermost(tree.css(split))
        how = f"split at {split}"
    else:
        timed = [h for h in tree.css(HEADINGS) if TIME_PREFIX.match(h.text(strip=True))]
        by_parent = Counter(h.parent.mem_id for h in timed if h.parent is not None)
        if not by_parent or by_parent.most_common(1)[0][1] < MIN_HEADINGS:
            return None
        parent, count = by_parent.most_common(1)[0]
        heads = [h for h in timed if h.parent is not None and h.parent.mem_id == parent]
        how = f"ticker: {count} <{heads[0].tag}> headings that begin with a time"
    if not heads:
        return None
    ids = frozenset(h.mem_id for h in heads)
    return how, [_entry(h, url, ids) for h in heads]


def _entry(head: LexborNode, url: str, heads: frozenset[int]) -> Entry:
    """A heading and its siblings up to the next heading (or a rule, or a footnote)."""
    paragraphs = []
    node = head.next
    while node is not None:
        if node.is_element_node:
            if (
                node.mem_id in heads
                or _ends(node)
                or any(h.mem_id in heads for h in node.css(HEADINGS))
            ):
                break
            if text := node_text_of(node, url):
                paragraphs.append(text)
        elif node.is_text_node and (
            loose := plain_to_text(without_cms_codes(node.text_content or ""))
        ):
            paragraphs.append(loose)
        node = node.next
    raw_id = head.attributes.get("id")
    return Entry(
        title=headline_text(head),
        body="\n\n".join(paragraphs),
        key=raw_id or None,
        url=anchor(url, raw_id),
    )


def _ends(node: LexborNode) -> bool:
    """A sibling that is not the entry's: another heading, a rule, the page's footnote."""
    return (
        node.tag in HEADING_TAGS
        or node.tag == "hr"
        or "footnote" in (node.attributes.get("class") or "")
    )
