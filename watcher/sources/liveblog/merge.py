"""Structured items and HTML entries made into one list of entries.

The HTML is what a reader sees, so where it holds an entry it decides the entry's text
(the richer body: lists, embeds and paragraphs that JSON-LD drops, or bodies it cuts),
headline and visible time; the structured item fills what the HTML lacks. Each field of
an item is trusted on its own: one item with its own headline does not make the others'
copied headline theirs.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from watcher.model import Entry
from watcher.sources.liveblog.structured import Item, copied

PROBE = 40  # characters of an item's body looked for in the page's text


@dataclass(frozen=True)
class Merged:
    entries: list[Entry]
    warnings: list[str]


def merge(
    items: Sequence[Item],
    html: Sequence[Entry],
    page_headlines: set[str],
    pairs: dict[int, int] | None = None,
) -> Merged:
    """Entries from items and the HTML entries they match (`pairs`, item index -> HTML
    index, where known; else by id, else by the start of the text).

    The HTML's entries are the page's window; an item the HTML lacks counts where it
    comes before the last item the HTML has (posted since the HTML was made, say), but
    not after it: JSON-LD often lists hundreds of older entries beyond the window,
    whose text would flip from rich to poor as they leave it.
    """
    warnings: list[str] = []
    bad_headlines = copied([i.headline for i in items], page_headlines)
    matched = _match(items, html) if pairs is None else pairs
    last = max(matched, default=-1) if html else len(items)
    entries: list[Entry] = []
    shown = 0  # the HTML entries placed so far
    for n, item in enumerate(items):
        j = matched.get(n)
        if j is not None:
            entries += html[shown:j]
            shown = max(shown, j + 1)
            entries.append(_one(item, html[j], bad_headlines))
        elif n < last:
            entries.append(_one(item, None, bad_headlines))
    entries += html[shown:]
    beyond = len(items) - 1 - last if html and matched else 0
    if beyond > 0:
        warnings.append(f"{beyond} structured items after the page's last entry: left out")
    cut = sum(
        1
        for n, item in enumerate(items)
        if n in matched and (item.body_cut or _extends(html[matched[n]].body, item.body))
    )
    if cut:
        warnings.append(f"{cut} structured bodies cut short: the HTML's text used")
    uncut = sum(1 for n, item in enumerate(items) if item.body_cut and n not in matched)
    if uncut:
        warnings.append(f"{uncut} structured bodies cut short, and not found in the HTML")
    if any(i.headline in bad_headlines for i in items):
        warnings.append("structured headlines copied from the page's headline: not used")
    return Merged(entries, warnings)


def _one(item: Item, html: Entry | None, bad_headlines: set[str]) -> Entry:
    headline = ""
    if not (item.headline in bad_headlines or item.headline_cut or _echoes(item)):
        headline = item.headline
    if html is None:
        return Entry(
            title=headline,
            body=item.body,
            key=item.key,
            url=item.url if item.key else None,
            published=item.published,
            updated=item.modified,
        )
    body = html.body if item.body_cut or _richer(html.body, item.body) else item.body
    if not html.title and headline and norm(body).startswith(norm(headline)):
        body = body[len(headline) :].lstrip()  # the headline, not marked as one
    return Entry(
        title=html.title or headline,
        body=body,
        key=html.key or item.key,
        url=html.url or (item.url if item.key else None),
        published=html.published or item.published,
        updated=html.updated or item.modified,
    )


def _echoes(item: Item) -> bool:
    """A headline that only repeats the body's first words (with a time before them)."""
    start = norm(item.body)[:PROBE]
    return bool(start) and start in norm(item.headline)


def _richer(html: str, structured: str) -> bool:
    return len(html.split()) >= len(structured.split())


def _extends(html: str, structured: str) -> bool:
    """The HTML's text is the structured one's and more: the structured one was cut."""
    a, b = norm(html), norm(structured).rstrip(".… ")
    return len(a) > len(b) and a.startswith(b)


def _match(items: Sequence[Item], html: Sequence[Entry]) -> dict[int, int]:
    """item index -> HTML entry index: the same id (`48` is `48_parent`), else the same
    start of text, else the same headline."""
    indexes: list[dict[str | None, int]] = [{}, {}, {}, {}]
    for j, e in enumerate(html):
        for index, value in zip(indexes, _handles(e.key, e.body, e.title), strict=True):
            if value:
                index.setdefault(value, j)
    out: dict[int, int] = {}
    taken: set[int] = set()
    for n, item in enumerate(items):
        for index, value in zip(indexes, _handles(item.key, item.body, item.headline), strict=True):
            found = index.get(value) if value else None
            if found is not None and found not in taken:
                out[n] = found
                taken.add(found)
                break
    return out


def _handles(key: str | None, body: str, title: str) -> tuple[str | None, ...]:
    """What an entry is known by, surest first: its id, the number in its id, the start
    of its text (link targets aside: JSON-LD has none), its headline."""
    digits = max(_DIGITS.findall(key), key=len, default=None) if key else None
    probe = norm(_LINK_TARGET.sub("", body))[:PROBE]
    return (
        key,
        digits if digits and len(digits) >= 2 else None,
        probe if len(probe) >= PROBE // 2 else None,
        norm(title) or None,
    )


_DIGITS = re.compile(r"\d+")
_LINK_TARGET = re.compile(r" \(https?://[^\s)]*\)")


def norm(text: str) -> str:
    """Text compared loosely: format characters (zero-width spaces) gone, spaces folded."""
    if not text.isascii():
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split()).casefold()


# Items without markup ----------------------------------------------------------------


def locate(tree: LexborHTMLParser, items: Sequence[Item]) -> dict[int, LexborNode]:
    """The elements that hold the items' text, on a page whose entries have no markup of
    their own (obfuscated classes, no ids): each item's text is found in the page's
    text, and its element is the largest around it that holds no other item's text."""
    if tree.body is None:
        return {}
    starts: list[int] = []
    nodes: list[LexborNode] = []
    chunks: list[str] = []
    at = 0
    for node in tree.body.traverse(include_text=True):
        if not node.is_text_node or node.parent is None or node.parent.tag in _INVISIBLE:
            continue
        chunk = norm(node.text_content or "")
        if chunk:
            starts.append(at)
            nodes.append(node.parent)
            chunks.append(chunk)
            at += len(chunk) + 1
    text = " ".join(chunks)
    anchors: dict[int, LexborNode] = {}
    for n, item in enumerate(items):
        probe = norm(item.body)[:PROBE]
        found = text.find(probe) if len(probe) >= PROBE // 2 else -1
        if found >= 0:
            anchors[n] = nodes[bisect_right(starts, found) - 1]
    if len(anchors) < 2:
        return {}
    chains = {n: _ancestors(a) for n, a in anchors.items()}
    shared = Counter(node.mem_id for chain in chains.values() for node in chain)
    out = {}
    for n, chain in chains.items():
        own = [node for node in chain if shared[node.mem_id] == 1]
        if own:
            out[n] = own[-1]
    return out


_INVISIBLE = frozenset(("script", "style", "noscript", "template", "title", "head"))


def _ancestors(node: LexborNode) -> list[LexborNode]:
    """`node` and its ancestors up to <body>, nearest first."""
    chain = []
    current: LexborNode | None = node
    while current is not None and current.tag not in ("body", "html", None):
        chain.append(current)
        current = current.parent
    return chain
